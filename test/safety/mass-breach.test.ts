/**
 * Mass breach: a limit of 1 MB pushed to the whole fleet puts every
 * worker over it at once. The circuit breaker must open for the app,
 * the controller must act on none of its hosts while it is open, and
 * BreakerOpen must reach its alarm; with the breaker off, no more
 * workers may be in grace than the per-host and fleet budgets allow.
 *
 * First the real controller on in-memory ports, tick by tick and exact
 * (support/breach-fleet.ts); then the fleet simulator, where agents
 * take the push up within their cache time, hosts carry out the picks
 * and the run's Ledger judges every action (support/run-watch.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DEFAULT_ALARM_THRESHOLDS } from '../../cdk/monitor-alarms.ts';
import {
  DEFAULT_MAX_IN_GRACE_PERCENT,
  loadConfig,
  type ConfigInput,
  type FleetConfig,
} from '../../core/config.ts';
import { KB_PER_MB } from '../../core/worker.ts';
import { runSimulation, SIM_EPOCH, type RunOptions } from '../../sim/run.ts';
import {
  BreachFleet,
  fleetBudgetOf,
  hostBudgetOf,
  type TickSeen,
} from './support/breach-fleet.ts';
import { RunWatch, type WatchedTick } from './support/run-watch.ts';
import { SafetyTally } from './support/tally.ts';

const tally = new SafetyTally(import.meta.url);
const MINUTE = 60_000;
const PUSHED_LIMIT_KB = 1 * KB_PER_MB;

/**
 * Whether the BreakerOpen alarm of cdk/monitor-alarms.ts fires on these
 * ticks: the metric's Sum over a 5-minute period at its threshold.
 */
function breakerAlarmFires(
  ticks: readonly { at: number; breakerOpen: number }[],
): boolean {
  const threshold = DEFAULT_ALARM_THRESHOLDS.breakerOpenPer5Minutes;
  const perPeriod = new Map<number, number>();
  for (const { at, breakerOpen } of ticks) {
    const period = Math.floor(at / (5 * MINUTE));
    perPeriod.set(period, (perPeriod.get(period) ?? 0) + breakerOpen);
  }
  return [...perPeriod.values()].some((sum) => sum >= threshold);
}

/** 40 hosts, each with 3 workers of shop and 1 of api. */
function fortyHosts(): BreachFleet {
  return new BreachFleet(40, [
    { name: 'shop', workersPerHost: 3 },
    { name: 'api', workersPerHost: 1 },
  ]);
}

function allPooled(fleet: BreachFleet): number {
  return fleet.apps.reduce((sum, app) => sum + fleet.pooled(app.name), 0);
}

/** One tick of the fleet before the push, checked to be healthy. */
async function healthyTick(fleet: BreachFleet): Promise<void> {
  const seen = await fleet.tick();
  assert.equal(seen.overLimit, 0, 'the fleet must start healthy');
  assert.equal(seen.commands.length, 0);
  assert.deepEqual(seen.report.openBreakers, []);
  tally.tried();
}

/** Workers in grace after the tick, against the budgets it read. */
function assertWithinBudgets(fleet: BreachFleet, seen: TickSeen): void {
  for (const app of fleet.apps) {
    const budget = fleetBudgetOf(seen.config, fleet.pooled(app.name));
    const inGrace = fleet.inGrace(app.name);
    assert.ok(
      inGrace <= budget,
      `${inGrace} workers of ${app.name} in grace, fleet budget ${budget}`,
    );
    const perHost = hostBudgetOf(seen.config, app.name);
    for (const host of fleet.hosts) {
      const here = fleet.inGrace(app.name, host);
      assert.ok(
        here <= perHost,
        `${here} of ${app.name} in grace on ${host}, per-host ${perHost}`,
      );
    }
  }
}

