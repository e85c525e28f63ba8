/**
 * `passenger-fleet enforce --once` against a real Passenger: bloated
 * workers leave gracefully, busy ones finish their request first, frozen
 * ones are SIGKILLed at their deadline, and nothing else is touched.
 *
 * The test bed keeps 3 fleetapp workers, 2 otherapp workers, a Node and a
 * Python worker. Each scenario waits for that pool to be steady, records
 * every bystander (Passenger's own processes, Apache's, and every worker
 * but the target), runs the CLI, and checks the bystanders afterwards.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';

import {
  describeBystanders,
  recordBystanders,
  touchedBystanders,
  type Bystander,
} from './support/bystanders.ts';
import {
  decisionsOf,
  describeRun,
  runCli,
  type CliRun,
  type DecisionLine,
} from './support/cli.ts';
import { isRunning } from './support/procfs.ts';
import { sleep } from './support/wait.ts';
import {
  bloatIdleWorker,
  detachWorker,
  holdRequest,
  waitForSteadyPool,
  watchUntilGone,
  type Target,
} from './support/workers.ts';
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

const FLEET_WORKERS = 3;
const BYSTANDER_APPS: readonly AppName[] = ['otherapp', 'nodeapp', 'pyapp'];
const LIMIT_MB = 100;
const BLOAT_MB = 150;
const CLI_TIMEOUT_MS = 60_000;
/**
 * Long enough for the CLI to start under tsx, sample and detach while the
 * request is still running, even on a loaded two-core machine.
 */

