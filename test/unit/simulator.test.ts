import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  encodeOrderParameters,
  type OrderBatch,
} from '../../core/order-codec.ts';
import { parseOutcomeReport } from '../../core/outcome-report.ts';
import { HostSide } from '../../sim/host-side.ts';
import { Ledger } from '../../sim/ledger.ts';
import {
  realController,
  RecordingControllerLog,
} from '../../sim/real-controller.ts';
import {
  runSimulation,
  SIM_EPOCH,
  type ConfigPush,
  type RunOptions,
} from '../../sim/run.ts';
import { DEFAULT_WORLD, World } from '../../sim/world.ts';
import { Scheduler, VirtualClock } from '../../sim/clock.ts';
import { SeededRandom } from '../../sim/random.ts';
import { percentile } from '../../sim/stats.ts';
import { PRICES, pricedInTiers } from '../../sim/prices.ts';

const HOUR_MS = 3_600_000;

/**
 * 20 hosts of 8 workers for 2 virtual hours, with far more trouble than
 * a real fleet has: a third of the workers leak past their limit, a
 * fifth of those are frozen in a request, and a tenth of the graceful
 * steps are followed by an agent restart inside the grace time, so the
 * controller's own force-kill path runs too. SSM delivers 3 % of the
 * commands late and loses 2 %, far more than it does in practice.
 */
const smallFleet = (seed: number): RunOptions => ({
  seed,
  hosts: 20,
  apps: [{ name: 'shop', limitMb: 300, workersPerHost: 8 }],
  durationMs: 2 * HOUR_MS,
  controller: realController(),
  config: {
    defaults: { limitMb: 300, graceSeconds: 30, gracefulAction: 'detach' },
    // The breaker would rightly stop a third of the fleet leaking at
    // once; this run is about the safety of the actions themselves.
    fleet: { breakerPercent: 100 },
  },
  world: { leakShare: 0.35, leakHours: [0.25, 2], frozenShare: 0.2 },
  restartInGraceShare: 0.1,
  delivery: { lateShare: 0.03, lostShare: 0.02 },
});

describe('fleet simulator: a small fleet with frequent trouble', async () => {
  const first = await runSimulation(smallFleet(11));

  it('acts on enough workers for the figures to mean something', () => {
    assert.ok(first.gracefulSteps >= 30, `${first.gracefulSteps} steps`);
    assert.ok(first.killsByHost >= 3, `${first.killsByHost} host kills`);
    assert.ok(
      first.killsByController >= 1,
      `${first.killsByController} kills ordered by the controller`,
    );
    assert.ok(first.usage.agentRestarts >= 1);
  });

  it('kills nothing but marked, same, over-limit workers', () => {
    assert.equal(first.wrongKills, 0, JSON.stringify(first.violations));
    assert.equal(first.earlyKills, 0, JSON.stringify(first.violations));
  });

  it('never acts twice on one worker', () => {
    assert.equal(first.doubleActions, 0, JSON.stringify(first.violations));
  });

  it('has every frozen marked worker gone by its deadline plus a tick', () => {
    assert.ok(first.frozenMarked >= 3, `${first.frozenMarked} frozen marked`);
    assert.equal(first.frozenOverdue, 0);
  });

  it('leaves no worker over its limit unattended', () => {
    assert.equal(first.missedBreaches, 0);
  });

  it('gives the same result for the same seed', async () => {
    const again = await runSimulation(smallFleet(11));

    assert.deepEqual(again, first);
  });

  it('gives another run for another seed', async () => {
    const other = await runSimulation(smallFleet(12));

    assert.notDeepEqual(other.usage, first.usage);
    assert.equal(other.wrongKills, 0, JSON.stringify(other.violations));
    assert.equal(other.doubleActions, 0);
  });
});

const HEALTHY_CONFIG = {
  defaults: { limitMb: 300, graceSeconds: 30, gracefulAction: 'detach' },
  // Every host breaches once the limit is down: this run is about the
  // push reaching everyone, not about the breaker stopping it.
  fleet: { breakerPercent: 100 },
} as const;

/** 10 hosts of 2 workers that never grow past 300 MB: none leaks. */
const pushedFleet = (
  configPushes: readonly ConfigPush[],
  log = new RecordingControllerLog(),
): RunOptions => ({
  seed: 5,
  hosts: 10,
  apps: [{ name: 'shop', limitMb: 300, workersPerHost: 2 }],
  durationMs: HOUR_MS,
  controller: realController(log),
  config: HEALTHY_CONFIG,
  world: { leakShare: 0, nearLimitShare: 0 },
  restartsPerHostDay: 0,
  configPushes,
});