describe('mass breach at the controller: 40 hosts, limit pushed to 1 MB', () => {
  it('opens the breakers, sends nothing, counts BreakerOpen, closes after', async () => {
    const fleet = fortyHosts();
    await healthyTick(fleet);

    fleet.set('defaults/limitMb', '1');
    const held: TickSeen[] = [];
    for (let tick = 0; tick < 5; tick++) held.push(await fleet.tick());
    fleet.set('defaults/limitMb', '300');
    const restored = await fleet.tick();

    for (const seen of held) {
      assert.equal(seen.overLimit, allPooled(fleet), 'every worker is over');
      assert.deepEqual(seen.report.openBreakers, ['api', 'shop']);
      assert.deepEqual(seen.commands, []);
      assert.equal(seen.report.picksSent, 0);
      assert.equal(seen.breakerOpen, 2);
      tally.tried();
    }
    assert.equal(allPooled(fleet), 160);
    assert.ok(breakerAlarmFires(held), 'the BreakerOpen alarm must fire');
    assert.equal(fleet.detachedSoFar, 0);
    assert.equal(restored.overLimit, 0);
    assert.deepEqual(restored.report.openBreakers, []);
    assert.equal(restored.breakerOpen, 0);
    assert.deepEqual(restored.commands, []);
    tally.tried();
  });

  it("holds only the app whose limit fell; another app's breach is acted on", async () => {
    const fleet = fortyHosts();
    await healthyTick(fleet);
    const leaking = fleet.hosts[6] ?? '';

    fleet.set('apps/shop/limitMb', '1');
    fleet.grow(leaking, 'api', 400);
    const held: TickSeen[] = [];
    for (let tick = 0; tick < 4; tick++) held.push(await fleet.tick());

    for (const seen of held) {
      assert.ok(seen.overLimit >= fleet.pooled('shop'), `${seen.overLimit}`);
      assert.deepEqual(seen.report.openBreakers, ['shop']);
      assert.equal(seen.breakerOpen, 1);
      for (const pick of seen.picks) {
        assert.deepEqual([pick.host, pick.app], [leaking, 'api']);
        assert.equal(pick.limitKb, 300 * KB_PER_MB);
      }
      assertWithinBudgets(fleet, seen);
      tally.tried();
    }
    assert.equal(held[0]?.overLimit, fleet.pooled('shop') + 1);
    assert.equal(held[0]?.picks.length, 1, 'the real breach must be acted on');
    assert.equal(fleet.inGrace('shop'), 0);
    assert.ok(breakerAlarmFires(held), 'the BreakerOpen alarm must fire');
  });

  it('breaker off: workers in grace within both budgets every tick', async () => {
    const fleet = fortyHosts();
    fleet.set('fleet/breakerPercent', '100');
    // shop: 5 % of its 120 workers is more than maxInGrace; api: 5 % of
    // its 40 is less. Each limit binds one app.
    fleet.set('fleet/maxInGrace', '5');
    fleet.set('fleet/maxInGracePercent', '5');
    fleet.set('apps/shop/maxInGracePerHost', '2');
    // Over two ticks, so open marks and pending picks add up.
    fleet.set('defaults/graceSeconds', '150');
    await healthyTick(fleet);

    fleet.set('defaults/limitMb', '1');
    const most = new Map<string, number>();
    const budgets = new Map<string, number>();
    let config: FleetConfig | undefined;
    for (let tick = 0; tick < 12; tick++) {
      const seen = await fleet.tick();

      assert.equal(seen.overLimit, allPooled(fleet), 'every worker is over');
      assert.deepEqual(seen.report.openBreakers, []);
      assert.equal(seen.breakerOpen, 0);
      for (const pick of seen.picks) {
        assert.equal(pick.limitKb, PUSHED_LIMIT_KB);
      }
      assertWithinBudgets(fleet, seen);
      for (const { name } of fleet.apps) {
        budgets.set(name, fleetBudgetOf(seen.config, fleet.pooled(name)));
        most.set(name, Math.max(most.get(name) ?? 0, fleet.inGrace(name)));
      }
      config = seen.config;
      tally.tried();
    }

    // Reached, and filled again as workers left, or the checks above held
    // for want of trouble.
    assert.equal(budgets.get('shop'), config?.fleet.maxInGrace);
    assert.ok((budgets.get('api') ?? 0) < (config?.fleet.maxInGrace ?? 0));
    assert.deepEqual(most, budgets);
    const budgetSum = [...budgets.values()].reduce((sum, b) => sum + b, 0);
    assert.ok(fleet.detachedSoFar >= 3 * budgetSum, `${fleet.detachedSoFar}`);
  });

  it('opens the breaker from minHostsForBreaker hosts, never below', async () => {
    const { minHostsForBreaker } = (await fortyHosts().config()).fleet;
    const shop = [{ name: 'shop', workersPerHost: 4 }];
    const small = new BreachFleet(minHostsForBreaker - 1, shop);
    const enough = new BreachFleet(minHostsForBreaker, shop);
    await healthyTick(small);
    await healthyTick(enough);

    small.set('defaults/limitMb', '1');
    enough.set('defaults/limitMb', '1');
    const acted: TickSeen[] = [];
    for (let tick = 0; tick < 3; tick++) {
      const seen = await small.tick();
      const held = await enough.tick();

      assert.equal(seen.overLimit, small.pooled('shop'));
      assert.deepEqual(seen.report.openBreakers, []);
      assert.equal(seen.breakerOpen, 0);
      assertWithinBudgets(small, seen);
      assert.deepEqual(held.report.openBreakers, ['shop']);
      assert.deepEqual(held.commands, []);
      acted.push(seen);
      tally.tried(2);
    }
    // The small fleet is acted on, as many at a time as its hosts and
    // the fleet budget allow.
    const first = acted[0];
    assert.ok(first);
    const budget = fleetBudgetOf(first.config, small.pooled('shop'));
    const allowed = Math.min(minHostsForBreaker - 1, budget);
    assert.equal(first.picks.length, allowed);
    assert.ok(small.detachedSoFar >= allowed);
  });
});

