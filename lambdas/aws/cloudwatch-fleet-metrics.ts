/**
 * FleetMetricsReader over CloudWatch GetMetricData, read as
 * core/metric-schema.ts writes.
 *
 * Trouble: one Metrics Insights query per call, so three calls a tick
 * (WorkersOverLimit, OrphanSuspects, WorkerMemoryMb, each MAX per minute
 * over `SCHEMA(ns, Host, App)`). Only hosts in trouble have such series,
 * so what a tick analyses grows with them, not with the fleet. Each
 * grouped series comes back labelled `<host> <app>` (metric-reading.ts
 * TROUBLE_LABEL); a label that does not read that way is skipped and
 * reported through `onWarning`, never guessed at.
 *
 * Census: the apps come from ListMetrics on AppHosts, not from an
 * Insights query. ListMetrics costs $0.01 per 1,000 requests whatever it
 * lists, while an Insights query bills every AppHosts series it analyses,
 * as much again as reading the census itself. Its price is a lag: a new
 * app can take up to 15 minutes to be listed, so the apps of the latest
 * readTrouble are read as well, and an app in trouble is never missing.
 * One census interval's window is read once, with plain MetricStat
 * queries (500 a call), and kept until the next interval: every tick in
 * between would read the very same window.
 *
 * Silent hosts: SampleCount of AgentHeartbeat{Host} over the last
 * `silentAfterMs` as one period, 500 hosts a call.
 *
 * Every call runs within a time budget, SDK retries included; throttling
 * and timeouts surface as the typed errors of aws-errors.ts, and a series
 * CloudWatch could not compute (StatusCode InternalError or Forbidden)
 * fails the whole read: no decision is taken on half the data.
 */
