/**
 * Holds metric data while CloudWatch cannot be reached, within bounds.
 *
 * Past `maxData` the oldest data go first, and so does anything older
 * than `maxAgeMs`: the controller reads minutes back, so old figures only
 * cost memory. Every datum lost is counted, and the count goes out as
 * PublishDropped{Host} with the first put that gets through.
 *
 * One put at a time: data handed in while a put is under way wait for the
 * next round of the same flush, so a slow or jittered put never makes the
 * sampling loop wait, and never doubles the calls.
 */
import { droppedDatum, type MetricDatum } from '../../core/metric-schema.ts';
import type { EventLog } from '../decision-log.ts';
import { MetricsPutError, type MetricsPort } from './metrics-port.ts';

export interface PublishBufferOptions {
  readonly port: MetricsPort;
  /** The `Host` dimension value for PublishDropped. */
  readonly host: string;
  /** Epoch ms. */
  readonly clock: () => number;
  /** Default 5,000 data (a few MB at most). */
  readonly maxData?: number;
  /** Default 2 hours. */
  readonly maxAgeMs?: number;
  readonly log?: Pick<EventLog, 'warn' | 'info'>;
}

export type FlushStatus =
  /** Everything held went out. */
  | 'delivered'
  /** CloudWatch could not be reached; the data wait for the next try. */
  | 'held'
  /** CloudWatch refused the data itself; they were dropped and counted. */
  | 'refused'
  /**
   * A put was already under way: these data go out in its next round, or
   * with the next publish or flush if it fails.
   */
  | 'joined';

export interface BufferStats {
  readonly held: number;
  readonly delivered: number;
  /** Lost since the last PublishDropped that got through. */
  readonly droppedUnreported: number;
  readonly droppedTotal: number;
}

export class PublishBuffer {
  readonly #options: PublishBufferOptions;
  readonly #maxData: number;
  readonly #maxAgeMs: number;
  #held: MetricDatum[] = [];
  #urgent = false;
  #flushing = false;
  #delivered = 0;
  #droppedUnreported = 0;
  #droppedTotal = 0;

  constructor(options: PublishBufferOptions) {
    this.#options = options;
    this.#maxData = options.maxData ?? 5_000;
    this.#maxAgeMs = options.maxAgeMs ?? 2 * 3_600_000;
    if (!Number.isInteger(this.#maxData) || this.#maxData < 1) {
      throw new RangeError(
        `maxData must be a whole number of at least 1 (got ${this.#maxData})`,
      );
    }
  }

  /** Adds the data and tries to send everything held. Never throws. */
  async publish(
    data: readonly MetricDatum[],
    options: { urgent?: boolean } = {},
  ): Promise<FlushStatus> {
    this.#held.push(...data);
    this.#urgent ||= options.urgent ?? false;
    this.#trim();
    return this.flush();
  }

  /** Sends what is held; for a retry when nothing new is due. */
  async flush(): Promise<FlushStatus> {
    if (this.#flushing) return 'joined';
    this.#flushing = true;
    try {
      let status: FlushStatus = 'delivered';
      while (status === 'delivered' && this.#pending()) {
        status = await this.#putOnce();
      }
      return status;
    } finally {
      this.#flushing = false;
    }
  }

  stats(): BufferStats {
    return {
      held: this.#held.length,
      delivered: this.#delivered,
      droppedUnreported: this.#droppedUnreported,
      droppedTotal: this.#droppedTotal,
    };
  }

  #pending(): boolean {
    return this.#held.length > 0 || this.#droppedUnreported > 0;
  }

  async #putOnce(): Promise<FlushStatus> {
    const now = this.#options.clock();
    this.#dropOlderThan(now - this.#maxAgeMs);
    const batch = this.#held;
    const urgent = this.#urgent;
    const reported = this.#droppedUnreported;
    this.#held = [];
    this.#urgent = false;
    const report =
      reported > 0 ? droppedDatum(this.#options.host, reported, now) : null;
    const payload = report === null ? batch : [...batch, report];
    if (payload.length === 0) return 'delivered';

    try {
      await this.#options.port.put(payload, { urgent });
      this.#delivered += batch.length;
      this.#droppedUnreported -= reported;
      return 'delivered';
    } catch (error) {
      const undelivered =
        error instanceof MetricsPutError
          ? error.undelivered.filter((d) => d !== report)
          : batch;
      this.#delivered += batch.length - undelivered.length;
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof MetricsPutError && !error.retryable) {
        this.#drop(undelivered.length);
        this.#options.log?.warn(
          `CloudWatch refused ${undelivered.length} metric data; dropped`,
          { event: 'metrics-refused', error: message },
        );
        return 'refused';
      }
      // Older than anything that came in meanwhile: back to the front.
      this.#held = [...undelivered, ...this.#held];
      this.#urgent ||= urgent;
      this.#trim();
      this.#options.log?.warn(
        `metrics held (${this.#held.length} data) until CloudWatch answers`,
        { event: 'metrics-held', error: message },
      );
      return 'held';
    }
  }

  #trim(): void {
    const excess = this.#held.length - this.#maxData;
    if (excess <= 0) return;
    this.#held = this.#held.slice(excess);
    this.#drop(excess);
  }

  #dropOlderThan(cutoff: number): void {
    const kept = this.#held.filter((d) => d.timestamp >= cutoff);
    this.#drop(this.#held.length - kept.length);
    this.#held = kept;
  }

  #drop(count: number): void {
    this.#droppedUnreported += count;
    this.#droppedTotal += count;
  }
}
