/**
 * The fleet controller: one `tick(now)` a minute (EventBridge), decisions
 * from core/fleet-policy.ts, every decision claimed in the record store
 * with a conditional write before anything is sent, so overlapping ticks
 * never both act on one host-app or one worker.
 *
 *   1. config       Parameter Store tree; the last good one kept
 *   2. outcomes     results of the commands still open → marks
 *   3. metrics      trouble and census (unreadable: no new pick)
 *   4. decide       picks, force-kills, budgets, breaker, dry run
 *   5. act          claim, then send one command per host-app
 *   6. silence      heartbeats of the hosts with open marks or orders
 */
import { randomUUID } from 'node:crypto';
import {
  decideFleet,
  type FleetDecision,
  type FleetDecisionKind,
  type PendingPick,
} from '../../core/fleet-policy.ts';
import type { FleetConfig } from '../../core/config.ts';
import { identityKey } from '../../core/worker.ts';
import {
  configFromParameters,
  describeParameterProblem,
  parameterRoot,
} from '../../core/parameter-tree.ts';
import type { ParameterSource } from '../../agent/parameters/parameter-source.ts';
import type { CommandPort } from '../ports/commands.ts';
import type {
  FleetCensus,
  FleetMetricsReader,
  HostAppTrouble,
} from '../ports/fleet-metrics.ts';
import type { RecordStore } from '../store/record-store.ts';
import { withReadRetries } from '../store/retrying-reads.ts';
import {
  API_CALLS,
  type ApiCall,
  type ConfigUse,
  type ControllerLog,
  type MetricsSink,
  type TickReport,
} from './controller-ports.ts';
import { CONTROLLER_METRIC_NAMES } from './metric-names.ts';
import { OrderActions } from './order-actions.ts';
import { applyResult, emptyTally, type OutcomeTally } from './outcomes.ts';

export interface ControllerOptions {
  readonly fleet: string;
  readonly metrics: FleetMetricsReader;
  readonly commands: CommandPort;
  readonly store: RecordStore;
  readonly parameters: ParameterSource;
  readonly log: ControllerLog;
  readonly sink: MetricsSink;
  /** @default randomUUID */
  readonly newOrderId?: () => string;
}

export class Controller {
  readonly #options: ControllerOptions;
  readonly #root: string;
  readonly #newOrderId: () => string;
  /** Survives warm invocations: the instance lives in module scope. */
  #lastGoodConfig: FleetConfig | undefined;

  constructor(options: ControllerOptions) {
    this.#options = { ...options, store: withReadRetries(options.store) };
    this.#root = parameterRoot(options.fleet);
    this.#newOrderId = options.newOrderId ?? randomUUID;
  }

  async tick(now: number): Promise<TickReport> {
    const { store, log } = this.#options;
    const calls = Object.fromEntries(API_CALLS.map((c) => [c, 0])) as Record<
      ApiCall,
      number
    >;
    const failures: string[] = [];
    const counted = async <T>(call: ApiCall, run: () => Promise<T>) => {
      calls[call]++;
      return run();
    };
    const failed = (step: string, error: unknown, consequence: string) => {
      const text = `${step}: ${describe(error)}`;
      failures.push(text);
      log.warn(`${step} failed; ${consequence}`, {
        step,
        error: describe(error),
      });
    };

    const { config, use } = await this.#loadConfig(counted, failed);
    const tally = emptyTally();
    const openMarks = new Map(
      (await store.openRecords()).map((m) => [identityKey(m.identity), m]),
    );
    const context = { store, log, openMarks, tally, now };

    const open = await store.openOrders();
    const sent = open.filter((o) => o.state === 'sent' && o.commandId);
    if (sent.length > 0) {
      try {
        const results = await counted('results', () =>
          this.#options.commands.results(
            sent.map((o) => ({
              commandId: o.commandId ?? '',
              host: o.host,
              sentAt: o.sentAt ?? o.claimedAt,
            })),
          ),
        );
        for (const result of results) {
          const order = sent.find(
            (o) => o.commandId === result.commandId && o.host === result.host,
          );
          if (order) await applyResult(context, order, result);
        }
      } catch (error) {
        failed('results', error, 'open orders are read again next tick');
      }
    }

    const actions = new OrderActions({
      store,
      commands: this.#options.commands,
      log,
      newOrderId: this.#newOrderId,
      counted,
      failed,
      now,
    });
    // Reading results only finishes sent orders; the claimed ones it left
    // are as read, and a tick that changed them since loses its claim.
    await actions.settleUnsent(open, openMarks);

    let decisions: FleetDecision[] = [];
    let openBreakers: string[] = [];
    if (config !== undefined) {
      const metrics = await this.#readMetrics(now, counted, failed);
      const orders = await store.openOrders();
      const marks = [...openMarks.values()];
      const pendingPicks: PendingPick[] = orders
        .filter((o) => o.kind === 'pick')
        .map((o) => ({
          host: o.host,
          app: o.app,
          orderId: o.orderId,
          reserved: Math.max(
            0,
            (o.pick?.count ?? 0) -
              marks.filter((m) => m.orderId === o.orderId).length,
          ),
          running: true,
        }));
      const plan = decideFleet({
        trouble: metrics?.trouble ?? [],
        census: metrics?.census.apps ?? [],
        marks,
        pendingPicks,
        config,
        now,
      });
      decisions = plan.decisions;
      openBreakers = plan.openBreakers;
      await actions.carryOut(decisions, openMarks);
    } else {
      log.error('no valid configuration read yet; nothing new is decided', {
        parameterRoot: this.#root,
      });
    }

