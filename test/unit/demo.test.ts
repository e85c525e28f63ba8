/**
 * Runs the demo itself, as `npm start -- --json` would, on a short story:
 * real titled processes, the real enforcer, the stand-in tools. Then
 * checks the verdict and that no process the demo started is left.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = 'agent/demo/main.ts';
/** The shortest story the demo accepts: about 12 s with its deadlines. */
const DURATION_S = 10;
const RUN_LIMIT_MS = 60_000;

interface DemoRun {
  readonly code: number | null;
  readonly lines: string[];
  readonly stderr: string;
}

/** Runs the demo; `onLine` may act on each stdout line as it comes. */
function runDemo(
  args: readonly string[],
  onLine: (line: string, pid: number) => void = () => {},
): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let pending = '';
    let stderr = '';
    const limit = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the demo ran longer than ${RUN_LIMIT_MS} ms`));
    }, RUN_LIMIT_MS);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const complete = pending.split('\n');
      pending = complete.pop() ?? '';
      for (const line of complete) {
        lines.push(line);
        if (child.pid !== undefined) onLine(line, child.pid);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(limit);
      if (pending !== '') lines.push(pending);
      resolve({ code, lines, stderr });
    });
  });
}

function lastObject(run: DemoRun): Record<string, unknown> {
  const last = run.lines.filter((line) => line.trim() !== '').at(-1);
  assert.ok(last, `the demo printed nothing; stderr: ${run.stderr}`);
  return JSON.parse(last) as Record<string, unknown>;
}

/** Pids from the summary that still run a simulated Passenger title. */
function leftRunning(summary: Record<string, unknown>): number[] {
  const pids = summary.startedPids;
  assert.ok(Array.isArray(pids), 'the summary lists startedPids');
  return pids.filter((pid: number) => {
    try {
      // A pid the kernel has handed to someone else since does not count.
      const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return title.startsWith('Passenger');
    } catch {
      return false;
    }
  });
}

describe('npm start -- --json', () => {
  it('detaches, SIGKILLs the frozen one, wrongs none', async () => {
    // Act
    const run = await runDemo(['--duration', String(DURATION_S), '--json']);

    // Assess
    const summary = lastObject(run);
    assert.equal(summary.event, 'summary');
    assert.equal(summary.tools, 'stand-in');
    assert.equal(summary.wrongKills, 0, JSON.stringify(summary.problems));
    assert.ok(Number(summary.graceful) >= 1, 'at least one graceful action');
    assert.ok(Number(summary.forced) >= 1, 'the frozen worker is SIGKILLed');
    assert.equal(typeof summary.refused, 'number');
    assert.ok(Number(summary.replaced) >= 2, 'dead workers were replaced');
    assert.equal(
      summary.observedSignalDeaths,
      summary.forced,
      'every signal death the host saw is a forced kill the enforcer logged',
    );
    assert.equal(summary.interrupted, false);
    assert.ok(Number(summary.durationS) < DURATION_S + 15);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(
      (summary.startedPids as number[]).length >= 9,
      'three never-touch processes and six workers at least',
    );
    assert.deepEqual(leftRunning(summary), []);
    // Every line before the summary is JSON too.
    for (const line of run.lines.filter((l) => l.trim() !== '')) {
      assert.doesNotThrow(() => JSON.parse(line), line);
    }
  });

  it('cleans up after SIGINT and says it was interrupted', async () => {
    // Act: interrupt once the host is up and the first pass has run.
    let sent = false;
    const run = await runDemo(
      ['--duration', '60', '--json'],
      (line, demoPid) => {
        if (sent || !line.includes('"event":"start"')) return;
        sent = true;
        setTimeout(() => process.kill(demoPid, 'SIGINT'), 3_000);
      },
    );

    // Assess
    const summary = lastObject(run);
    assert.ok(sent, 'the demo announced its start');
    assert.equal(summary.event, 'summary');
    assert.equal(summary.interrupted, true);
    assert.equal(summary.wrongKills, 0, JSON.stringify(summary.problems));
    assert.equal(run.code, 130);
    assert.deepEqual(leftRunning(summary), []);
  });
});
