import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../core/config.ts';
import type { Decision } from '../../core/decision.ts';
import { decide } from '../../core/policy.ts';
import {
  EMPTY_MEMORY,
  type GraceRecord,
  type PolicyMemory,
} from '../../core/records.ts';
import type { Observation, Worker } from '../../core/worker.ts';

const HOST = 'web-1';
const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);
const MB = 1024;

function worker(pid: number, privateMb: number, extra: Partial<Worker> = {}) {
  const base: Worker = {
    identity: { host: HOST, pid, startTime: 1000 + pid },
    app: { group: '/data/shop/current (production)' },
    kind: 'ruby',
    era: '6.0.8+',
    memory: { privateDirtyKb: privateMb * MB, swapKb: 0, rssKb: null },
    inPool: true,
    startedAtMs: T0 - 3_600_000,
  };
  return { ...base, ...extra };
}

function observe(workers: Worker[], at = T0, poolKnown = true): Observation {
  return { host: HOST, at, workers, poolKnown };
}

function recordFor(w: Worker, deadline: number): GraceRecord {
  return {
    identity: w.identity,
    app: w.app.group,
    cause: 'memory',
    action: { type: 'detach' },
    markedAt: deadline - 30_000,
    deadline,
    memoryKb: w.memory.privateDirtyKb,
    limitKb: 100 * MB,
    measure: 'private',
  };
}

function run(options: {
  workers: Worker[];
  records?: GraceRecord[];
  config?: unknown;
  now?: number;
  memory?: PolicyMemory;
  poolKnown?: boolean;
}) {
  return decide({
    observations: [observe(options.workers, options.now, options.poolKnown)],
    openRecords: options.records ?? [],
    config: loadConfig(options.config ?? { defaults: { limitMb: 100 } }),
    memory: options.memory ?? EMPTY_MEMORY,
    now: options.now ?? T0,
  });
}

const summary = (decisions: Decision[]) =>
  decisions.map((d) => {
    const pid = 'worker' in d && d.worker ? d.worker.identity.pid : undefined;
    const id = pid ?? ('record' in d ? d.record.identity.pid : '?');
    return d.type === 'skip' ? `skip:${d.cause}:${id}` : `${d.type}:${id}`;
  });

