/**
 * The fleet benches: the simulator (sim/) at the sizes of issue 3's
 * targets, with the real agent publishing code and the real controller.
 * Nothing here needs Passenger or AWS, so nothing is skipped.
 *
 *   cost       100 instances × 8 workers (5 % near their limit, 2 % leak
 *              past it) for 6 virtual hours, and 10,000 instances for 3
 *              (the per-host heartbeat goes out every 3 hours)
 *   tick       10,000 hosts × 16 workers for 30 virtual minutes; the
 *              busiest tick once the census is read (from the 9th on)
 *   latency    1,000 hosts × 8 for 6 hours, one-minute schedule, data
 *              readable 30 to 90 s after the put, agents restarting
 *              about once a day, SSM delivering late or never now and
 *              then; wrong kills and double actions summed over all runs
 */
import {
  runSimulation,
  type RunOptions,
  type TickMeasure,
} from '../sim/run.ts';
import type { CostReport } from '../sim/cost.ts';
import { realController } from '../sim/real-controller.ts';

const HOUR_MS = 3_600_000;

export const FLEET_TARGETS = {
  costPerInstanceMonth100: 0.5,
  costPerInstanceMonth10000: 0.25,
  tickCpuMs10000: 2_000,
  tickMemoryMb10000: 512,
  /** API calls within 10 % of the minimum. */
  tickApiCallsOverMinimum: 1.1,
  breachToGracefulP99S: 150,
  forcedLatenessP99S: 5,
  wrongKills: 0,
  doubleActions: 0,
} as const;

export interface FleetBenchResult {
  readonly costPerInstanceMonth100: number;
  readonly costPerInstanceMonth10000: number;
  readonly tickCpuMs10000: number;
  /** The busiest tick's heap growth; the process holds the world too. */
  readonly tickHeapGrowthMb10000: number;
  readonly processRssMb10000: number;
  readonly tickApiCalls10000: number;
  readonly tickApiCallsMinimum10000: number;
  readonly breachToGracefulP50S: number | null;
  readonly breachToGracefulP99S: number | null;
  readonly forcedLatenessP99S: number | null;
  readonly wrongKills: number;
  readonly doubleActions: number;
  readonly details: Readonly<Record<string, unknown>>;
}

const fleet = (
  hosts: number,
  workersPerHost: number,
  hours: number,
  seed: number,
): RunOptions => ({
  seed,
  hosts,
  apps: [{ name: 'shop', limitMb: 300, workersPerHost }],
  durationMs: hours * HOUR_MS,
  controller: realController(),
  config: {
    defaults: { limitMb: 300, graceSeconds: 30, gracefulAction: 'detach' },
  },
  world: { nearLimitShare: 0.05, leakShare: 0.02 },
});

export async function benchFleet(
  progress: (line: string) => void = () => {},
): Promise<FleetBenchResult> {
  progress('fleet: cost at 100 instances (6 virtual hours)');
  const small = await runSimulation(fleet(100, 8, 6, 101));
  progress('fleet: cost at 10,000 instances (3 virtual hours)');
  const large = await runSimulation(fleet(10_000, 8, 3, 102));

  progress('fleet: one tick over 10,000 hosts × 16 workers');
  const ticks: TickMeasure[] = [];
  await runSimulation({
    ...fleet(10_000, 16, 0.5, 103),
    afterTick: (measure) => ticks.push(measure),
  });
  // Before the first census is read the ticks do less than they will.
  const settled = ticks.filter((t) => t.index >= 8);
  const busiest = settled.reduce(
    (most, t) => (t.cpuMs > most.cpuMs ? t : most),
    settled[0] ?? ticks[ticks.length - 1]!,
  );

  progress('fleet: breach to graceful at 1,000 hosts (6 virtual hours)');
  const latency = await runSimulation({
    ...fleet(1_000, 8, 6, 104),
    restartsPerHostDay: 1,
  });

  const runs = [small, large, latency];
  const smallCost = billed(small.cost);
  const largeCost = billed(large.cost);
  return {
    costPerInstanceMonth100: smallCost.usdPerInstanceMonth,
    costPerInstanceMonth10000: largeCost.usdPerInstanceMonth,
    tickCpuMs10000: busiest.cpuMs,
    tickHeapGrowthMb10000: Math.max(...settled.map((t) => t.heapGrowthMb)),
    processRssMb10000: Math.max(...ticks.map((t) => t.rssMb)),
    tickApiCalls10000: busiest.apiCalls,
    tickApiCallsMinimum10000: busiest.minimumApiCalls,
    breachToGracefulP50S: latency.breachToGracefulP50S,
    breachToGracefulP99S: latency.breachToGracefulP99S,
    forcedLatenessP99S: latency.forcedLatenessP99S,
    wrongKills: runs.reduce((sum, r) => sum + r.wrongKills, 0),
    doubleActions: runs.reduce((sum, r) => sum + r.doubleActions, 0),
    details: {
      costLines100: smallCost.lines,
      costLines10000: largeCost.lines,
      tick: busiest,
      ticksMeasured: settled.length,
      latencyRun: {
        gracefulSteps: latency.gracefulSteps,
        killsByHost: latency.killsByHost,
        killsByController: latency.killsByController,
        forcedLatenessMaxS: latency.forcedLatenessMaxS,
        frozenOverdue: latency.frozenOverdue,
        missedBreaches: latency.missedBreaches,
        earlyKills: latency.earlyKills,
        agentRestarts: latency.usage.agentRestarts,
        commands: latency.usage.commands,
      },
    },
  };
}

