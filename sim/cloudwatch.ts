/**
 * CloudWatch in memory, as the fleet simulator needs it: the agents'
 * metrics port on one side, the controller's FleetMetricsReader on the
 * other, and in between the delay before a datapoint can be read (30 to
 * 90 s in the targets; a new metric can take up to 2 minutes).
 *
 * Puts go through the agent's own InMemoryMetrics, which counts requests
 * (batched as the real adapter batches) and series-hours; it is rolled
 * over every virtual hour so that a long run does not keep every datum.
 *
 * Reads answer what lambdas/aws/cloudwatch-fleet-metrics.ts would get
 * from CloudWatch, over the same time ranges (its metric-reading.ts
 * helpers), and are counted as that adapter's plan calls and CloudWatch
 * bills them:
 *
 *   readTrouble   3 GetMetricData calls, one Insights query each (MAX of
 *                 WorkersOverLimit, OrphanSuspects, WorkerMemoryMb over
 *                 SCHEMA(ns, Host, App)); every series of that schema
 *                 with data in the range is a metric analysed
 *   readCensus    once per census interval: one ListMetrics page, then
 *                 2 × apps + 1 MetricStat queries, 500 a call
 *   silentHosts   one MetricStat query per host, 500 a call
 *
 * Datapoints are per minute: two data of one series in one minute are
 * one datapoint (Maximum of both, SampleCount summed).
 */
import {
  DIMENSION_NAMES,
  METRIC_NAMES,
  type MetricDatum,
} from '../core/metric-schema.ts';
import {
  InMemoryMetrics,
  type MetricsUsage,
} from '../agent/metrics/in-memory-metrics.ts';
import type { MetricsPort, PutOptions } from '../agent/metrics/metrics-port.ts';
import type {
  FleetCensus,
  FleetMetricsReader,
  HostAppTrouble,
} from '../lambdas/ports/fleet-metrics.ts';
import {
  censusRange,
  heartbeatRange,
  MAX_QUERIES_PER_CALL,
  MINUTE_MS,
  troubleRange,
  type TimeRange,
} from '../lambdas/aws/metric-reading.ts';
import type { SeededRandom } from './random.ts';

/** Insights queries per readTrouble: one per detail metric. */
export { MAX_QUERIES_PER_CALL };
const TROUBLE_METRICS = [
  METRIC_NAMES.workersOverLimit,
  METRIC_NAMES.orphanSuspects,
  METRIC_NAMES.workerMemory,
] as const;
const LIST_METRICS_PAGE = 500;
export const TROUBLE_QUERIES = TROUBLE_METRICS.length;

export interface SimCloudWatchOptions {
  readonly clock: () => number;
  readonly random: SeededRandom;
  /** Each datapoint becomes readable this long after its put. */
  readonly readableAfterMs: readonly [number, number];
  /** How far back readTrouble looks. Default 5 minutes. */
  readonly troubleWindowMs?: number;
  /** The agents' census interval. Default 5 minutes. */
  readonly censusIntervalMs?: number;
  /** A census interval is read this long after its end. Default 3 min. */
  readonly censusSettleMs?: number;
}

export interface ReadUsage {
  readonly getMetricDataCalls: number;
  /** readTrouble calls, each TROUBLE_QUERIES GetMetricData calls. */
  readonly troubleReads: number;
  /** GetMetricData calls of census reads. */
  readonly censusCalls: number;
  /** Hosts whose heartbeat was asked about, one query each. */
  readonly heartbeatQueries: number;
  readonly listMetricsCalls: number;
  /** MetricStat queries, billed like metrics analysed. */
  readonly metricsRequested: number;
  readonly metricsAnalysed: number;
  readonly datapointsRead: number;
}

export interface CloudWatchUsage extends ReadUsage {
  readonly putRequests: number;
  readonly seriesHours: number;
  readonly data: number;
  readonly values: number;
}

interface Point {
  /** The datum's timestamp, cut to its minute. */
  readonly minute: number;
  readonly readableAt: number;
  readonly max: number;
  readonly count: number;
}

/** Newest points last; points older than any window are pruned. */
type Series = Point[];

export class SimCloudWatch implements MetricsPort, FleetMetricsReader {
  readonly #options: SimCloudWatchOptions;
  readonly #metrics: InMemoryMetrics;
  readonly #troubleWindowMs: number;
  readonly #censusIntervalMs: number;
  readonly #censusSettleMs: number;
  /** `${metric}|${app}|${host}` for the detail series. */
  readonly #detail = new Map<string, Series>();
  /** `${metric}|${app}` for the per-app census series. */
  readonly #perApp = new Map<string, Series>();
  readonly #fleetHeartbeat: Series = [];
  readonly #hostHeartbeat = new Map<string, Series>();
  /** Usage of InMemoryMetrics periods already rolled over. */
  #rolled: MetricsUsage | undefined;
  #census: { end: number; census: FleetCensus } | undefined;
  #calls = 0;
  #troubleReads = 0;
  #censusCalls = 0;
  #heartbeatQueries = 0;
  #lists = 0;
  #requested = 0;
  #analysed = 0;
  #datapoints = 0;
  #lastPruneAt = -Infinity;

