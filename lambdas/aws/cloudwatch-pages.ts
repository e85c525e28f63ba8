/**
 * Paged CloudWatch reads for CloudWatchFleetMetrics: every page of one
 * GetMetricData or ListMetrics read, each call within its time budget,
 * and a bound on pages so a read always ends.
 */
import {
  GetMetricDataCommand,
  ListMetricsCommand,
  type CloudWatchClient,
  type GetMetricDataCommandInput,
  type MetricDataQuery,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import {
  DIMENSION_NAMES,
  METRIC_NAMES,
  type MetricName,
} from '../../core/metric-schema.ts';
import { DoubtfulDataError, withinBudget } from './aws-errors.ts';
import {
  addPoints,
  batchesOf,
  MAX_QUERIES_PER_CALL,
  type SeriesPoints,
  type TimeRange,
} from './metric-reading.ts';

export interface PagedReads {
  readonly client: CloudWatchClient;
  readonly namespace: string;
  /** One call, its retries included. */
  readonly callBudgetMs: number;
  /** Pages one read may take before it is called doubtful. */
  readonly maxPages: number;
  readonly warn: (warning: string) => void;
}

/**
 * One GetMetricData read, every page of it. A series CloudWatch could
 * not compute fails the whole read: no decision on half the data.
 */
export async function getMetricDataPages(
  reads: PagedReads,
  operation: string,
  input: Omit<GetMetricDataCommandInput, 'NextToken'>,
  onResult: (result: MetricDataResult) => void,
): Promise<void> {
  const name = `GetMetricData (${operation})`;
  let nextToken: string | undefined;
  for (let page = 1; page <= reads.maxPages; page++) {
    const command = new GetMetricDataCommand({
      ...input,
      NextToken: nextToken,
    });
    const output = await withinBudget(
      'CloudWatch',
      name,
      reads.callBudgetMs,
      (abortSignal) => reads.client.send(command, { abortSignal }),
    );
    for (const message of output.Messages ?? []) {
      reads.warn(`${name}: ${message.Code}: ${message.Value}`);
    }
    for (const result of output.MetricDataResults ?? []) {
      const status = result.StatusCode;
      if (status === 'InternalError' || status === 'Forbidden') {
        const said = result.Messages?.map((m) => m.Value).join('; ');
        throw new DoubtfulDataError(
          'CloudWatch',
          name,
          `query ${result.Id} came back ${status} (${said || 'no message'})`,
        );
      }
      onResult(result);
    }
    nextToken = output.NextToken;
    if (!nextToken) return;
  }
  throw tooManyPages(name, reads.maxPages);
}

/** MetricStat queries, 500 a call; every query must come back. */
export async function metricStats(
  reads: PagedReads,
  operation: string,
  queries: readonly MetricDataQuery[],
  range: TimeRange,
): Promise<Map<string, SeriesPoints>> {
  const gathered = new Map<string, SeriesPoints>();
  for (const batch of batchesOf(queries, MAX_QUERIES_PER_CALL)) {
    await getMetricDataPages(
      reads,
      operation,
      {
        MetricDataQueries: batch,
        StartTime: new Date(range.start),
        EndTime: new Date(range.end),
      },
      (result) =>
        addPoints(gathered, result.Id ?? '', result.Timestamps, result.Values),
    );
  }
  const missing = queries.filter((query) => !gathered.has(query.Id ?? ''));
  if (missing.length > 0) {
    throw new DoubtfulDataError(
      'CloudWatch',
      `GetMetricData (${operation})`,
      `${missing.length} of ${queries.length} queries got no result ` +
        `(first: ${missing[0]?.Id})`,
    );
  }
  return gathered;
}

/** Apps with an AppHosts series that had data in the last 3 hours. */
export async function listApps(reads: PagedReads): Promise<string[]> {
  const name = 'ListMetrics (readCensus)';
  const apps = new Set<string>();
  let nextToken: string | undefined;
  for (let page = 1; page <= reads.maxPages; page++) {
    const command = new ListMetricsCommand({
      Namespace: reads.namespace,
      MetricName: METRIC_NAMES.appHosts,
      Dimensions: [{ Name: DIMENSION_NAMES.app }],
      RecentlyActive: 'PT3H',
      NextToken: nextToken,
    });
    const output = await withinBudget(
      'CloudWatch',
      name,
      reads.callBudgetMs,
      (abortSignal) => reads.client.send(command, { abortSignal }),
    );
    for (const metric of output.Metrics ?? []) {
      const [only, ...more] = metric.Dimensions ?? [];
      if (more.length > 0 || only?.Name !== DIMENSION_NAMES.app) continue;
      if (only.Value) apps.add(only.Value);
    }
    nextToken = output.NextToken;
    if (!nextToken) return [...apps].sort();
  }
  throw tooManyPages(name, reads.maxPages);
}

/** SampleCount of one series over periods of `period` seconds. */
export function sampleCount(
  id: string,
  namespace: string,
  metric: MetricName,
  dimensions: { Name: string; Value: string }[],
  period: number,
): MetricDataQuery {
  return {
    Id: id,
    MetricStat: {
      Metric: {
        Namespace: namespace,
        MetricName: metric,
        Dimensions: dimensions,
      },
      Period: period,
      Stat: 'SampleCount',
    },
  };
}

function tooManyPages(name: string, maxPages: number): DoubtfulDataError {
  return new DoubtfulDataError(
    'CloudWatch',
    name,
    `still had a NextToken after ${maxPages} pages (maxPages)`,
  );
}
