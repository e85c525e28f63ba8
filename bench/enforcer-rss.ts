/**
 * The resident memory of the enforcer daemon as it would run in
 * production: the built JavaScript (not tsx), sampling the host, its
 * VmRSS read from /proc every 250 ms and the largest value kept.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync, chmodSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { runCommand } from '../test/e2e/support/command.ts';
import { PROJECT_ROOT } from '../test/e2e/support/cli.ts';
import { isRunning, readResidentKb } from '../test/e2e/support/procfs.ts';
import { sleep, waitFor } from '../test/e2e/support/wait.ts';

export interface EnforcerRssResult {
  readonly maxRssMb: number;
  readonly readings: number;
  readonly durationMs: number;
  readonly intervalSeconds: number;
  /** Decision and event lines the daemon printed meanwhile. */
  readonly linesPrinted: number;
}

const BUILT_CLI = join(PROJECT_ROOT, 'dist/agent/cli/main.js');
const SOURCE_DIRS = ['core', 'agent'];
const BUILD_TIMEOUT_MS = 180_000;
const RUN_MS = 20_000;
const READ_EVERY_MS = 250;
const SAMPLE_INTERVAL_SECONDS = 2;
const STOP_TIMEOUT_MS = 10_000;

/**
 * Builds dist/ when it is missing or older than a source file. 'stale'
 * means the build could not replace an old dist/, which is then measured.
 */
export async function ensureBuilt(): Promise<'fresh' | 'built' | 'stale'> {
  const builtAtMs = existsSync(BUILT_CLI) ? statSync(BUILT_CLI).mtimeMs : 0;
  if (builtAtMs > 0 && !sourcesNewerThan(builtAtMs)) return 'fresh';
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = await runCommand(
    process.execPath,
    [tsc, '-p', 'tsconfig.build.json'],
    { timeoutMs: BUILD_TIMEOUT_MS, cwd: PROJECT_ROOT },
  );
  // tsc still emits when the types have errors; what matters is the file
  if (!existsSync(BUILT_CLI) || result.timedOut) {
    throw new Error(
      `tsc -p tsconfig.build.json did not produce ${BUILT_CLI}: ` +
        (result.stdout + result.stderr).trim().slice(0, 500),
    );
  }
  return statSync(BUILT_CLI).mtimeMs > builtAtMs ? 'built' : 'stale';
}

function sourcesNewerThan(builtAtMs: number): boolean {
  for (const dir of SOURCE_DIRS) {
    const files = readdirSync(join(PROJECT_ROOT, dir), { recursive: true });
    for (const file of files) {
      const name = String(file);
      if (!name.endsWith('.ts')) continue;
      if (statSync(join(PROJECT_ROOT, dir, name)).mtimeMs > builtAtMs) {
        return true;
      }
    }
  }
  return false;
}

/** Runs `enforce fleetapp -l 10000 -w 30` as a daemon for about 20 s. */
export async function benchEnforcerRss(): Promise<EnforcerRssResult> {
  const stateDir = await mkdtemp(join(tmpdir(), 'pfleet-bench-'));
  // Run as installed: the file itself, so that its shebang's node flags
  // (the memory-saving ones) apply.
  chmodSync(BUILT_CLI, 0o755);
  const daemon = spawn(
    BUILT_CLI,
    [
      'enforce',
      'fleetapp',
      '-l',
      '10000',
      '-w',
      '30',
      '--interval',
      String(SAMPLE_INTERVAL_SECONDS),
      '--state',
      join(stateDir, 'state.db'),
    ],
    { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let linesPrinted = 0;
  let stderr = '';
  daemon.stdout.on('data', (chunk: Buffer) => {
    linesPrinted += chunk.toString('utf8').split('\n').length - 1;
  });
  daemon.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    daemon.once('exit', (code) => resolve(code)),
  );
  const pid = daemon.pid;
  try {
    if (pid === undefined) throw new Error('the enforcer daemon did not start');
    let maxKb = 0;
    let readings = 0;
    const started = performance.now();
    for (let i = 0; i < RUN_MS / READ_EVERY_MS; i++) {
      const kb = readResidentKb(pid);
      if (kb === undefined) {
        throw new Error(
          `the enforcer daemon exited early (code ${daemon.exitCode}): ` +
            stderr.trim().slice(0, 500),
        );
      }
      maxKb = Math.max(maxKb, kb);
      readings++;
      await sleep(READ_EVERY_MS);
    }
    return {
      maxRssMb: Math.round((maxKb / 1024) * 10) / 10,
      readings,
      durationMs: Math.round(performance.now() - started),
      intervalSeconds: SAMPLE_INTERVAL_SECONDS,
      linesPrinted,
    };
  } finally {
    await stopDaemon(daemon.pid, exited);
    await rm(stateDir, { recursive: true, force: true });
  }
}

/** SIGTERM (the daemon's way out), then SIGKILL if it does not leave. */
async function stopDaemon(
  pid: number | undefined,
  exited: Promise<number | null>,
): Promise<void> {
  if (pid === undefined || !isRunning(pid)) return;
  process.kill(pid, 'SIGTERM');
  const left = await Promise.race([
    exited.then(() => true),
    sleep(STOP_TIMEOUT_MS),
  ]);
  if (left === true) return;
  process.kill(pid, 'SIGKILL');
  await waitFor(
    'the enforcer daemon to exit after SIGKILL',
    () => (isRunning(pid) ? undefined : true),
    { timeoutMs: 5_000, intervalMs: 50 },
  );
}
