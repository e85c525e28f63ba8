/**
 * The pure half of reading the fleet's metrics: time windows, the
 * Metrics Insights queries, how a series' label names its host and app,
 * and which datapoint counts. cloudwatch-fleet-metrics.ts does the calls.
 */
import {
  DIMENSION_NAMES,
  METRIC_NAMESPACE,
  type MetricName,
} from '../../core/metric-schema.ts';
import { ORDER_PARAMETER_PATTERNS } from '../../core/order-codec.ts';

export const MINUTE_MS = 60_000;

/** Metrics Insights reads only the newest three hours. */
export const INSIGHTS_MAX_RANGE_MS = 3 * 3_600_000;
/** Series one Insights query returns at most. */
export const INSIGHTS_MAX_SERIES = 500;
/** Queries in one GetMetricData call without an Insights query. */
export const MAX_QUERIES_PER_CALL = 500;

export interface TimeRange {
  /** Epoch ms, inclusive. */
  readonly start: number;
  /** Epoch ms, exclusive. */
  readonly end: number;
}

/**
 * The last `windowMs`, ending with the minute now is in: the newest
 * minute is still filling, but whatever of it is readable already counts
 * (a crossing is published at once, and becomes readable 30-90 s later).
 */
export function troubleRange(now: number, windowMs: number): TimeRange {
  const end = Math.floor(now / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  return { start: end - windowMs, end };
}

/**
 * The newest census interval whose data must all be readable by now:
 * it ended at least `settleMs` ago. Intervals are aligned to the epoch,
 * so every tick within one interval reads the same window.
 */
export function censusRange(
  now: number,
  intervalMs: number,
  settleMs: number,
): TimeRange {
  const end = Math.floor((now - settleMs) / intervalMs) * intervalMs;
  return { start: end - intervalMs, end };
}

/** Whole minutes covering the last `silentAfterMs`, as one period. */
export function heartbeatRange(now: number, silentAfterMs: number): TimeRange {
  const end = Math.ceil(now / MINUTE_MS) * MINUTE_MS;
  const span = Math.ceil(silentAfterMs / MINUTE_MS) * MINUTE_MS;
  return { start: end - span, end };
}

export type InsightsFunction = 'MAX' | 'SUM' | 'COUNT';

/**
 * One query over the per-host detail series of one metric. Only hosts in
 * trouble publish series with exactly the App and Host dimensions, so
 * this analyses them and nothing else. `ORDER BY … LIMIT` keeps the 500
 * worst if ever more are in trouble at once; Insights orders by the
 * function over the whole range, so a series that cleared a minute ago
 * may still take a place (its newest datapoint then reads 0).
 */
export function troubleQuery(
  metric: MetricName,
  fn: InsightsFunction,
  namespace: string = METRIC_NAMESPACE,
): string {
  const { host, app } = DIMENSION_NAMES;
  return (
    `SELECT ${fn}(${metric}) ` +
    `FROM SCHEMA("${checkedNamespace(namespace)}", ${host}, ${app}) ` +
    `GROUP BY ${host}, ${app} ` +
    `ORDER BY ${fn}() DESC LIMIT ${INSIGHTS_MAX_SERIES}`
  );
}

/**
 * The label each grouped series comes back with: the host, one space,
 * the app. An instance id never holds a space and an app name may, so
 * the first space is the only split that cannot go wrong.
 */
export const TROUBLE_LABEL =
  `\${PROP('Dim.${DIMENSION_NAMES.host}')} ` +
  `\${PROP('Dim.${DIMENSION_NAMES.app}')}`;

const INSTANCE_ID = new RegExp(ORDER_PARAMETER_PATTERNS.instanceId);

export interface HostApp {
  readonly host: string;
  readonly app: string;
}

/**
 * Reads a TROUBLE_LABEL back. Undefined for anything else, including a
 * host that is not an instance id: no order could reach it, and a label
 * that does not read cleanly is not a basis for action.
 */
export function parseTroubleLabel(label: string): HostApp | undefined {
  const space = label.indexOf(' ');
  if (space < 0) return undefined;
  const host = label.slice(0, space);
  const app = label.slice(space + 1);
  if (!INSTANCE_ID.test(host) || app.trim() === '') return undefined;
  return { host, app };
}

/** Datapoints of one series, gathered over every page. */
export interface SeriesPoints {
  readonly timestamps: number[];
  readonly values: number[];
}

export interface Datapoint {
  /** Epoch ms of the period's start. */
  readonly at: number;
  readonly value: number;
}

/**
 * The datapoint with the latest timestamp, whatever order the pages came
 * in (ScanBy defaults to newest first, but nothing here depends on it).
 */
export function newestDatapoint(
  series: SeriesPoints | undefined,
): Datapoint | undefined {
  if (series === undefined) return undefined;
  let newest: Datapoint | undefined;
  series.timestamps.forEach((at, index) => {
    const value = series.values[index];
    if (value === undefined || !Number.isFinite(value)) return;
    if (newest === undefined || at > newest.at) newest = { at, value };
  });
  return newest;
}

/** Appends one page's datapoints of one series to what came before. */
export function addPoints(
  gathered: Map<string, SeriesPoints>,
  key: string,
  timestamps: readonly Date[] | undefined,
  values: readonly number[] | undefined,
): void {
  const series = gathered.get(key) ?? { timestamps: [], values: [] };
  gathered.set(key, series);
  const count = Math.min(timestamps?.length ?? 0, values?.length ?? 0);
  for (let index = 0; index < count; index++) {
    const at = timestamps?.[index];
    const value = values?.[index];
    if (at === undefined || value === undefined) continue;
    series.timestamps.push(at.getTime());
    series.values.push(value);
  }
}

/**
 * CloudWatch allows letters, digits and `.-_/#:` in a namespace; the
 * Insights query quotes it, so nothing else may reach the query text.
 */
export function checkedNamespace(namespace: string): string {
  if (!/^[A-Za-z0-9.\-_/#:]{1,255}$/.test(namespace)) {
    throw new RangeError(
      'namespace must be 1 to 255 letters, digits or .-_/#: ' +
        `(got ${JSON.stringify(namespace)})`,
    );
  }
  return namespace;
}

/** Splits a list into runs of at most `size`. */
export function batchesOf<T>(items: readonly T[], size: number): T[][] {
  const batches: T[][] = [];
  for (let index = 0; index < items.length; index += size) {
    batches.push(items.slice(index, index + size));
  }
  return batches;
}