describe('policy', () => {
  describe('decide: memory limit', () => {
    it('marks a worker over the limit with a detach and a deadline', () => {
      const { decisions } = run({ workers: [worker(1, 150), worker(2, 50)] });
      assert.deepEqual(summary(decisions), ['graceful:1']);
      const [first] = decisions;
      assert.equal(first?.type, 'graceful');
      if (first?.type !== 'graceful') return;
      assert.deepEqual(first.record.action, { type: 'detach' });
      assert.equal(first.record.deadline, T0 + 30_000);
      assert.match(first.reason, /150 MB over the 100 MB limit/);
    });

    it('leaves a worker exactly at the limit alone', () => {
      assert.deepEqual(run({ workers: [worker(1, 100)] }).decisions, []);
    });

    it('never acts on a worker whose memory is unknown', () => {
      const unknown = worker(1, 0, {
        memory: { privateDirtyKb: null, swapKb: null, rssKb: null },
      });
      assert.deepEqual(run({ workers: [unknown] }).decisions, []);
    });

    it('counts swap only with the private+swap measure', () => {
      const swapped = worker(1, 80, {
        memory: { privateDirtyKb: 80 * MB, swapKb: 40 * MB, rssKb: null },
      });
      assert.deepEqual(summary(run({ workers: [swapped] }).decisions), []);
      const config = { defaults: { limitMb: 100, measure: 'private+swap' } };
      const { decisions } = run({ workers: [swapped], config });
      assert.deepEqual(summary(decisions), ['graceful:1']);
    });

    it('waits for sustained samples before acting', () => {
      const config = { defaults: { limitMb: 100, sustainedSamples: 3 } };
      let memory = EMPTY_MEMORY;
      const seen: string[][] = [];
      for (let i = 0; i < 3; i++) {
        const result = run({ workers: [worker(1, 150)], config, memory });
        memory = result.memory;
        seen.push(summary(result.decisions));
      }
      assert.deepEqual(seen, [
        ['skip:not-sustained:1'],
        ['skip:not-sustained:1'],
        ['graceful:1'],
      ]);
    });

    it('resets the streak when a sample is under the limit', () => {
      const config = { defaults: { limitMb: 100, sustainedSamples: 2 } };
      const first = run({ workers: [worker(1, 150)], config });
      const dip = run({
        workers: [worker(1, 90)],
        config,
        memory: first.memory,
      });
      const again = run({
        workers: [worker(1, 150)],
        config,
        memory: dip.memory,
      });
      assert.deepEqual(summary(again.decisions), ['skip:not-sustained:1']);
    });

    it('keeps one worker per app and host in grace, biggest first', () => {
      const { decisions } = run({
        workers: [worker(1, 150), worker(2, 300), worker(3, 200)],
      });
      assert.deepEqual(summary(decisions), [
        'graceful:2',
        'skip:budget:3',
        'skip:budget:1',
      ]);
    });

    it('counts workers already in grace against the budget', () => {
      const marked = worker(9, 120);
      const { decisions } = run({
        workers: [marked, worker(1, 150)],
        records: [recordFor(marked, T0 + 10_000)],
      });
      assert.deepEqual(summary(decisions), ['skip:budget:1']);
    });

    it('gives each app its own budget', () => {
      const blog = { group: '/data/blog/current (production)' };
      const { decisions } = run({
        workers: [worker(1, 150), worker(2, 160, { app: blog })],
      });
      assert.deepEqual(summary(decisions).sort(), ['graceful:1', 'graceful:2']);
    });

    it('keeps the floor of live workers', () => {
      const config = { defaults: { limitMb: 100, minLiveWorkers: 2 } };
      const { decisions } = run({
        workers: [worker(1, 150), worker(2, 50)],
        config,
      });
      assert.deepEqual(summary(decisions), ['skip:floor:1']);
    });

    it('only logs what it would do in a dry run', () => {
      const config = { defaults: { limitMb: 100 }, dryRun: true };
      const { decisions } = run({ workers: [worker(1, 150)], config });
      assert.deepEqual(summary(decisions), ['skip:dry-run:1']);
    });

    it('uses the app entry over the defaults and ignores unlisted apps', () => {
      const config = {
        defaults: { limitMb: 100 },
        apps: { blog: { limitMb: 500 } },
        unlistedApps: 'ignore' as const,
      };
      const blog = { group: '/data/blog/current (production)' };
      const { decisions } = run({
        workers: [worker(1, 400, { app: blog }), worker(2, 900)],
        config,
      });
      assert.deepEqual(decisions, []);
    });

    it('never sends USR1 to a Node worker, even when asked', () => {
      const config = {
        defaults: { limitMb: 100, gracefulAction: 'signal:USR1' },
      };
      const node = worker(1, 150, { kind: 'node', era: '4' });
      const { decisions } = run({ workers: [node], config });
      assert.deepEqual(summary(decisions), ['skip:no-graceful-action:1']);
    });

    it('sends USR1 to a Passenger 4.0.20 Ruby worker, which has no detach', () => {
      const old = worker(1, 150, { era: '4', passengerVersion: '4.0.20' });
      const [decision] = run({ workers: [old] }).decisions;
      assert.equal(decision?.type, 'graceful');
      if (decision?.type !== 'graceful') return;
      assert.deepEqual(decision.record.action, {
        type: 'signal',
        signal: 'USR1',
      });
    });

    it('leaves a worker Passenger has already detached alone', () => {
      const leaving = worker(1, 150, { detached: true });
      assert.deepEqual(run({ workers: [leaving] }).decisions, []);
    });
  });

  describe('decide: grace records at chosen times', () => {
    const marked = worker(1, 150);
    const deadline = T0 + 30_000;
    const cases: [string, number, Worker[], string[]][] = [
      ['before the deadline: waits', deadline - 1, [marked], []],
      ['at the deadline: force-kills', deadline, [marked], ['force-kill:1']],
      [
        'after the deadline: force-kills',
        deadline + 5_000,
        [marked],
        ['force-kill:1'],
      ],
      ['gone before the deadline: closes', deadline - 1, [], ['gone:1']],
      ['gone after the deadline: closes', deadline + 1, [], ['gone:1']],
      [
        'pid reused by another process: closes the record, never kills',
        deadline + 1,
        [worker(1, 150, { identity: { host: HOST, pid: 1, startTime: 9 } })],
        ['gone:1'],
      ],
    ];
    for (const [title, now, workers, expected] of cases) {
      it(title, () => {
        const { decisions } = run({
          workers,
          now,
          records: [recordFor(marked, deadline)],
        });
        assert.deepEqual(
          summary(decisions).filter((s) => !s.startsWith('graceful')),
          expected,
        );
      });
    }

    it('force-kills a marked worker back under the limit (as the cron script)', () => {
      const shrunk = worker(1, 50);
      const { decisions } = run({
        workers: [shrunk],
        now: deadline,
        records: [recordFor(marked, deadline)],
      });
      assert.deepEqual(summary(decisions), ['force-kill:1']);
    });

    it('un-marks it instead when unmarkWhenBelow is on', () => {
      const shrunk = worker(1, 50);
      const config = { defaults: { limitMb: 100, unmarkWhenBelow: true } };
      const { decisions } = run({
        workers: [shrunk],
        now: deadline - 1,
        config,
        records: [recordFor(marked, deadline)],
      });
      assert.deepEqual(summary(decisions), ['unmark:1']);
    });

    it('force-kills on a host not observed, leaving the check to the host', () => {
      const { decisions } = decide({
        observations: [],
        openRecords: [recordFor(marked, deadline)],
        config: loadConfig({}),
        memory: EMPTY_MEMORY,
        now: deadline + 1,
      });
      assert.deepEqual(summary(decisions), ['force-kill:1']);
      assert.equal(
        decisions[0]?.type === 'force-kill' && decisions[0].worker,
        undefined,
      );
    });
  });

  describe('decide: orphans', () => {
    const orphan = worker(7, 40, { inPool: false });

    it('suspects first, and cleans up after the confirmation gap', () => {
      const first = run({ workers: [orphan] });
      assert.deepEqual(summary(first.decisions), ['skip:orphan-unconfirmed:7']);
      const early = run({
        workers: [orphan],
        now: T0 + 5_999,
        memory: first.memory,
      });
      assert.deepEqual(summary(early.decisions), ['skip:orphan-unconfirmed:7']);
      const later = run({
        workers: [orphan],
        now: T0 + 6_000,
        memory: early.memory,
      });
      assert.deepEqual(summary(later.decisions), ['orphan:7']);
      const [decision] = later.decisions;
      if (decision?.type !== 'orphan') return assert.fail('no orphan decision');
      assert.deepEqual(decision.record.action, {
        type: 'signal',
        signal: 'TERM',
      });
      assert.equal(decision.record.deadline, T0 + 6_000 + 30_000);
    });

    it('forgets a suspect that reappears in the pool', () => {
      const first = run({ workers: [orphan] });
      const back = run({
        workers: [{ ...orphan, inPool: true }],
        now: T0 + 7_000,
        memory: first.memory,
      });
      assert.deepEqual(back.memory.orphanSuspects, {});
      assert.deepEqual(back.decisions, []);
    });

    it('never calls a young worker an orphan', () => {
      const young = { ...orphan, startedAtMs: T0 - 10_000 };
      const memory = {
        overLimitStreaks: {},
        orphanSuspects: { [`${HOST}/7/1007`]: T0 - 60_000 },
      };
      const { decisions } = run({ workers: [young], memory });
      assert.deepEqual(summary(decisions), ['skip:orphan-too-young:7']);
    });

    it('neither confirms nor forgets while the pool cannot be read', () => {
      const memory = {
        overLimitStreaks: {},
        orphanSuspects: { [`${HOST}/7/1007`]: T0 - 60_000 },
      };
      const unknown = { ...orphan, inPool: undefined };
      const result = run({ workers: [unknown], memory, poolKnown: false });
      assert.deepEqual(result.decisions, []);
      assert.deepEqual(result.memory.orphanSuspects, memory.orphanSuspects);
    });

    it('does nothing when orphan cleanup is off', () => {
      const config = { orphans: { enabled: false } };
      assert.deepEqual(run({ workers: [orphan], config }).decisions, []);
    });
  });
});