/**
 * 50 hosts of 4 shop workers, healthy at 300 MB, for 100 minutes; 40
 * minutes in, the limit is pushed to 1 MB, and agents take it up within
 * their 15-minute cache time, so the share of hosts breaching climbs
 * over a quarter of an hour, as it would in a real fleet.
 */
const HOSTS = 50;
const WORKERS_PER_HOST = 4;
const PUSH_AT = SIM_EPOCH + 40 * MINUTE;
const AGENTS_WITHIN_MS = 15 * MINUTE;

function pushedRun(
  seed: number,
  brakes: ConfigInput['fleet'],
  watch: RunWatch,
): { options: RunOptions; pushed: FleetConfig } {
  const config: ConfigInput = {
    defaults: { limitMb: 300, graceSeconds: 30, gracefulAction: 'detach' },
    fleet: brakes,
  };
  const pushed = { ...config, defaults: { ...config.defaults, limitMb: 1 } };
  return {
    pushed: loadConfig(pushed),
    options: {
      seed,
      hosts: HOSTS,
      apps: [{ name: 'shop', limitMb: 300, workersPerHost: WORKERS_PER_HOST }],
      durationMs: 100 * MINUTE,
      controller: watch.controller(),
      config,
      configPushes: [
        {
          atMs: PUSH_AT - SIM_EPOCH,
          config: pushed,
          agentsWithinMs: AGENTS_WITHIN_MS,
        },
      ],
    },
  };
}

/** The fleet budget a tick worked with, from the census it read. */
function tickBudget(config: FleetConfig, tick: WatchedTick): number {
  return fleetBudgetOf(config, tick.censusWorkers.get('shop') ?? 0);
}

/**
 * Each tick handed out picks within its fleet budget, and every worker
 * put in grace found the app's workers in grace (itself included)
 * within the budget of the ticks so far and within the per-host budget
 * on its host. The push changes the limit only, so one configuration
 * gives the budgets of the whole run. Returns the most workers one tick
 * picked, and how many graceful steps were checked.
 */
function assertRunWithinBudgets(
  watch: RunWatch,
  config: FleetConfig,
): { mostPicked: number; steps: number } {
  let mostPicked = 0;
  for (const tick of watch.ticks) {
    const picked = tick.picks.reduce((sum, pick) => sum + pick.count, 0);
    const budget = tickBudget(config, tick);
    assert.ok(picked <= budget, `${picked} picked at ${tick.at}, ${budget}`);
    mostPicked = Math.max(mostPicked, picked);
  }
  const perHost = hostBudgetOf(config, 'shop');
  const steps = watch.inGraceAtEachStep();
  for (const { span, inApp, onHost } of steps) {
    const budget = Math.max(
      ...watch.ticks
        .filter((tick) => tick.at <= span.from)
        .map((tick) => tickBudget(config, tick)),
    );
    assert.ok(inApp <= budget, `${inApp} in grace at ${span.from}, ${budget}`);
    assert.ok(onHost <= perHost, `${onHost} on ${span.host} at ${span.from}`);
  }
  return { mostPicked, steps: steps.length };
}

