/**
 * The score of one run, from the ledger, the world and the counts the
 * simulated services kept.
 */
import { costOf, type CostReport } from './cost.ts';
import type { CloudWatchUsage } from './cloudwatch.ts';
import type { StoreUsage } from './dynamo.ts';
import type { Ledger, Violation } from './ledger.ts';
import type { CommandUsage } from './ssm.ts';
import { percentile } from './stats.ts';
import type { AppSpec, World } from './world.ts';

const HOUR_MS = 3_600_000;

export interface RunReport {
  readonly seed: number;
  readonly hosts: number;
  readonly workers: number;
  readonly simulatedHours: number;
  readonly ticks: number;
  readonly breachToGracefulP50S: number | null;
  readonly breachToGracefulP99S: number | null;
  readonly forcedLatenessP99S: number | null;
  readonly forcedLatenessMaxS: number | null;
  readonly wrongKills: number;
  readonly doubleActions: number;
  readonly earlyKills: number;
  readonly violations: readonly Violation[];
  readonly gracefulSteps: number;
  readonly killsByHost: number;
  readonly killsByController: number;
  /**
   * Frozen workers given their graceful step that were still alive one
   * tick (plus the longest usual delivery) after their deadline.
   */
  readonly frozenOverdue: number;
  /** The first few of them, for a failing test to name. */
  readonly overdue: readonly OverdueWorker[];
  /** Frozen workers given their graceful step, whose deadline came. */
  readonly frozenMarked: number;
  /** Workers over their limit for over 10 minutes, never acted on. */
  readonly missedBreaches: number;
  readonly apiCallsPerTickMean: number;
  readonly apiCallsPerTickMax: number;
  /** Null for a run shorter than an hour: too short to bill by the hour. */
  readonly cost: CostReport | null;
  readonly usage: RunUsage;
}

/** What the simulated services and agents counted over the run. */
export interface RunUsage {
  readonly cloudwatch: CloudWatchUsage;
  readonly commands: CommandUsage;
  readonly store: StoreUsage;
  readonly parameterReads: number;
  readonly agentRestarts: number;
  /** Spooled deadlines an agent adopted after a restart ended a run. */
  readonly adoptedDeadlines: number;
}

export interface OverdueWorker {
  readonly host: string;
  readonly pid: number;
  readonly startTime: number;
  readonly deadline: number;
  /** Epoch ms it exited; null if it outlived the run. */
  readonly exitedAt: number | null;
}

const OVERDUE_KEPT = 20;

/** What the report needs of the run's options. */
export interface ReportedRun {
  readonly seed: number;
  readonly hosts: number;
  readonly apps: readonly AppSpec[];
  readonly durationMs: number;
}

export interface Outcome {
  readonly world: World;
  readonly ledger: Ledger;
  /** Epoch ms the run started. */
  readonly start: number;
  readonly tickIntervalMs: number;
  readonly end: number;
  readonly callsPerTick: readonly number[];
  readonly usage: RunUsage;
  readonly maxDeliveryMs: number;
}

export function report(options: ReportedRun, outcome: Outcome): RunReport {
  const { world, ledger, end, callsPerTick } = outcome;
  const totals = ledger.totals();
  const allowedAfterDeadline =
    outcome.tickIntervalMs + 5_000 + outcome.maxDeliveryMs;
  let frozenOverdue = 0;
  let frozenMarked = 0;
  const overdue: OverdueWorker[] = [];
  for (const [worker, mark] of ledger.marked()) {
    if (!worker.frozen) continue;
    const dueBy = mark.deadline + allowedAfterDeadline;
    if (dueBy > end) continue;
    frozenMarked++;
    if ((worker.exitedAt ?? Infinity) <= dueBy) continue;
    frozenOverdue++;
    if (overdue.length >= OVERDUE_KEPT) continue;
    overdue.push({
      host: worker.host.id,
      pid: worker.pid,
      startTime: worker.startTime,
      deadline: mark.deadline,
      exitedAt: worker.exitedAt,
    });
  }
  let missedBreaches = 0;
  for (const host of world.hosts) {
    for (const worker of host.workers.values()) {
      if (worker.detachedAt !== null) continue;
      const breach = world.breachAt(worker);
      if (breach !== null && Math.max(breach, outcome.start) < end - 600_000) {
        missedBreaches++;
      }
    }
  }
  const workers = options.apps.reduce((sum, a) => sum + a.workersPerHost, 0);
  const ticks = callsPerTick.length;
  const controllerApiCalls = callsPerTick.reduce((sum, c) => sum + c, 0);
  return {
    seed: options.seed,
    hosts: options.hosts,
    workers: workers * options.hosts,
    simulatedHours: options.durationMs / HOUR_MS,
    ticks,
    breachToGracefulP50S: percentile(totals.breachToGracefulS, 0.5),
    breachToGracefulP99S: percentile(totals.breachToGracefulS, 0.99),
    forcedLatenessP99S: percentile(totals.forcedLatenessS, 0.99),
    forcedLatenessMaxS: percentile(totals.forcedLatenessS, 1),
    wrongKills: totals.wrongKills,
    doubleActions: totals.doubleActions,
    earlyKills: totals.earlyKills,
    violations: totals.violations,
    gracefulSteps: totals.gracefulSteps,
    killsByHost: totals.killsByHost,
    killsByController: totals.killsByController,
    frozenOverdue,
    overdue,
    frozenMarked,
    missedBreaches,
    apiCallsPerTickMean: ticks === 0 ? 0 : controllerApiCalls / ticks,
    apiCallsPerTickMax: Math.max(0, ...callsPerTick),
    cost:
      options.durationMs < HOUR_MS
        ? null
        : costOf({
            instances: options.hosts,
            simulatedMs: options.durationMs,
            cloudwatch: outcome.usage.cloudwatch,
            store: outcome.usage.store,
            ticks,
            controllerApiCalls,
          }),
    usage: outcome.usage,
  };
}
