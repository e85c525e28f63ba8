/**
 * The collector's figures against Passenger's own tool: on idle workers,
 * `passenger-fleet workers --json` and `passenger-memory-stats` run back
 * to back must list the same app workers with the same Private figure to
 * 0.1 MB. Workers of all four kinds are there, two of them bloated so
 * that the figures are not all alike.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { describeRun, runCli, type CliRun } from './support/cli.ts';
import { runMemoryStats } from './support/memory-stats.ts';
import { bloatIdleWorker, waitForQuietMemory } from './support/workers.ts';
import { readPrivateDirtyKb } from './support/procfs.ts';
import {
  passengerAvailable,
  startTestbed,
  type AppName,
  type Testbed,
} from './testbed.ts';

const availability = passengerAvailable();
const skip = availability.ok
  ? false
  : `needs a real Passenger: ${availability.reason}`;

const APPS: Record<AppName, number> = {
  fleetapp: 2,
  otherapp: 1,
  nodeapp: 1,
  pyapp: 1,
};
const EXPECTED_KINDS: Record<AppName, string> = {
  fleetapp: 'ruby',
  otherapp: 'ruby',
  nodeapp: 'node',
  pyapp: 'python',
};

function expectedWorkers(): number {
  return Object.values(APPS).reduce((sum, count) => sum + count, 0);
}

async function poolPids(testbed: Testbed): Promise<number[]> {
  const pids: number[] = [];
  for (const app of Object.keys(APPS) as AppName[]) {
    pids.push(...(await testbed.workers(app)));
  }
  return pids.sort((a, b) => a - b);
}

/**
 * `workers --json`, then passenger-memory-stats at once. An idle Node
 * worker still collects garbage now and then, so the pair counts only if
 * no worker's Private_Dirty moved from before the one to after the other;
 * otherwise it is taken again, at most three times.
 */
async function lookBackToBack(pids: readonly number[]) {
  const figures = () => pids.map((pid) => readPrivateDirtyKb(pid)).join(',');
  for (let attempt = 1; attempt <= 3; attempt++) {
    await waitForQuietMemory(pids);
    const before = figures();
    const run = await runCli(['workers', '--json'], { timeoutMs: 30_000 });
    const stats = await runMemoryStats();
    assert.equal(run.exitCode, 0, describeRun(run));
    if (figures() === before) return { run, stats };
  }
  throw new Error(
    `the workers' memory moved during each of 3 looks: ${figures()}`,
  );
}

function parseRows(run: CliRun): WorkerRow[] {
  const text = run.lines.map((line) => line.text).join('');
  return JSON.parse(text) as WorkerRow[];
}

function sortedPids(rows: readonly { pid: number }[]): number[] {
  return rows.map((row) => row.pid).sort((a, b) => a - b);
}

interface WorkerRow {
  readonly pid: number;
  readonly startTime: number | null;
  readonly app: string | null;
  readonly kind: string;
  readonly privateMb: number | null;
  readonly role: string;
  readonly inPool: boolean | null;
}

describe(
  'the collector on a real Passenger',
  { skip, timeout: 180_000 },
  () => {
    let testbed: Testbed;

    before(async () => {
      testbed = await startTestbed({ apps: APPS });
    });

    after(async () => {
      await testbed?.stop();
    });

    it('gives the figures passenger-memory-stats gives, per pid', async () => {
      await bloatIdleWorker(testbed, 40, 'fleetapp');
      await bloatIdleWorker(testbed, 25, 'pyapp');
      // other titled processes may share a dev host: judge the pool's own
      const pids = await poolPids(testbed);
      assert.equal(pids.length, expectedWorkers());

      const { run, stats } = await lookBackToBack(pids);

      const rows = parseRows(run).filter((row) => pids.includes(row.pid));
      const printed = stats.filter((row) => pids.includes(row.pid));
      assert.deepEqual(sortedPids(rows), pids, 'the collector lists them all');
      assert.deepEqual(sortedPids(printed), pids, 'so does memory-stats');
      for (const row of rows) {
        const figure = printed.find((p) => p.pid === row.pid)?.privateMb;
        assert.equal(row.role, 'app-worker');
        assert.equal(row.inPool, true, `pid ${row.pid} in the pool`);
        assert.ok(typeof figure === 'number', `pid ${row.pid}: no figure`);
        assert.ok(typeof row.privateMb === 'number', `pid ${row.pid}: none`);
        assert.ok(
          Math.abs(row.privateMb - figure) <= 0.1 + 1e-9,
          `pid ${row.pid} (${row.app}): collector ${row.privateMb} MB, ` +
            `passenger-memory-stats ${figure} MB`,
        );
      }
      assert.ok(
        rows.some((row) => (row.privateMb ?? 0) >= 40),
        'the bloated fleetapp worker is seen',
      );
    });

    it('names each worker by its app and kind', async () => {
      const run = await runCli(['workers', '--json'], { timeoutMs: 30_000 });
      assert.equal(run.exitCode, 0, describeRun(run));
      const rows = parseRows(run);
      for (const name of Object.keys(APPS) as AppName[]) {
        const pids = (await testbed.workers(name)).sort((a, b) => a - b);
        const deployDir = testbed.apps[name]?.deployDir ?? '?';
        const seen = rows.filter(
          (row) =>
            row.role === 'app-worker' && row.app?.startsWith(`${deployDir}/`),
        );
        assert.deepEqual(sortedPids(seen), pids, `${name} workers`);
        for (const row of seen) {
          assert.equal(row.kind, EXPECTED_KINDS[name], `${name} kind`);
        }
      }
    });
  },
);
