/**
 * The fleet agent's loop: sample this host every few seconds and publish
 * what the controller needs, at the cadence of core/publish-cadence.ts.
 * The loop never acts on a worker: the controller decides, and its orders
 * come through SSM (`passenger-fleet execute`); beside it, the daemon only
 * keeps deadlines whose `execute` died (deadline-handover.ts).
 *
 *   every interval:
 *     config ── none yet ──> the per-host heartbeat only, when due
 *       │
 *     sample /proc (Passenger's pool only when it can change a figure)
 *     hostFigures → planPublish → buffer.publish (not awaited)
 *     data still held a minute after the last try → buffer.flush
 *
 * Reading the pool costs 100-200 ms of CPU, so it is read only when a
 * worker is over its limit (a detached worker must not count as over),
 * when the last figures had orphan suspects, and every `poolEveryTicks`
 * ticks to find new suspects. Memory stays bounded: the buffer has its
 * own bound, and the loop keeps only the cadence state and one sentence.
 */
import type { FleetConfig } from '../core/config.ts';
import {
  hostFigures,
  metricData,
  type HostFigures,
} from '../core/metric-schema.ts';
import { overLimit } from '../core/policy.ts';
import {
  DEFAULT_CADENCE,
  INITIAL_CADENCE,
  planPublish,
  type CadenceOptions,
  type CadenceState,
} from '../core/publish-cadence.ts';
import type { Sample } from './collector.ts';
import type { EventLog } from './decision-log.ts';
import type { PublishBuffer } from './metrics/publish-buffer.ts';

export interface AgentLoopOptions {
  /** The instance id: the `Host` dimension and every identity's host. */
  readonly host: string;
  /** One look at the host; the pool is read only when asked. */
  readonly sample: (readPool: boolean) => Promise<Sample>;
  /** The fleet config, or undefined before a first good read. */
  readonly config: { current(): Promise<FleetConfig | undefined> };
  readonly buffer: Pick<PublishBuffer, 'publish' | 'flush' | 'stats'>;
  /** Epoch ms. */
  readonly clock: () => number;
  /** Resolves after `ms`, or at once when `stop` is aborted. */
  readonly sleep: (ms: number) => Promise<void>;
  readonly stop: AbortSignal;
  readonly intervalMs: number;
  readonly log: Pick<EventLog, 'info' | 'warn' | 'error'>;
  readonly cadence?: CadenceOptions;
  /** Retry held data this often. @default 60000 */
  readonly flushEveryMs?: number;
  /** Read the pool at least every this many ticks. @default 12 */
  readonly poolEveryTicks?: number;
  /** Log what would be published, publish nothing. */
  readonly dryRun?: boolean;
  /** For tests: stop after this many ticks. */
  readonly maxTicks?: number;
}

export interface AgentLoopSummary {
  readonly ticks: number;
  readonly publishes: number;
}

/** Runs until `stop` is aborted (or `maxTicks`); never throws. */
export async function runAgentLoop(
  options: AgentLoopOptions,
): Promise<AgentLoopSummary> {
  const tick = new AgentTick(options);
  let ticks = 0;
  while (!options.stop.aborted && ticks < (options.maxTicks ?? Infinity)) {
    const startedAt = options.clock();
    try {
      await tick.run();
    } catch (error) {
      // a bug in one tick must not end the daemon: the next may work
      options.log.error('agent tick failed', {
        event: 'tick-failed',
        error: error instanceof Error ? error.message : String(error),
      });
    }
    ticks++;
    const elapsed = options.clock() - startedAt;
    if (options.stop.aborted) break;
    await options.sleep(Math.max(0, options.intervalMs - elapsed));
  }
  return { ticks, publishes: tick.publishes };
}

class AgentTick {
  publishes = 0;
  readonly #options: AgentLoopOptions;
  readonly #cadence: CadenceOptions;
  readonly #flushEveryMs: number;
  readonly #poolEveryTicks: number;
  #state: CadenceState = INITIAL_CADENCE;
  #ticksSincePool = Infinity;
  #hadSuspects = false;
  #lastFlushAt = -Infinity;
  #lastProblems = '';

  constructor(options: AgentLoopOptions) {
    this.#options = options;
    this.#cadence = options.cadence ?? DEFAULT_CADENCE;
    this.#flushEveryMs = options.flushEveryMs ?? 60_000;
    this.#poolEveryTicks = options.poolEveryTicks ?? 12;
  }

  async run(): Promise<void> {
    const config = await this.#options.config.current();
    const now = this.#options.clock();
    if (config === undefined) {
      this.#heartbeatOnly(now);
    } else {
      const sample = await this.#sample(config);
      this.#noteProblems(sample.problems);
      const figures = hostFigures(
        sample.observation,
        config,
        this.#options.host,
      );
      this.#hadSuspects = figures.apps.some(
        (app) => app.orphanSuspects.length > 0,
      );
      this.#publish(figures, now);
    }
    this.#flushWhenDue(now);
  }

  async #sample(config: FleetConfig): Promise<Sample> {
    this.#ticksSincePool++;
    const cheap = await this.#options.sample(false);
    const breach = cheap.observation.workers.some(
      (worker) => overLimit(worker, config) !== undefined,
    );
    const poolDue = this.#ticksSincePool >= this.#poolEveryTicks;
    if (!breach && !poolDue && !this.#hadSuspects) return cheap;
    this.#ticksSincePool = 0;
    return this.#options.sample(true);
  }

  /** Without a config no limit is known: only say the agent lives. */
  #heartbeatOnly(now: number): void {
    const empty: HostFigures = { host: this.#options.host, at: now, apps: [] };
    const plan = planPublish(this.#state, empty, now, this.#cadence);
    if (!plan.publish || !plan.heartbeat) return;
    this.#state = {
      ...this.#state,
      lastPublishAt: now,
      lastHeartbeatAt: now,
    };
    const selection = { census: false, heartbeat: true, detailApps: [] };
    this.#send(metricData(empty, selection), false, 'heartbeat, no config');
  }

  #publish(figures: HostFigures, now: number): void {
    const plan = planPublish(this.#state, figures, now, this.#cadence);
    if (!plan.publish) return;
    this.#state = plan.state;
    this.#send(metricData(figures, plan), plan.urgent, plan.reason);
  }

  #send(
    data: ReturnType<typeof metricData>,
    urgent: boolean,
    reason: string,
  ): void {
    this.publishes++;
    const fields = { event: 'publish', data: data.length, urgent, reason };
    if (this.#options.dryRun) {
      this.#options.log.info('dry run: metrics not sent', fields);
      return;
    }
    this.#options.log.info('metrics published', fields);
    // the sampling loop never waits for CloudWatch; the buffer holds
    this.#lastFlushAt = this.#options.clock();
    void this.#options.buffer.publish(data, { urgent });
  }

  #flushWhenDue(now: number): void {
    if (this.#options.buffer.stats().held === 0) return;
    if (now - this.#lastFlushAt < this.#flushEveryMs) return;
    this.#lastFlushAt = now;
    void this.#options.buffer.flush();
  }

  /** One warning when what could not be read changes, not every tick. */
  #noteProblems(problems: readonly string[]): void {
    const text = problems.join('; ').slice(0, 4_000);
    if (text === this.#lastProblems) return;
    this.#lastProblems = text;
    if (text === '') return;
    this.#options.log.warn(`sample incomplete: ${problems[0]}`, {
      event: 'sample-problems',
      problems: problems.length,
    });
  }
}
