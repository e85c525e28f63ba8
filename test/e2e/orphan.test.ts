/**
 * An orphan made the way they happen in production: a worker is busy in a
 * long request when the Passenger core dies (SIGKILL here). The watchdog
 * starts a new core, whose pool does not know the busy worker; it lives on
 * with ppid 1. `enforce` must confirm it over two samples, TERM it and
 * touch nothing else.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  describeBystanders,
  recordBystanders,
  touchedBystanders,
} from './support/bystanders.ts';
import { decisionsOf, describeRun, runCli } from './support/cli.ts';
import { findProcesses, isRunning, readStat } from './support/procfs.ts';
import { waitFor } from './support/wait.ts';
import { holdRequest, watchUntilGone } from './support/workers.ts';
import { passengerAvailable, startTestbed, type Testbed } from './testbed.ts';

const availability = passengerAvailable();
const skip = availability.ok
  ? false
  : `needs a real Passenger: ${availability.reason}`;

const ORPHAN_GRACE_SECONDS = 3;
const CLI_TIMEOUT_MS = 60_000;

describe(
  'enforce cleans up an orphaned worker',
  { skip, timeout: 180_000 },
  () => {
    let testbed: Testbed;
    let stateDir: string;

    before(async () => {
      testbed = await startTestbed({ apps: { fleetapp: 2, otherapp: 1 } });
      stateDir = await mkdtemp(join(tmpdir(), 'pfleet-e2e-orphan-'));
    });

    after(async () => {
      await testbed?.stop();
      if (stateDir) await rm(stateDir, { recursive: true, force: true });
    });

    it('TERMs a busy worker that outlived its core, and only that', async () => {
      const held = await holdRequest(testbed, '/busy?s=60', 0);
      const orphan = held.target;
      try {
        // kill the core; the busy worker is re-parented to init
        const [core, ...extraCores] = findProcesses(
          (t) => t === 'Passenger core',
        );
        assert.ok(core !== undefined && extraCores.length === 0, 'one core');
        process.kill(core.pid, 'SIGKILL');
        await waitFor(
          `worker ${orphan.pid} to be re-parented to init`,
          () => (readStat(orphan.pid)?.ppid === 1 ? true : undefined),
          { timeoutMs: 10_000, intervalMs: 50 },
        );
        const newCore = await waitFor(
          'the watchdog to start a new core',
          () => findProcesses((t) => t === 'Passenger core')[0],
          { timeoutMs: 10_000, intervalMs: 100 },
        );
        assert.notEqual(newCore.pid, core.pid);

        // the new core spawns otherapp afresh; it is a bystander
        const reply = await testbed.request('/pid', { app: 'otherapp' });
        assert.equal(reply.status, 200, reply.body);
        const otherPid = Number(reply.body.trim());
        const bystanders = recordBystanders([otherPid]);
        assert.ok(isRunning(orphan.pid, orphan.startTime), 'orphan is alive');
        assert.ok(
          !(await testbed.workers('fleetapp')).includes(orphan.pid),
          'the new core must not list the orphan',
        );

        const run = await runCli(
          [
            'enforce',
            'fleetapp',
            '-l',
            '1000',
            '-w',
            '30',
            '--once',
            '--orphan-min-age',
            '0',
            '--orphan-grace',
            String(ORPHAN_GRACE_SECONDS),
            '--state',
            join(stateDir, 'state.db'),
          ],
          { timeoutMs: CLI_TIMEOUT_MS },
        );

        const lines = decisionsOf(run);
        assert.equal(run.exitCode, 0, describeRun(run));
        // first look: missing from the pool, not yet confirmed; a look
        // 6 s later confirms it; a Ruby worker leaves at once on TERM
        assert.deepEqual(
          lines.map((l) => [l.pid, l.decision, l.action, l.outcome ?? null]),
          [
            [orphan.pid, 'skip', null, null],
            [orphan.pid, 'orphan', 'signal:TERM', 'signalled'],
            [orphan.pid, 'gone', null, 'gone'],
          ],
          describeRun(run),
        );
        assert.match(lines[0]?.reason ?? '', /not in Passenger's pool/);
        assert.equal(lines[1]?.startTime, orphan.startTime);
        await watchUntilGone(orphan, 2_000);
        const touched = touchedBystanders(bystanders);
        assert.deepEqual(touched, [], describeBystanders(touched));
      } finally {
        held.abort();
      }
    });
  },
);
