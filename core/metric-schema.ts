/**
 * What an agent publishes to CloudWatch, designed around what it costs.
 *
 * Reading is the expensive side: a series read every minute costs more
 * than storing it, and every series is billed for each hour it has data.
 * So nothing here names a process (a pid in a dimension would open a new
 * billable series at every worker restart), and a host publishes series
 * of its own only while it has something the controller must act on.
 *
 * Namespace `PassengerFleet`; dimension `App` is the app's short name
 * (`shop` for `/data/shop/current`), `Host` the EC2 instance id, which is
 * also what SSM Run Command targets.
 *
 *   metric            dimensions   values              sent
 *   WorkerMemoryMb    App, Host    every worker's MB   detail
 *   WorkersOverLimit  App, Host    count on the host   detail
 *   OrphanSuspects    App, Host    count on the host   detail
 *   WorkerMemoryMb    App          every worker's MB   census
 *   WorkersOverLimit  App          count on the host   census and detail
 *   OrphanSuspects    App          count on the host   census and detail
 *   AppHosts          App          1                   census
 *   AgentHeartbeat    (none)       1                   census
 *   AgentHeartbeat    Host         1                   heartbeat
 *   PublishDropped    Host         datums lost         after an outage
 *
 * Census: every host, once per census interval (core/publish-cadence.ts).
 * Each host sends one census per interval, so over one census interval
 * SampleCount of AgentHeartbeat is the number of live agents, of
 * AppHosts{App} the hosts running the app, and WorkerMemoryMb{App} gives
 * the fleet's max, total and worker count.
 * WorkersOverLimit{App} and OrphanSuspects{App} also go out with every
 * detail publish so alarms see a breach at once: read their Maximum.
 *
 * Detail: only for an app with a worker over its limit or an orphan
 * suspect on this host, every minute and at once on a new one, and once
 * more when it clears. One series carries every worker's figure, so max,
 * total and count come from it alone; beyond 150 workers the figures are
 * split over several data with the same dimensions and time. A minute
 * that holds an at-once publish besides the regular one has two samples:
 * its Maximum stays right, its Sum and SampleCount double. A controller
 * reading `SCHEMA(PassengerFleet, App, Host)` therefore analyses only the
 * hosts in trouble, never the whole fleet.
 *
 * Heartbeat: a per-host series in every hour would cost $0.30 per
 * instance-month by itself, more than the whole budget at 10,000
 * instances; sent every few hours it names the silent hosts for a small
 * fraction of that, while the census count shows within minutes that some
 * agent fell silent, and a host in trouble is watched through its detail.
 */
import { shortNameOf } from './app.ts';
import { policyFor, type FleetConfig } from './config.ts';
import { measuredKb } from './measure.ts';
import {
  identityKey,
  KB_PER_MB,
  kbToMbRounded,
  type Observation,
} from './worker.ts';

export const METRIC_NAMESPACE = 'PassengerFleet';

export const METRIC_NAMES = {
  workerMemory: 'WorkerMemoryMb',
  workersOverLimit: 'WorkersOverLimit',
  orphanSuspects: 'OrphanSuspects',
  appHosts: 'AppHosts',
  heartbeat: 'AgentHeartbeat',
  publishDropped: 'PublishDropped',
} as const;
export type MetricName = (typeof METRIC_NAMES)[keyof typeof METRIC_NAMES];

export const DIMENSION_NAMES = { app: 'App', host: 'Host' } as const;
export type DimensionName =
  (typeof DIMENSION_NAMES)[keyof typeof DIMENSION_NAMES];

/** PutMetricData takes at most this many values in one datum. */
export const MAX_VALUES_PER_DATUM = 150;
/**
 * CloudWatch takes dimension values up to 1,024 characters, but each one
 * travels in every request: a name longer than this is cut.
 */
const MAX_DIMENSION_VALUE_LENGTH = 255;

export type MetricUnit = 'Megabytes' | 'Count';

export interface MetricDimension {
  readonly name: DimensionName;
  readonly value: string;
}

/** One datum as the agent means it, free of any SDK type. */
export interface MetricDatum {
  readonly name: MetricName;
  readonly dimensions: readonly MetricDimension[];
  readonly unit: MetricUnit;
  /** Between 1 and MAX_VALUES_PER_DATUM figures. */
  readonly values: readonly number[];
  /** Epoch ms of the sample. */
  readonly timestamp: number;
}

/** One app on one host, as the metrics see it. */
export interface AppFigures {
  /** The `App` dimension value. */
  readonly app: string;
  /** Every measured worker, MB to one decimal, biggest first. */
  readonly memoryMb: readonly number[];
  /** Identity keys of pooled, attached workers over their limit. */
  readonly overLimit: readonly string[];
  /** Identity keys of workers Passenger's pool does not list. */
  readonly orphanSuspects: readonly string[];
}

export interface HostFigures {
  /** The `Host` dimension value: the instance id. */
  readonly host: string;
  /** Epoch ms of the sample. */
  readonly at: number;
  /** Sorted by app. */
  readonly apps: readonly AppFigures[];
}

/** Which groups of data one publish carries; see the table above. */
export interface DatumSelection {
  readonly census: boolean;
  readonly heartbeat: boolean;
  /** Apps whose per-host series go out, in trouble or just cleared. */
  readonly detailApps: readonly string[];
}

/**
 * Sums one observation up per app. Apps the configuration ignores are
 * left out: nobody will act on them, so their series would only cost.
 * Two groups with the same short name on one host share one `App`.
 */
