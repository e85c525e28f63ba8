/**
 * Pid reuse, for real: in a pid namespace of our own a victim exits and a
 * successor with the same title, app and owner is steered onto its pid
 * (support/pid-reuse-scenario.ts). An order naming the victim must leave
 * the successor alive, whichever way it reaches the host.
 *
 * Needs root and util-linux `unshare`; without them the file skips with
 * one line saying why.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ReuseCase } from './support/pid-reuse-scenario.ts';
import { SafetyTally } from './support/tally.ts';

const tally = new SafetyTally(import.meta.url);
const SCENARIO = fileURLToPath(
  new URL('./support/pid-reuse-scenario.ts', import.meta.url),
);
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const UNSHARE = ['--pid', '--fork', '--mount-proc'];

/** Why a pid namespace cannot be made here, or undefined when it can. */
function namespaceUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) {
    return 'pid reuse needs root to create a pid namespace';
  }
  const probe = spawnSync('unshare', [...UNSHARE, 'true'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (probe.error !== undefined) {
    return `unshare (util-linux) cannot run: ${probe.error.message}`;
  }
  if (probe.status !== 0) {
    return `unshare ${UNSHARE.join(' ')} failed: ${probe.stderr.trim()}`;
  }
  return undefined;
}

const unavailable = namespaceUnavailable();
if (unavailable !== undefined)
  console.log(`# pid reuse skipped: ${unavailable}`);

describe('pid reuse between the observation and the forced kill', () => {
  it(
    'never signals the successor that took the pid',
    { skip: unavailable ?? false, timeout: 120_000 },
    () => {
      const run = spawnSync(
        'unshare',
        [...UNSHARE, process.execPath, '--import', 'tsx', SCENARIO],
        { cwd: REPO_ROOT, encoding: 'utf8', timeout: 110_000 },
      );
      assert.equal(run.status, 0, `scenario failed: ${run.stderr}`);
      const line = run.stdout.trim().split('\n').at(-1) ?? '';
      const { cases } = JSON.parse(line) as { cases: ReuseCase[] };
      assert.equal(cases.length, 3);

      for (const reuse of cases) {
        const what = `${reuse.name}: pid ${reuse.pid}`;
        // the namespace really handed the pid to a different process
        assert.notEqual(reuse.successorStart, reuse.victimStart, what);
        tally.expectNoWrongKill(
          reuse.successorAlive && reuse.signalsToPid === 0,
          `${what} (successor alive: ${reuse.successorAlive}, ` +
            `signals: ${reuse.signalsToPid}, outcome ${reuse.status}: ` +
            `${reuse.reason})`,
        );
        assert.equal(reuse.status, 'gone', `${what}: ${reuse.reason}`);
        assert.match(
          reuse.reason,
          /belongs to another process|has exited/,
          what,
        );
        tally.tried();
      }
    },
  );
});