import {
  CloudWatchClient,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import {
  DIMENSION_NAMES,
  METRIC_NAMESPACE,
  METRIC_NAMES,
  type MetricName,
} from '../../core/metric-schema.ts';
import { DEFAULT_CADENCE } from '../../core/publish-cadence.ts';
import type {
  AppCensus,
  FleetCensus,
  FleetMetricsReader,
  HostAppTrouble,
} from '../ports/fleet-metrics.ts';
import { clientConfig, type AwsClientOptions } from './client-options.ts';
import {
  getMetricDataPages,
  listApps,
  metricStats,
  sampleCount,
  type PagedReads,
} from './cloudwatch-pages.ts';
import {
  addPoints,
  censusRange,
  checkedNamespace,
  heartbeatRange,
  INSIGHTS_MAX_RANGE_MS,
  MINUTE_MS,
  newestDatapoint,
  parseTroubleLabel,
  troubleQuery,
  troubleRange,
  TROUBLE_LABEL,
  type SeriesPoints,
  type TimeRange,
} from './metric-reading.ts';
import { wholeAbove0, wholeMinutes } from './option-checks.ts';

export interface CloudWatchFleetMetricsOptions {
  /** Default: createFleetMetricsClient() in the Lambda's region. */
  readonly client?: CloudWatchClient;
  /** Default METRIC_NAMESPACE. */
  readonly namespace?: string;
  /** How far back readTrouble looks; whole minutes, at most 3 h. Default 5 min. */
  readonly troubleWindowMs?: number;
  /** The agents' census interval. Default DEFAULT_CADENCE's. */
  readonly censusIntervalMs?: number;
  /** How long after its end a census interval is read. Default 3 min. */
  readonly censusSettleMs?: number;
  /** One call, its retries included, gives up after this. Default 10 s. */
  readonly callBudgetMs?: number;
  /** Pages one read may take before it is called doubtful. Default 10. */
  readonly maxPages?: number;
  /** Skipped series and CloudWatch's messages. Default: dropped. */
  readonly onWarning?: (warning: string) => void;
}

interface CachedCensus {
  readonly end: number;
  readonly listed: readonly string[];
  readonly read: ReadonlySet<string>;
  readonly census: FleetCensus;
}

export class CloudWatchFleetMetrics implements FleetMetricsReader {
  readonly #reads: PagedReads;
  readonly #namespace: string;
  readonly #troubleWindowMs: number;
  readonly #censusIntervalMs: number;
  readonly #censusSettleMs: number;
  #troubleApps: ReadonlySet<string> = new Set();
  #census: CachedCensus | undefined;

  constructor(options: CloudWatchFleetMetricsOptions = {}) {
    this.#namespace = checkedNamespace(options.namespace ?? METRIC_NAMESPACE);
    this.#reads = {
      client: options.client ?? createFleetMetricsClient(),
      namespace: this.#namespace,
      callBudgetMs: wholeAbove0('callBudgetMs', options.callBudgetMs ?? 10_000),
      maxPages: wholeAbove0('maxPages', options.maxPages ?? 10),
      warn: options.onWarning ?? (() => {}),
    };
    this.#troubleWindowMs = wholeMinutes(
      'troubleWindowMs',
      options.troubleWindowMs ?? 5 * MINUTE_MS,
      INSIGHTS_MAX_RANGE_MS,
    );
    this.#censusIntervalMs = wholeMinutes(
      'censusIntervalMs',
      options.censusIntervalMs ?? DEFAULT_CADENCE.censusIntervalMs,
      24 * 60 * MINUTE_MS,
    );
    this.#censusSettleMs = wholeAbove0(
      'censusSettleMs',
      options.censusSettleMs ?? 3 * MINUTE_MS,
    );
  }

  async readTrouble(now: number): Promise<HostAppTrouble[]> {
    const range = troubleRange(now, this.#troubleWindowMs);
    const [over, orphans, memory] = await Promise.all([
      this.#troubleSeries(METRIC_NAMES.workersOverLimit, range),
      this.#troubleSeries(METRIC_NAMES.orphanSuspects, range),
      this.#troubleSeries(METRIC_NAMES.workerMemory, range),
    ]);

    const troubles: HostAppTrouble[] = [];
    for (const label of new Set([...over.keys(), ...orphans.keys()])) {
      const where = parseTroubleLabel(label);
      if (where === undefined) {
        this.#reads.warn(
          `readTrouble skipped a series labelled ${JSON.stringify(label)}: ` +
            'a label must be "<instance id> <app>"',
        );
        continue;
      }
      const overPoint = newestDatapoint(over.get(label));
      const orphanPoint = newestDatapoint(orphans.get(label));
      const workersOverLimit = overPoint?.value ?? 0;
      const orphanSuspects = orphanPoint?.value ?? 0;
      // The publish that clears trouble sends zeros: newest wins.
      if (workersOverLimit <= 0 && orphanSuspects <= 0) continue;
      troubles.push({
        ...where,
        workersOverLimit,
        orphanSuspects,
        maxWorkerMb: newestDatapoint(memory.get(label))?.value ?? null,
        at: Math.max(overPoint?.at ?? 0, orphanPoint?.at ?? 0),
      });
    }
    troubles.sort((a, b) => compare(a.host, b.host) || compare(a.app, b.app));
    this.#troubleApps = new Set(troubles.map((trouble) => trouble.app));
    return troubles;
  }

  async readCensus(now: number): Promise<FleetCensus> {
    const range = censusRange(
      now,
      this.#censusIntervalMs,
      this.#censusSettleMs,
    );
    const cached = this.#census?.end === range.end ? this.#census : undefined;
    const troubleApps = [...this.#troubleApps];
    if (cached && troubleApps.every((app) => cached.read.has(app))) {
      return cached.census;
    }

    const listed = cached?.listed ?? (await listApps(this.#reads));
    const apps = [...new Set([...listed, ...troubleApps])].sort(compare);
    const period = this.#censusIntervalMs / 1000;
    const queries: MetricDataQuery[] = [
      sampleCount(
        'agents',
        this.#namespace,
        METRIC_NAMES.heartbeat,
        [],
        period,
      ),
    ];
    apps.forEach((app, index) => {
      const dims = [{ Name: DIMENSION_NAMES.app, Value: app }];
      queries.push(
        sampleCount(
          `h${index}`,
          this.#namespace,
          METRIC_NAMES.appHosts,
          dims,
          period,
        ),
        sampleCount(
          `w${index}`,
          this.#namespace,
          METRIC_NAMES.workerMemory,
          dims,
          period,
        ),
      );
    });
    const read = await metricStats(this.#reads, 'readCensus', queries, range);

    const count = (id: string) => newestDatapoint(read.get(id))?.value ?? 0;
    const censuses: AppCensus[] = [];
    apps.forEach((app, index) => {
      const hosts = count(`h${index}`);
      // No census from any host in the interval: nothing to report.
      if (hosts > 0) censuses.push({ app, hosts, workers: count(`w${index}`) });
    });
    const census = { apps: censuses, agents: count('agents'), at: range.end };
    this.#census = { end: range.end, listed, read: new Set(apps), census };
    return census;
  }

  async silentHosts(
    hosts: readonly string[],
    now: number,
    silentAfterMs: number,
  ): Promise<string[]> {
    wholeAbove0('silentAfterMs', silentAfterMs);
    if (silentAfterMs < MINUTE_MS || silentAfterMs > 14 * 24 * 60 * MINUTE_MS) {
      throw new RangeError(
        `silentAfterMs must be from one minute to 14 days (got ${silentAfterMs})`,
      );
    }
    const unique = [...new Set(hosts)];
    unique.forEach((host, index) => {
      if (host === '' || host.length > 1024) {
        throw new RangeError(
          `hosts[${index}] must be a Host dimension value of 1 to 1,024 ` +
            `characters (got ${JSON.stringify(host.slice(0, 40))})`,
        );
      }
    });
    if (unique.length === 0) return [];

    const range = heartbeatRange(now, silentAfterMs);
    const period = (range.end - range.start) / 1000;
    const queries = unique.map((host, index) =>
      sampleCount(
        `s${index}`,
        this.#namespace,
        METRIC_NAMES.heartbeat,
        [{ Name: DIMENSION_NAMES.host, Value: host }],
        period,
      ),
    );
    const read = await metricStats(this.#reads, 'silentHosts', queries, range);
    return unique.filter(
      (_, index) => (newestDatapoint(read.get(`s${index}`))?.value ?? 0) <= 0,
    );
  }

  /** Every grouped series of one Insights query, by label. */
  async #troubleSeries(
    metric: MetricName,
    range: TimeRange,
  ): Promise<Map<string, SeriesPoints>> {
    const gathered = new Map<string, SeriesPoints>();
    await getMetricDataPages(
      this.#reads,
      `readTrouble ${metric}`,
      {
        MetricDataQueries: [
          {
            Id: 'trouble',
            Expression: troubleQuery(metric, 'MAX', this.#namespace),
            Label: TROUBLE_LABEL,
            Period: 60,
          },
        ],
        StartTime: new Date(range.start),
        EndTime: new Date(range.end),
      },
      (result) => {
        // No series at all still comes back as one empty result.
        if ((result.Timestamps?.length ?? 0) === 0) return;
        addPoints(
          gathered,
          result.Label ?? '',
          result.Timestamps,
          result.Values,
        );
      },
    );
    return gathered;
  }
}

/** A client in adaptive retry mode; see client-options.ts. */
export function createFleetMetricsClient(
  options: AwsClientOptions = {},
): CloudWatchClient {
  return new CloudWatchClient(clientConfig(options));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