/** The limit pushed down 20 minutes in; every worker settles over 100 MB. */
const lowered = (limitMb: number): ConfigPush => ({
  atMs: 20 * 60_000,
  config: {
    ...HEALTHY_CONFIG,
    defaults: { ...HEALTHY_CONFIG.defaults, limitMb },
  },
  agentsWithinMs: 5 * 60_000,
});

describe('fleet simulator: configuration pushed during the run', () => {
  it('acts on nothing without a push: no worker reaches 300 MB', async () => {
    const report = await runSimulation(pushedFleet([]));

    assert.equal(report.gracefulSteps, 0);
    assert.equal(report.wrongKills, 0, JSON.stringify(report.violations));
  });

  it('reaches the agents, the controller and the judge of the run', async () => {
    const report = await runSimulation(pushedFleet([lowered(100)]));

    // Only agents that took the push up report these workers, and only a
    // controller that read it acts on them.
    assert.ok(report.gracefulSteps >= 20, `${report.gracefulSteps} steps`);
    // Every worker is under 300 MB: judged by the old limit, each step
    // would be a wrong kill.
    assert.equal(report.wrongKills, 0, JSON.stringify(report.violations));
    assert.equal(report.doubleActions, 0);
  });

  it('leaves everyone on the last good configuration when it is refused', async () => {
    const log = new RecordingControllerLog();

    const report = await runSimulation(pushedFleet([lowered(-5)], log));

    assert.equal(report.gracefulSteps, 0);
    const rejected = log.record().metrics.RejectedConfig ?? 0;
    assert.ok(rejected >= 30, `${rejected} ticks rejected the tree`);
  });

  it('lets a later push win over an earlier one agents take up late', async () => {
    const early = { ...lowered(100), agentsWithinMs: 30 * 60_000 };
    const restored: ConfigPush = {
      atMs: 25 * 60_000,
      config: HEALTHY_CONFIG,
      agentsWithinMs: 0,
    };
    const full = await runSimulation(pushedFleet([lowered(100)]));

    const report = await runSimulation(pushedFleet([restored, early]));

    // An agent still taking up the low limit after the restore would
    // report trouble that the controller sends picks for to the end.
    const sent = report.usage.commands.sendCommandCalls;
    const sentFull = full.usage.commands.sendCommandCalls;
    assert.ok(sent * 10 < sentFull, `${sent} commands, ${sentFull} in full`);
    assert.equal(report.wrongKills, 0, JSON.stringify(report.violations));
  });
});

describe('Scheduler', () => {
  it('runs events in time order, same-time ones in the order given', async () => {
    const clock = new VirtualClock(1_000);
    const scheduler = new Scheduler(clock);
    const seen: string[] = [];
    scheduler.at(3_000, () => void seen.push(`b@${clock.now()}`));
    scheduler.at(2_000, () => void seen.push(`a@${clock.now()}`));
    scheduler.at(3_000, () => void seen.push(`c@${clock.now()}`));
    scheduler.at(9_000, () => void seen.push('late'));

    await scheduler.runUntil(5_000);

    assert.deepEqual(seen, ['a@2000', 'b@3000', 'c@3000']);
    assert.equal(clock.now(), 5_000);
    assert.equal(scheduler.pending, 1);
  });

  it('lets a task woken from a virtual sleep act at the instant it woke', async () => {
    const clock = new VirtualClock(0);
    const scheduler = new Scheduler(clock);
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => scheduler.after(ms, resolve));
    const woke: number[] = [];
    const task = async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(250);
        woke.push(clock.now());
      }
    };
    scheduler.at(0, () => void task());
    scheduler.at(600, () => undefined);

    await scheduler.runUntil(2_000);

    assert.deepEqual(woke, [250, 500, 750]);
  });
});

describe('SeededRandom', () => {
  it('repeats its stream for a seed and differs between seeds', () => {
    const draw = (seed: number) => {
      const random = new SeededRandom(seed);
      return Array.from({ length: 5 }, () => random.next());
    };

    assert.deepEqual(draw(5), draw(5));
    assert.notDeepEqual(draw(5), draw(6));
    assert.ok(draw(5).every((x) => x >= 0 && x < 1));
  });
});

describe('percentile', () => {
  const cases: [number[], number, number | null][] = [
    [[], 0.99, null],
    [[7], 0.5, 7],
    [[1, 2, 3, 4], 0.5, 2],
    [[5, 1, 4, 2, 3], 1, 5],
    [Array.from({ length: 100 }, (_, i) => i + 1), 0.99, 99],
  ];
  for (const [values, fraction, expected] of cases) {
    it(`p${fraction * 100} of [${values.slice(0, 5)}…] is ${expected}`, () => {
      assert.equal(percentile(values, fraction), expected);
    });
  }
});