describe('enforce against a real Passenger', { skip, timeout: 240_000 }, () => {
  let testbed: Testbed;
  const fleetRoot = (): string => {
    const root = testbed.apps.fleetapp?.root;
    if (root === undefined) throw new Error('the test bed has no fleetapp');
    return root;
  };
  let stateDir: string;
  let fleetPids: number[];
  let bystanders: Bystander[];
  let runs = 0;

  before(async () => {
    testbed = await startTestbed({
      apps: { fleetapp: FLEET_WORKERS, otherapp: 2, nodeapp: 1, pyapp: 1 },
    });
    stateDir = await mkdtemp(join(tmpdir(), 'pfleet-e2e-state-'));
  });

  after(async () => {
    await testbed?.stop();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    fleetPids = await waitForSteadyPool(testbed, 'fleetapp', FLEET_WORKERS);
  });

  /** Every worker but the target, and Passenger's and Apache's processes. */
  async function recordAllBut(target: Target): Promise<void> {
    const others: number[] = [];
    for (const app of BYSTANDER_APPS) {
      others.push(...(await testbed.workers(app)));
    }
    const fleetOthers = fleetPids.filter((pid) => pid !== target.pid);
    assert.equal(fleetOthers.length, FLEET_WORKERS - 1);
    bystanders = recordBystanders([...others, ...fleetOthers]);
  }

  function assertBystandersUntouched(): void {
    const touched = touchedBystanders(bystanders);
    assert.deepEqual(
      touched,
      [],
      `bystanders gone or replaced: ${describeBystanders(touched)}`,
    );
  }

  function enforce(
    extra: readonly string[],
    onLine?: (line: DecisionLine, arrivedAt: number) => void,
  ): Promise<CliRun> {
    runs++;
    const args = [
      'enforce',
      'fleetapp',
      '-l',
      String(LIMIT_MB),
      '--once',
      '--state',
      join(stateDir, `run-${runs}.db`),
      ...extra,
    ];
    return runCli(args, {
      timeoutMs: CLI_TIMEOUT_MS,
      onLine: (line) => {
        const json = line.json;
        if (json && typeof json.decision === 'string') {
          onLine?.(json as unknown as DecisionLine, line.arrivedAt);
        }
      },
    });
  }

  it('in dry run, decides on a bloated worker but leaves it running', async () => {
    const target = await bloatIdleWorker(testbed, BLOAT_MB);
    await recordAllBut(target);

    const run = await enforce(['-w', '3', '--dry-run']);

    const lines = decisionsOf(run);
    assert.equal(run.exitCode, 0, describeRun(run));
    assert.deepEqual(
      lines.map((l) => [l.pid, l.decision, l.outcome ?? null]),
      [[target.pid, 'skip', null]],
      describeRun(run),
    );
    assert.match(lines[0]?.reason ?? '', /dry run/);
    assert.ok((lines[0]?.memoryMb ?? 0) > LIMIT_MB, describeRun(run));
    await sleep(500);
    assert.ok(isRunning(target.pid, target.startTime), 'target was touched');
    assertBystandersUntouched();

    // leave no bloated worker for the next scenario
    await detachWorker(target);
    await watchUntilGone(target, 10_000);
  });

  it('detaches a bloated idle worker and Passenger replaces it', async () => {
    const target = await bloatIdleWorker(testbed, BLOAT_MB);
    await recordAllBut(target);

    const run = await enforce(['-w', '10', '--json']);

    const lines = decisionsOf(run);
    assert.equal(run.exitCode, 0, describeRun(run));
    assert.deepEqual(
      lines.map((l) => [l.pid, l.decision, l.action, l.outcome ?? null]),
      [
        [target.pid, 'graceful', 'detach', 'detached'],
        [target.pid, 'gone', null, 'gone'],
      ],
      describeRun(run),
    );
    // --json: the last line sums the run up
    assert.deepEqual(run.lines.at(-1)?.json, {
      graceful: 1,
      forced: 0,
      orphans: 0,
      refused: 0,
      failed: 0,
      skipped: 0,
      gone: 1,
    });
    assert.equal(lines[0]?.startTime, target.startTime);
    assert.equal(lines[0]?.limitMb, LIMIT_MB);
    assert.ok((lines[0]?.memoryMb ?? 0) >= BLOAT_MB, describeRun(run));
    assert.ok(!isRunning(target.pid, target.startTime), 'target still runs');

    const after = await waitForSteadyPool(testbed, 'fleetapp', FLEET_WORKERS);
    const replacements = after.filter((pid) => !fleetPids.includes(pid));
    assert.equal(replacements.length, 1, `pool now: ${after.join(', ')}`);
    assert.deepEqual(
      after.filter((pid) => fleetPids.includes(pid)),
      fleetPids.filter((pid) => pid !== target.pid),
    );
    assertBystandersUntouched();
  });

  it('lets a busy bloated worker finish its request before it goes', async () => {
    // The request lasts until the test releases it, after the detach:
    // a fixed busy time would race the enforcer's start on a slow machine.
    const token = `busy${process.pid}`;
    const release = join(fleetRoot(), `release-${token}`);
    const held = await holdRequest(
      testbed,
      `/hold?mb=${BLOAT_MB}&token=${token}`,
      BLOAT_MB,
    );
    const { target } = held;
    await recordAllBut(target);
    let detachedAt = 0;

    const run = await enforce(['-w', '30'], (line, arrivedAt) => {
      if (line.decision !== 'graceful') return;
      detachedAt = arrivedAt;
      writeFileSync(release, '');
    }).finally(() => writeFileSync(release, ''));
    const reply = await held.settled;

    const lines = decisionsOf(run);
    assert.equal(run.exitCode, 0, describeRun(run));
    assert.deepEqual(
      lines.map((l) => [l.pid, l.decision, l.action, l.outcome ?? null]),
      [
        [target.pid, 'graceful', 'detach', 'detached'],
        [target.pid, 'gone', null, 'gone'],
      ],
      describeRun(run),
    );
    assert.ok('status' in reply, `request failed: ${JSON.stringify(reply)}`);
    assert.equal(reply.status, 200);
    assert.equal(Number(reply.body.trim()), target.pid);
    assert.ok(
      reply.at > detachedAt,
      'the request was answered after the worker was detached',
    );
    assert.ok(!isRunning(target.pid, target.startTime), 'target still runs');
    assertBystandersUntouched();
  });

  it('SIGKILLs a frozen bloated worker within 1 s of its deadline', async () => {
    const graceSeconds = 3;
    const held = await holdRequest(testbed, `/freeze?mb=${BLOAT_MB}`, BLOAT_MB);
    const { target } = held;
    await recordAllBut(target);
    let gracefulAt: number | undefined;

    try {
      const vanished = watchUntilGone(target, CLI_TIMEOUT_MS);
      const run = await enforce(['-w', String(graceSeconds)], (line) => {
        if (line.decision === 'graceful') {
          gracefulAt = Date.parse(line.time ?? '');
        }
      });
      const vanishedAt = await vanished;

      const lines = decisionsOf(run);
      assert.equal(run.exitCode, 0, describeRun(run));
      assert.deepEqual(
        lines.map((l) => [l.pid, l.decision, l.outcome ?? null]),
        [
          [target.pid, 'graceful', 'detached'],
          [target.pid, 'force-kill', 'killed'],
        ],
        describeRun(run),
      );
      assert.equal(lines[1]?.action, 'SIGKILL');
      assert.ok(Number.isFinite(gracefulAt), 'graceful line has no time');
      const afterGraceful = vanishedAt - (gracefulAt as number);
      // The line is written once detach-process has returned, and the
      // core may have detached the worker up to half a second before.
      assert.ok(
        afterGraceful >= graceSeconds * 1000 - 500,
        `killed too early: ${afterGraceful} ms after the graceful action`,
      );
      assert.ok(
        afterGraceful <= graceSeconds * 1000 + 1000,
        `killed too late: ${afterGraceful} ms after the graceful action`,
      );
      assertBystandersUntouched();
    } finally {
      held.abort();
    }
  });
});