  constructor(options: SimCloudWatchOptions) {
    this.#options = options;
    this.#metrics = new InMemoryMetrics({ clock: options.clock });
    this.#troubleWindowMs = options.troubleWindowMs ?? 5 * MINUTE_MS;
    this.#censusIntervalMs = options.censusIntervalMs ?? 5 * MINUTE_MS;
    this.#censusSettleMs = options.censusSettleMs ?? 3 * MINUTE_MS;
  }

  async put(data: readonly MetricDatum[], options?: PutOptions) {
    await this.#metrics.put(data, options);
    const [low, high] = this.#options.readableAfterMs;
    const readableAt =
      this.#options.clock() + this.#options.random.between(low, high);
    for (const datum of data) this.#index(datum, readableAt);
  }

  /**
   * Starts a new counting period in InMemoryMetrics, keeping the totals:
   * call on the hour, so that no series-hour is counted in two periods.
   */
  rollOver(): void {
    this.#rolled = sumUsage(this.#rolled, this.#metrics.usage());
    this.#metrics.reset();
    this.#prune(this.#options.clock());
  }

  usage(): CloudWatchUsage {
    const puts = sumUsage(this.#rolled, this.#metrics.usage());
    return {
      putRequests: puts.requests,
      seriesHours: puts.seriesHours,
      data: puts.data,
      values: puts.values,
      getMetricDataCalls: this.#calls,
      troubleReads: this.#troubleReads,
      censusCalls: this.#censusCalls,
      heartbeatQueries: this.#heartbeatQueries,
      listMetricsCalls: this.#lists,
      metricsRequested: this.#requested,
      metricsAnalysed: this.#analysed,
      datapointsRead: this.#datapoints,
    };
  }

  async readTrouble(now: number): Promise<HostAppTrouble[]> {
    this.#maybePrune(now);
    this.#troubleReads++;
    const range = troubleRange(now, this.#troubleWindowMs);
    const newest = new Map<string, Partial<Record<string, Minute>>>();
    for (const metric of TROUBLE_METRICS) {
      this.#calls++;
      for (const [key, series] of this.#detail) {
        if (!key.startsWith(`${metric}|`)) continue;
        if (!series.some((p) => inRange(p, range))) continue;
        this.#analysed++;
        const minutes = readableMinutes(series, range, now);
        this.#datapoints += minutes.length;
        const last = minutes.at(-1);
        if (last === undefined) continue;
        const where = key.slice(metric.length + 1);
        newest.set(where, { ...newest.get(where), [metric]: last });
      }
    }
    const trouble: HostAppTrouble[] = [];
    for (const [where, points] of newest) {
      const [app = '', host = ''] = where.split('|');
      const over = points[METRIC_NAMES.workersOverLimit];
      const orphans = points[METRIC_NAMES.orphanSuspects];
      const workersOverLimit = over?.max ?? 0;
      const orphanSuspects = orphans?.max ?? 0;
      if (workersOverLimit <= 0 && orphanSuspects <= 0) continue;
      trouble.push({
        host,
        app,
        workersOverLimit,
        orphanSuspects,
        maxWorkerMb: points[METRIC_NAMES.workerMemory]?.max ?? null,
        at: Math.max(over?.minute ?? 0, orphans?.minute ?? 0),
      });
    }
    return trouble.sort(
      (a, b) => compare(a.host, b.host) || compare(a.app, b.app),
    );
  }

  async readCensus(now: number): Promise<FleetCensus> {
    this.#maybePrune(now);
    const range = censusRange(
      now,
      this.#censusIntervalMs,
      this.#censusSettleMs,
    );
    if (this.#census?.end === range.end) return this.#census.census;

    const apps = new Set<string>();
    for (const key of this.#perApp.keys()) {
      if (key.startsWith(`${METRIC_NAMES.appHosts}|`)) {
        apps.add(key.slice(METRIC_NAMES.appHosts.length + 1));
      }
    }
    this.#lists += Math.max(1, Math.ceil(apps.size / LIST_METRICS_PAGE));
    const queries = 2 * apps.size + 1;
    const calls = Math.ceil(queries / MAX_QUERIES_PER_CALL);
    this.#calls += calls;
    this.#censusCalls += calls;
    this.#requested += queries;
    const sampleCount = (series: Series | undefined) => {
      const minutes = readableMinutes(series ?? [], range, now);
      this.#datapoints += minutes.length > 0 ? 1 : 0;
      return minutes.reduce((sum, m) => sum + m.count, 0);
    };
    const census: FleetCensus = {
      apps: [...apps].sort(compare).map((app) => ({
        app,
        hosts: sampleCount(this.#perApp.get(`${METRIC_NAMES.appHosts}|${app}`)),
        workers: sampleCount(
          this.#perApp.get(`${METRIC_NAMES.workerMemory}|${app}`),
        ),
      })),
      agents: sampleCount(this.#fleetHeartbeat),
      at: range.end,
    };
    this.#census = { end: range.end, census };
    return census;
  }

  async silentHosts(
    hosts: readonly string[],
    now: number,
    silentAfterMs: number,
  ): Promise<string[]> {
    this.#maybePrune(now);
    const unique = [...new Set(hosts)];
    this.#calls += Math.ceil(unique.length / MAX_QUERIES_PER_CALL);
    this.#requested += unique.length;
    this.#heartbeatQueries += unique.length;
    const range = heartbeatRange(now, silentAfterMs);
    return unique.filter((host) => {
      const beats = readableMinutes(
        this.#hostHeartbeat.get(host) ?? [],
        range,
        now,
      );
      this.#datapoints += beats.length > 0 ? 1 : 0;
      return beats.length === 0;
    });
  }

  #index(datum: MetricDatum, readableAt: number): void {
    const app = datum.dimensions.find(
      (d) => d.name === DIMENSION_NAMES.app,
    )?.value;
    const host = datum.dimensions.find(
      (d) => d.name === DIMENSION_NAMES.host,
    )?.value;
    const point: Point = {
      minute: Math.floor(datum.timestamp / MINUTE_MS) * MINUTE_MS,
      readableAt,
      max: Math.max(...datum.values),
      count: datum.values.length,
    };
    if (datum.name === METRIC_NAMES.heartbeat) {
      if (host === undefined) this.#fleetHeartbeat.push(point);
      else seriesIn(this.#hostHeartbeat, host).push(point);
      return;
    }
    if (app === undefined) return;
    if (host === undefined) {
      seriesIn(this.#perApp, `${datum.name}|${app}`).push(point);
    } else {
      seriesIn(this.#detail, `${datum.name}|${app}|${host}`).push(point);
    }
  }

  #maybePrune(now: number): void {
    if (now - this.#lastPruneAt >= 10 * MINUTE_MS) this.#prune(now);
  }

  /** Keeps what any range can still reach; heartbeats for longer. */
  #prune(now: number): void {
    this.#lastPruneAt = now;
    const keepFrom =
      now -
      this.#censusSettleMs -
      2 * Math.max(this.#troubleWindowMs, this.#censusIntervalMs);
    for (const map of [this.#detail, this.#perApp]) {
      for (const [key, series] of map) {
        const kept = series.filter((p) => p.minute >= keepFrom);
        if (kept.length === 0) map.delete(key);
        else map.set(key, kept);
      }
    }
    const fleet = this.#fleetHeartbeat.filter((p) => p.minute >= keepFrom);
    this.#fleetHeartbeat.splice(0, this.#fleetHeartbeat.length, ...fleet);
    // A host's heartbeat comes every few hours: keep its last few.
    for (const [host, series] of this.#hostHeartbeat) {
      if (series.length > 4) this.#hostHeartbeat.set(host, series.slice(-4));
    }
  }
}

interface Minute {
  readonly minute: number;
  readonly max: number;
  readonly count: number;
}

function inRange(point: Point, range: TimeRange): boolean {
  return point.minute >= range.start && point.minute < range.end;
}

/** The readable datapoints of the range, one per minute, oldest first. */
function readableMinutes(
  series: Series,
  range: TimeRange,
  now: number,
): Minute[] {
  const minutes = new Map<number, { max: number; count: number }>();
  for (const point of series) {
    if (!inRange(point, range) || point.readableAt > now) continue;
    const seen = minutes.get(point.minute);
    minutes.set(point.minute, {
      max: Math.max(seen?.max ?? -Infinity, point.max),
      count: (seen?.count ?? 0) + point.count,
    });
  }
  return [...minutes.entries()]
    .sort(([a], [b]) => a - b)
    .map(([minute, figures]) => ({ minute, ...figures }));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function seriesIn<K>(map: Map<K, Series>, key: K): Series {
  let series = map.get(key);
  if (series === undefined) {
    series = [];
    map.set(key, series);
  }
  return series;
}

function sumUsage(a: MetricsUsage | undefined, b: MetricsUsage): MetricsUsage {
  if (a === undefined) return b;
  return {
    puts: a.puts + b.puts,
    urgentPuts: a.urgentPuts + b.urgentPuts,
    requests: a.requests + b.requests,
    data: a.data + b.data,
    values: a.values + b.values,
    series: Math.max(a.series, b.series),
    seriesHours: a.seriesHours + b.seriesHours,
    failedPuts: a.failedPuts + b.failedPuts,
  };
}