describe('pricedInTiers', () => {
  it('bills the first 10,000 metric-months at $0.30 and the rest at $0.10', () => {
    assert.equal(pricedInTiers(PRICES.customMetric, 100), 30);
    assert.ok(
      Math.abs(pricedInTiers(PRICES.customMetric, 12_000) - 3_200) < 1e-6,
    );
  });
});

describe('HostSide', () => {
  const setUp = () => {
    const clock = new VirtualClock(SIM_EPOCH);
    const scheduler = new Scheduler(clock);
    const world = new World(
      {
        ...DEFAULT_WORLD,
        hosts: 1,
        apps: [{ name: 'shop', limitMb: 300, workersPerHost: 4 }],
        leakShare: 1,
        frozenShare: 1,
      },
      scheduler,
      new SeededRandom(3),
    );
    world.populate();
    const ledger = new Ledger(world, SIM_EPOCH);
    const hostSide = new HostSide(world, scheduler, ledger);
    const host = world.hosts[0]!;
    const victim = [...host.workers.values()][0]!;
    return { clock, scheduler, world, ledger, hostSide, host, victim };
  };
  const parameters = (
    host: string,
    notAfterMs: number,
    orders: OrderBatch['orders'],
    picks: OrderBatch['picks'] = [],
    now = SIM_EPOCH,
  ) =>
    encodeOrderParameters(
      {
        instanceId: host,
        app: 'shop',
        measure: 'private',
        notAfter: Math.floor(notAfterMs / 1000),
        orders,
        picks,
      },
      now,
    );

  it('refuses every order once notAfter has passed, and acts on none', async () => {
    const { clock, scheduler, hostSide, host, victim, ledger } = setUp();
    await scheduler.runUntil(SIM_EPOCH + 120_000);
    const run = hostSide.start(
      host,
      parameters(host.id, SIM_EPOCH + 60_000, [
        { pid: victim.pid, startTime: victim.startTime, action: 'force-kill' },
      ]),
    );

    await scheduler.runUntil(clock.now() + 5_000);

    const report = parseOutcomeReport(run.stdout.join('\n'));
    assert.equal(report.outcomes[0]?.status, 'refused');
    assert.match(report.outcomes[0]?.reason ?? '', /notAfter/);
    assert.equal(victim.exitedAt, null);
    assert.equal(ledger.totals().kills, 0);
  });

  it('finds no process for a pid whose start time differs', async () => {
    const { scheduler, hostSide, host, victim, ledger } = setUp();
    const run = hostSide.start(
      host,
      parameters(host.id, SIM_EPOCH + 60_000, [
        {
          pid: victim.pid,
          startTime: victim.startTime + 1,
          action: 'force-kill',
        },
      ]),
    );

    await scheduler.runUntil(SIM_EPOCH + 5_000);

    const report = parseOutcomeReport(run.stdout.join('\n'));
    assert.equal(report.outcomes[0]?.status, 'gone');
    assert.equal(victim.exitedAt, null);
    assert.equal(ledger.totals().kills, 0);
    assert.equal(run.end, 'Success');
  });

  it('detaches the biggest worker over the limit and kills it, frozen, at its deadline', async () => {
    const { clock, scheduler, hostSide, host, world } = setUp();
    const firstBreach = Math.min(
      ...[...host.workers.values()].map((w) => world.breachAt(w) ?? Infinity),
    );
    await scheduler.runUntil(firstBreach + 1_000);
    const now = clock.now();
    const biggest = [...host.workers.values()].sort(
      (a, b) => world.memoryKb(b, now) - world.memoryKb(a, now),
    )[0]!;
    assert.ok(world.overLimit(biggest, now), 'the setup needs a breach');
    const run = hostSide.start(
      host,
      parameters(
        host.id,
        now + 60_000,
        [],
        [
          {
            kind: 'pick',
            count: 1,
            graceful: { type: 'detach' },
            graceSeconds: 30,
            limitKb: 300 * 1024,
          },
        ],
        now,
      ),
    );

    await scheduler.runUntil(now + 40_000);

    const report = parseOutcomeReport(run.stdout.join('\n'));
    assert.ok(report.complete);
    assert.deepEqual(
      report.outcomes.map((o) => [o.pid, o.step, o.status]),
      [
        [biggest.pid, 'graceful', 'detached'],
        [biggest.pid, 'deadline', 'killed'],
      ],
    );
    const deadline = report.outcomes[0]?.deadline ?? 0;
    assert.ok(biggest.exitedAt !== null && biggest.exitedAt >= deadline);
    assert.ok(biggest.exitedAt - deadline <= 250);
  });
});