function ticksFrom(watch: RunWatch, from: number): WatchedTick[] {
  return watch.ticks.filter((tick) => tick.at >= from);
}

describe('mass breach in the fleet simulator: 50 hosts, 1 MB pushed', () => {
  it('opens the breaker as the push spreads; no pick while open; alarm', async () => {
    const watch = new RunWatch();
    // 5 % of 200 workers: 10 at most in grace until the breaker opens.
    const { options, pushed } = pushedRun(41, { maxInGracePercent: 5 }, watch);

    const report = await runSimulation(options);

    tally.recordSimulation(report, 'mass breach, breaker on, seed 41');
    const before = watch.ticks.filter((tick) => tick.at < PUSH_AT);
    const after = ticksFrom(watch, PUSH_AT);
    // The healthy fleet's few leaking workers never open it.
    assert.ok(before.length >= 35, `${before.length} ticks before`);
    assert.ok(before.every((tick) => tick.breakerOpen === 0));
    const mostOver = Math.max(...after.map((tick) => tick.overLimit));
    assert.ok(mostOver >= 0.9 * HOSTS * WORKERS_PER_HOST, `${mostOver} over`);
    for (const tick of watch.ticks) {
      if (tick.breakerOpen > 0) assert.deepEqual(tick.picks, [], `${tick.at}`);
    }
    // Once every agent has the limit and the 5-minute trouble window
    // shows nothing older, it stays open.
    const settled = ticksFrom(watch, PUSH_AT + AGENTS_WITHIN_MS + 6 * MINUTE);
    assert.ok(settled.length >= 30, `${settled.length} settled ticks`);
    assert.ok(settled.every((tick) => tick.breakerOpen === 1));
    assert.ok(breakerAlarmFires(after), 'the BreakerOpen alarm must fire');
    assertRunWithinBudgets(watch, pushed);
    assert.equal(report.wrongKills, 0, JSON.stringify(report.violations));
  });

  it('default brakes: within the default fleet budget until the breaker', async () => {
    const watch = new RunWatch();
    const { options, pushed } = pushedRun(47, undefined, watch);

    const report = await runSimulation(options);

    tally.recordSimulation(report, 'mass breach, default brakes, seed 47');
    assert.equal(pushed.fleet.maxInGracePercent, DEFAULT_MAX_IN_GRACE_PERCENT);
    const { mostPicked } = assertRunWithinBudgets(watch, pushed);
    const budget = fleetBudgetOf(pushed, HOSTS * WORKERS_PER_HOST);
    assert.ok(mostPicked <= budget, `${mostPicked} picked, budget ${budget}`);
    const settled = ticksFrom(watch, PUSH_AT + AGENTS_WITHIN_MS + 6 * MINUTE);
    assert.ok(settled.every((tick) => tick.breakerOpen === 1));
    assert.equal(report.wrongKills, 0, JSON.stringify(report.violations));
  });

  it('breaker off: every graceful step within budget, at its pace', async () => {
    const watch = new RunWatch();
    const { options, pushed } = pushedRun(
      43,
      { breakerPercent: 100, maxInGracePercent: 5 },
      watch,
    );

    const report = await runSimulation(options);

    tally.recordSimulation(report, 'mass breach, breaker off, seed 43');
    assert.ok(watch.ticks.every((tick) => tick.breakerOpen === 0));
    const { mostPicked, steps } = assertRunWithinBudgets(watch, pushed);
    const budget = fleetBudgetOf(pushed, HOSTS * WORKERS_PER_HOST);
    assert.equal(mostPicked, budget, 'a tick must have used the budget');
    // Nearly an hour after the push, the budget handed out most minutes.
    assert.ok(steps >= 20 * budget, `${steps} graceful steps`);
    const late = ticksFrom(watch, PUSH_AT + 2 * MINUTE).flatMap((t) => t.picks);
    assert.ok(late.length > 0);
    for (const pick of late) assert.equal(pick.limitKb, PUSHED_LIMIT_KB);
    assert.equal(report.wrongKills, 0, JSON.stringify(report.violations));
  });
});