export function hostFigures(
  observation: Observation,
  config: FleetConfig,
  host: string = observation.host,
): HostFigures {
  const apps = new Map<
    string,
    { memoryMb: number[]; overLimit: string[]; orphanSuspects: string[] }
  >();
  for (const worker of observation.workers) {
    const policy = policyFor(config, worker.app);
    if (policy === undefined) continue;
    const app = dimensionValue(shortNameOf(worker.app));
    const figures = apps.get(app) ?? {
      memoryMb: [],
      overLimit: [],
      orphanSuspects: [],
    };
    apps.set(app, figures);
    const key = identityKey(worker.identity);
    const usedKb = measuredKb(worker.memory, policy.measure);
    if (usedKb !== null) figures.memoryMb.push(kbToMbRounded(usedKb));
    // Only a pool that answered can say a worker is missing from it.
    const suspect =
      observation.poolKnown &&
      worker.inPool === false &&
      config.orphans.enabled;
    if (suspect) {
      figures.orphanSuspects.push(key);
    } else if (
      usedKb !== null &&
      usedKb > policy.limitMb * KB_PER_MB &&
      worker.inPool !== false &&
      !worker.detached
    ) {
      figures.overLimit.push(key);
    }
  }
  return {
    host: dimensionValue(host),
    at: observation.at,
    apps: [...apps.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([app, figures]) => ({
        app,
        memoryMb: figures.memoryMb.sort((a, b) => b - a),
        overLimit: figures.overLimit.sort(),
        orphanSuspects: figures.orphanSuspects.sort(),
      })),
  };
}

/** The data for one publish, in a stable order. */
export function metricData(
  figures: HostFigures,
  selection: DatumSelection,
): MetricDatum[] {
  const { host, at } = figures;
  const hostDim: MetricDimension = { name: DIMENSION_NAMES.host, value: host };
  const data: MetricDatum[] = [];
  const datum = (
    name: MetricName,
    dimensions: readonly MetricDimension[],
    unit: MetricUnit,
    values: readonly number[],
  ) => {
    for (const chunk of chunked(values)) {
      data.push({ name, dimensions, unit, values: chunk, timestamp: at });
    }
  };
  const byApp = new Map(figures.apps.map((a) => [a.app, a]));
  const detailApps = new Set(selection.detailApps);

  if (selection.census) {
    datum(METRIC_NAMES.heartbeat, [], 'Count', [1]);
    for (const figure of figures.apps) {
      const appDim = [{ name: DIMENSION_NAMES.app, value: figure.app }];
      datum(METRIC_NAMES.workerMemory, appDim, 'Megabytes', figure.memoryMb);
      datum(METRIC_NAMES.appHosts, appDim, 'Count', [1]);
    }
  }
  if (selection.heartbeat) {
    datum(METRIC_NAMES.heartbeat, [hostDim], 'Count', [1]);
  }
  const fleetCounts = new Set([
    ...(selection.census ? byApp.keys() : []),
    ...detailApps,
  ]);
  for (const app of [...fleetCounts].sort()) {
    const figure = byApp.get(app);
    const appDim = [{ name: DIMENSION_NAMES.app, value: app }];
    const over = [figure?.overLimit.length ?? 0];
    const suspects = [figure?.orphanSuspects.length ?? 0];
    datum(METRIC_NAMES.workersOverLimit, appDim, 'Count', over);
    datum(METRIC_NAMES.orphanSuspects, appDim, 'Count', suspects);
    if (!detailApps.has(app)) continue;
    const both = [...appDim, hostDim];
    datum(METRIC_NAMES.workerMemory, both, 'Megabytes', figure?.memoryMb ?? []);
    datum(METRIC_NAMES.workersOverLimit, both, 'Count', over);
    datum(METRIC_NAMES.orphanSuspects, both, 'Count', suspects);
  }
  return data;
}

/** What the publish buffer reports after it had to drop data. */
export function droppedDatum(
  host: string,
  dropped: number,
  at: number,
): MetricDatum {
  return {
    name: METRIC_NAMES.publishDropped,
    dimensions: [{ name: DIMENSION_NAMES.host, value: dimensionValue(host) }],
    unit: 'Count',
    values: [dropped],
    timestamp: at,
  };
}

/** Namespace, name and dimensions: what CloudWatch bills as one metric. */
export function seriesKey(
  datum: Pick<MetricDatum, 'name' | 'dimensions'>,
  namespace: string = METRIC_NAMESPACE,
): string {
  const dims = [...datum.dimensions]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((d) => `${d.name}=${d.value}`);
  return [namespace, datum.name, ...dims].join('|');
}

/**
 * Dimension values are kept to printable ASCII (CloudWatch refuses some
 * others) and cut to MAX_DIMENSION_VALUE_LENGTH; anything else becomes `_`.
 */
export function dimensionValue(text: string): string {
  const printable = text
    .replace(/[^\x20-\x7e]/g, '_')
    .trim()
    .slice(0, MAX_DIMENSION_VALUE_LENGTH);
  return printable === '' ? '(unnamed)' : printable;
}

/** Empty in, nothing out: a datum needs at least one value. */
function chunked(values: readonly number[]): number[][] {
  const chunks: number[][] = [];
  for (let i = 0; i < values.length; i += MAX_VALUES_PER_DATUM) {
    chunks.push(values.slice(i, i + MAX_VALUES_PER_DATUM));
  }
  return chunks;
}