/** The cost runs last hours; a null here is a bug in this file. */
function billed(cost: CostReport | null): CostReport {
  if (cost === null) {
    throw new Error('a cost run must cover at least one virtual hour');
  }
  return cost;
}

export function fleetReportLines(result: FleetBenchResult): string[] {
  const t = FLEET_TARGETS;
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const usd = (value: number) => `$${value.toFixed(3)}`;
  const seconds = (value: number | null) =>
    value === null ? 'n/a (no sample)' : `${value.toFixed(1)} s`;
  const overMinimum =
    result.tickApiCalls10000 / Math.max(1, result.tickApiCallsMinimum10000);
  return [
    'fleet simulator (real agent publishing, real controller):',
    `  cost per instance-month, 100    ${usd(result.costPerInstanceMonth100)} ` +
      `(target <= ${usd(t.costPerInstanceMonth100)}: ` +
      `${met(result.costPerInstanceMonth100 <= t.costPerInstanceMonth100)})`,
    `  cost per instance-month, 10,000 ${usd(result.costPerInstanceMonth10000)} ` +
      `(target <= ${usd(t.costPerInstanceMonth10000)}: ` +
      `${met(result.costPerInstanceMonth10000 <= t.costPerInstanceMonth10000)})`,
    `  tick CPU, 10,000 × 16           ${result.tickCpuMs10000.toFixed(1)} ms ` +
      `(target <= ${t.tickCpuMs10000}: ` +
      `${met(result.tickCpuMs10000 <= t.tickCpuMs10000)})`,
    `  tick heap growth, 10,000 × 16   ` +
      `${result.tickHeapGrowthMb10000.toFixed(1)} MB (target <= ` +
      `${t.tickMemoryMb10000}: ` +
      `${met(result.tickHeapGrowthMb10000 <= t.tickMemoryMb10000)}; the ` +
      `whole simulation's RSS was ${result.processRssMb10000.toFixed(0)} MB)`,
    `  tick API calls                  ${result.tickApiCalls10000} for a ` +
      `minimum of ${result.tickApiCallsMinimum10000} (target within 10 %: ` +
      `${met(overMinimum <= t.tickApiCallsOverMinimum)})`,
    `  breach to graceful p50 / p99    ${seconds(result.breachToGracefulP50S)} / ` +
      `${seconds(result.breachToGracefulP99S)} (target p99 <= ` +
      `${t.breachToGracefulP99S} s: ${met(
        result.breachToGracefulP99S !== null &&
          result.breachToGracefulP99S <= t.breachToGracefulP99S,
      )})`,
    `  forced kill lateness p99        ${seconds(result.forcedLatenessP99S)} ` +
      `(target <= ${t.forcedLatenessP99S} s: ${met(
        result.forcedLatenessP99S !== null &&
          result.forcedLatenessP99S <= t.forcedLatenessP99S,
      )})`,
    `  wrong kills / double actions    ${result.wrongKills} / ` +
      `${result.doubleActions} (target 0 / 0: ` +
      `${met(result.wrongKills === 0 && result.doubleActions === 0)})`,
  ];
}

/** The keys bench-results.json gets; rounded so diffs stay readable. */
export function fleetResultKeys(
  result: FleetBenchResult,
): Record<string, unknown> {
  const round = (value: number | null, places = 3) =>
    value === null ? null : Number(value.toFixed(places));
  return {
    costPerInstanceMonth100: round(result.costPerInstanceMonth100, 4),
    costPerInstanceMonth10000: round(result.costPerInstanceMonth10000, 4),
    tickCpuMs10000: round(result.tickCpuMs10000, 1),
    tickApiCalls10000: result.tickApiCalls10000,
    tickApiCallsMinimum10000: result.tickApiCallsMinimum10000,
    breachToGracefulP99S: round(result.breachToGracefulP99S, 1),
    forcedLatenessP99S: round(result.forcedLatenessP99S, 1),
    wrongKills: result.wrongKills,
    doubleActions: result.doubleActions,
    fleetBench: {
      measuredAt: new Date().toISOString(),
      targets: FLEET_TARGETS,
      breachToGracefulP50S: round(result.breachToGracefulP50S, 1),
      tickHeapGrowthMb10000: round(result.tickHeapGrowthMb10000, 1),
      processRssMb10000: round(result.processRssMb10000, 0),
      ...result.details,
    },
  };
}