    const silentHosts = await this.#silentHosts(
      config,
      [...openMarks.values()].map((m) => m.identity.host),
      (await store.openOrders()).map((o) => o.host),
      now,
      counted,
      failed,
    );
    await this.#audit(tally, failed);

    const report: TickReport = {
      at: now,
      config: use,
      decisions: countKinds(decisions),
      picksSent: actions.picksSent,
      forceKillsSent: actions.forceKillsSent,
      marksOpened: tally.marksOpened,
      marksClosed: tally.marksClosed,
      refusals: tally.refusals,
      racesLost: tally.racesLost + actions.racesLost,
      openBreakers,
      silentHosts,
      apiCalls: calls,
      failures,
    };
    this.#emitMetrics(report, tally, decisions);
    log.info('tick', { ...report });
    return report;
  }

  async #loadConfig(
    counted: <T>(call: ApiCall, run: () => Promise<T>) => Promise<T>,
    failed: (step: string, error: unknown, consequence: string) => void,
  ): Promise<{ config: FleetConfig | undefined; use: ConfigUse }> {
    const kept = () => ({
      config: this.#lastGoodConfig,
      use: (this.#lastGoodConfig ? 'last-good' : 'none') as ConfigUse,
    });
    let parameters;
    try {
      parameters = await counted('parametersUnder', () =>
        this.#options.parameters.parametersUnder(this.#root),
      );
    } catch (error) {
      failed('parametersUnder', error, 'the last good configuration is kept');
      return kept();
    }
    const parsed = configFromParameters(this.#root, parameters);
    if (parsed.ok) {
      this.#lastGoodConfig = parsed.config;
      return { config: parsed.config, use: 'fresh' };
    }
    this.#options.sink.count(CONTROLLER_METRIC_NAMES.rejectedConfig, 1);
    for (const problem of parsed.problems) {
      this.#options.log.error(
        'configuration rejected; the last good one is kept',
        {
          parameters: problem.parameters,
          field: problem.field,
          rule: problem.rule,
          problem: describeParameterProblem(problem),
        },
      );
    }
    return kept();
  }

  async #readMetrics(
    now: number,
    counted: <T>(call: ApiCall, run: () => Promise<T>) => Promise<T>,
    failed: (step: string, error: unknown, consequence: string) => void,
  ): Promise<{ trouble: HostAppTrouble[]; census: FleetCensus } | undefined> {
    const { metrics } = this.#options;
    try {
      const [trouble, census] = await Promise.all([
        counted('readTrouble', () => metrics.readTrouble(now)),
        counted('readCensus', () => metrics.readCensus(now)),
      ]);
      return { trouble, census };
    } catch (error) {
      failed(
        'reading fleet metrics',
        error,
        'no new pick this tick (no action on doubtful data); due ' +
          'force-kills still go out',
      );
      return undefined;
    }
  }

  async #silentHosts(
    config: FleetConfig | undefined,
    markHosts: readonly string[],
    orderHosts: readonly string[],
    now: number,
    counted: <T>(call: ApiCall, run: () => Promise<T>) => Promise<T>,
    failed: (step: string, error: unknown, consequence: string) => void,
  ): Promise<string[]> {
    // Only hosts the controller waits on: reading a heartbeat is billed
    // per series, and the rest of the fleet shows in the census count.
    const hosts = [...new Set([...markHosts, ...orderHosts])].sort();
    if (config === undefined || hosts.length === 0) return [];
    try {
      const silent = await counted('silentHosts', () =>
        this.#options.metrics.silentHosts(
          hosts,
          now,
          config.fleet.silentAfterSeconds * 1000,
        ),
      );
      for (const host of silent) {
        this.#options.log.warn('agent silent', {
          host,
          silentAfterSeconds: config.fleet.silentAfterSeconds,
        });
      }
      return silent;
    } catch (error) {
      failed('silentHosts', error, 'silent agents are looked for next tick');
      return [];
    }
  }

  async #audit(
    tally: OutcomeTally,
    failed: (step: string, error: unknown, consequence: string) => void,
  ): Promise<void> {
    if (tally.audit.length === 0) return;
    try {
      await this.#options.store.appendAudit(tally.audit);
    } catch (error) {
      failed('appendAudit', error, 'the marks themselves are recorded');
    }
  }

  #emitMetrics(
    report: TickReport,
    tally: OutcomeTally,
    decisions: readonly FleetDecision[],
  ): void {
    const names = CONTROLLER_METRIC_NAMES;
    const { sink } = this.#options;
    const budget = decisions.filter(
      (d) =>
        d.kind === 'defer' &&
        (d.cause === 'host-budget' || d.cause === 'fleet-budget'),
    ).length;
    sink.count(names.gracefulActions, tally.gracefulActions);
    sink.count(names.forcedKills, tally.forcedKills);
    sink.count(names.refusals, report.refusals);
    sink.count(names.budgetDeferrals, budget);
    sink.count(names.breakerOpen, report.openBreakers.length);
    sink.count(names.silentAgents, report.silentHosts.length);
  }
}

function countKinds(
  decisions: readonly FleetDecision[],
): Partial<Record<FleetDecisionKind, number>> {
  const counts: Partial<Record<FleetDecisionKind, number>> = {};
  for (const { kind } of decisions) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

function describe(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}`
    : String(error);
}
