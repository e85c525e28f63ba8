/**
 * The agent daemon of one simulated host, publishing with the real code:
 * core/metric-schema.ts (`hostFigures`, `metricData`),
 * core/publish-cadence.ts (`planPublish`) and agent/metrics
 * (`PublishBuffer`) over the simulated CloudWatch.
 *
 * The agent samples every `sampleIntervalMs` on a grid. A sample can
 * only plan something when a census, heartbeat or trouble detail falls
 * due, when a worker crosses its limit, or when a worker in trouble is
 * detached or leaves (the world wakes the agent for those). Any other
 * sample plans "nothing due" and leaves the cadence state as it was, so
 * it is skipped: the next sample taken is the first grid point at or
 * after the earliest of those moments. The data published are exactly
 * those of sampling every time, at a fraction of the CPU, which is what
 * lets the bench run 10,000 hosts.
 */
import type { FleetConfig } from '../core/config.ts';
import { hostFigures, metricData } from '../core/metric-schema.ts';
import {
  DEFAULT_CADENCE,
  INITIAL_CADENCE,
  planPublish,
  type CadenceOptions,
  type CadenceState,
} from '../core/publish-cadence.ts';
import { PublishBuffer } from '../agent/metrics/publish-buffer.ts';
import type { MetricsPort } from '../agent/metrics/metrics-port.ts';
import type { Scheduler } from './clock.ts';
import type { SimHost, World } from './world.ts';

export interface AgentOptions {
  readonly sampleIntervalMs: number;
  readonly cadence?: CadenceOptions;
}

export interface AgentCounts {
  readonly samples: number;
  readonly publishes: number;
  readonly restarts: number;
}

export class SimAgent {
  readonly host: SimHost;
  readonly #world: World;
  readonly #scheduler: Scheduler;
  readonly #port: MetricsPort;
  readonly #config: FleetConfig;
  readonly #options: AgentOptions;
  readonly #cadence: CadenceOptions;
  #state: CadenceState = INITIAL_CADENCE;
  #buffer: PublishBuffer;
  #up = true;
  /** Grid origin; samples fall on origin + k × interval. */
  #origin: number;
  /** Bumped whenever the next sample is moved: older ones do nothing. */
  #generation = 0;
  #nextSampleAt = Infinity;
  #samples = 0;
  #publishes = 0;
  #restarts = 0;

  constructor(
    host: SimHost,
    world: World,
    scheduler: Scheduler,
    port: MetricsPort,
    config: FleetConfig,
    options: AgentOptions,
  ) {
    this.host = host;
    this.#world = world;
    this.#scheduler = scheduler;
    this.#port = port;
    this.#config = config;
    this.#options = options;
    this.#cadence = options.cadence ?? DEFAULT_CADENCE;
    this.#buffer = this.#newBuffer();
    // Agents started together still sample at different moments.
    this.#origin =
      scheduler.clock.now() + host.random.between(0, options.sampleIntervalMs);
  }

  get up(): boolean {
    return this.#up;
  }

  counts(): AgentCounts {
    return {
      samples: this.#samples,
      publishes: this.#publishes,
      restarts: this.#restarts,
    };
  }

  start(): void {
    this.#scheduleAt(this.#origin);
  }

  /**
   * The process dies: what it held (cadence state, buffered data) is
   * lost, and it comes back `downMs` later as a new process.
   */
  restart(downMs: number): void {
    if (!this.#up) return;
    this.#up = false;
    this.#restarts++;
    this.#generation++;
    this.#scheduler.after(downMs, () => {
      this.#up = true;
      this.#state = INITIAL_CADENCE;
      this.#buffer = this.#newBuffer();
      this.#origin = this.#scheduler.clock.now();
      this.#scheduleAt(this.#origin);
    });
  }

  /** The instance is gone: the agent never samples again. */
  stop(): void {
    this.#up = false;
    this.#generation++;
  }

  /** Something changed on the host that may need a sample sooner. */
  wake(at: number): void {
    if (!this.#up || at >= this.#nextSampleAt) return;
    this.#scheduleAt(this.#gridAtOrAfter(at));
  }

  async #sample(): Promise<void> {
    const now = this.#scheduler.clock.now();
    this.#samples++;
    const observation = this.#world.observation(this.host, now);
    const figures = hostFigures(observation, this.#config);
    const plan = planPublish(this.#state, figures, now, this.#cadence);
    this.#state = plan.state;
    if (plan.publish) {
      this.#publishes++;
      await this.#buffer.publish(metricData(figures, plan), {
        urgent: plan.urgent,
      });
    }
    const heldBack = !plan.publish && plan.reason !== 'nothing due';
    const next = heldBack
      ? now + this.#options.sampleIntervalMs
      : this.#gridAtOrAfter(this.#quietUntil(now));
    this.#scheduleAt(Math.max(next, now + this.#options.sampleIntervalMs));
  }

  /** The earliest moment a sample could plan something again. */
  #quietUntil(now: number): number {
    const state = this.#state;
    const due = (last: number | null, interval: number) =>
      last === null ? now : last + interval;
    let until = Math.min(
      due(state.lastCensusAt, this.#cadence.censusIntervalMs),
      due(state.lastHeartbeatAt, this.#cadence.heartbeatIntervalMs),
    );
    // Trouble shown last time: its detail (or the all-clear) comes again.
    if (Object.keys(state.shown).length > 0) {
      until = Math.min(
        until,
        due(state.lastDetailAt, this.#cadence.troubleIntervalMs),
      );
    }
    for (const worker of this.host.workers.values()) {
      if (worker.detachedAt !== null) continue;
      const breach = this.#world.breachAt(worker);
      // A breach older than one interval was seen by an earlier sample
      // (one sample late at most, when the figure rounded to the limit).
      if (breach !== null && breach > now - this.#options.sampleIntervalMs) {
        until = Math.min(until, Math.max(breach, now));
      }
    }
    return until;
  }

  #gridAtOrAfter(at: number): number {
    const interval = this.#options.sampleIntervalMs;
    const steps = Math.ceil((at - this.#origin) / interval);
    return this.#origin + Math.max(0, steps) * interval;
  }

  #scheduleAt(at: number): void {
    const generation = ++this.#generation;
    this.#nextSampleAt = at;
    this.#scheduler.at(at, async () => {
      if (generation !== this.#generation || !this.#up) return;
      await this.#sample();
    });
  }

  #newBuffer(): PublishBuffer {
    return new PublishBuffer({
      port: this.#port,
      host: this.host.id,
      clock: () => this.#scheduler.clock.now(),
    });
  }
}
