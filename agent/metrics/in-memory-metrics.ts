/**
 * The metrics port in memory, counting what CloudWatch would bill: each
 * PutMetricData request (batched as the real adapter batches), each
 * datum and value, and each series-hour (a series is billed for every
 * hour in which it has data). The fleet simulator prices these counts;
 * tests read back what was sent and can take CloudWatch away.
 */
import {
  MAX_VALUES_PER_DATUM,
  METRIC_NAMESPACE,
  seriesKey,
  type MetricDatum,
} from '../../core/metric-schema.ts';
import {
  MetricsPutError,
  type MetricsPort,
  type PutOptions,
} from './metrics-port.ts';
import { putBatches } from './put-batches.ts';

const HOUR_MS = 3_600_000;

export interface MetricsUsage {
  /** put() calls that delivered. */
  readonly puts: number;
  /** Of those, sent urgent. */
  readonly urgentPuts: number;
  /** PutMetricData requests those puts amount to. */
  readonly requests: number;
  readonly data: number;
  /** Single figures: a datum with 8 Values counts 8. */
  readonly values: number;
  /** Distinct series (namespace, name, dimensions). */
  readonly series: number;
  /** Distinct (series, hour of the datum's timestamp) pairs. */
  readonly seriesHours: number;
  /** put() calls that failed because CloudWatch was made unreachable. */
  readonly failedPuts: number;
}

export interface ReceivedDatum {
  readonly datum: MetricDatum;
  readonly key: string;
  /** Clock time of the put, to model data becoming readable later. */
  readonly receivedAt: number;
}

export interface InMemoryMetricsOptions {
  readonly namespace?: string;
  /** Epoch ms; Date.now by default. */
  readonly clock?: () => number;
}

export class InMemoryMetrics implements MetricsPort {
  readonly #namespace: string;
  readonly #clock: () => number;
  readonly #received: ReceivedDatum[] = [];
  readonly #series = new Set<string>();
  readonly #seriesHours = new Set<string>();
  #puts = 0;
  #urgentPuts = 0;
  #requests = 0;
  #values = 0;
  #failedPuts = 0;
  #unreachable = false;

  constructor(options: InMemoryMetricsOptions = {}) {
    this.#namespace = options.namespace ?? METRIC_NAMESPACE;
    this.#clock = options.clock ?? Date.now;
  }

  /** While true, every put fails as an unreachable CloudWatch would. */
  setUnreachable(unreachable: boolean): void {
    this.#unreachable = unreachable;
  }

  async put(
    data: readonly MetricDatum[],
    options: PutOptions = {},
  ): Promise<void> {
    if (this.#unreachable) {
      this.#failedPuts++;
      throw new MetricsPutError(
        `CloudWatch is unreachable; ${data.length} data not delivered`,
        data,
        true,
      );
    }
    const invalid = data.find(
      (d) =>
        d.values.length < 1 ||
        d.values.length > MAX_VALUES_PER_DATUM ||
        !d.values.every(Number.isFinite),
    );
    if (invalid !== undefined) {
      throw new MetricsPutError(
        `${invalid.name} carries ${invalid.values.length} value(s); ` +
          `CloudWatch takes 1 to ${MAX_VALUES_PER_DATUM} finite numbers`,
        data,
        false,
      );
    }
    if (data.length === 0) return;
    const now = this.#clock();
    this.#puts++;
    if (options.urgent) this.#urgentPuts++;
    this.#requests += putBatches(data).length;
    for (const datum of data) {
      const key = seriesKey(datum, this.#namespace);
      this.#received.push({ datum, key, receivedAt: now });
      this.#series.add(key);
      this.#seriesHours.add(`${key}@${Math.floor(datum.timestamp / HOUR_MS)}`);
      this.#values += datum.values.length;
    }
  }

  usage(): MetricsUsage {
    return {
      puts: this.#puts,
      urgentPuts: this.#urgentPuts,
      requests: this.#requests,
      data: this.#received.length,
      values: this.#values,
      series: this.#series.size,
      seriesHours: this.#seriesHours.size,
      failedPuts: this.#failedPuts,
    };
  }

  /** Everything delivered, in order. */
  received(): readonly ReceivedDatum[] {
    return this.#received;
  }

  /** Forget what was received and counted, as at a new billing period. */
  reset(): void {
    this.#received.length = 0;
    this.#series.clear();
    this.#seriesHours.clear();
    this.#puts = 0;
    this.#urgentPuts = 0;
    this.#requests = 0;
    this.#values = 0;
    this.#failedPuts = 0;
  }
}
