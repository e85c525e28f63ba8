import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import {
  CloudWatchClient,
  CloudWatchServiceException,
  GetMetricDataCommand,
  ListMetricsCommand,
  type GetMetricDataCommandInput,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DoubtfulDataError,
  ThrottledError,
} from '../../lambdas/aws/aws-errors.ts';
import {
  CloudWatchFleetMetrics,
  type CloudWatchFleetMetricsOptions,
} from '../../lambdas/aws/cloudwatch-fleet-metrics.ts';
import {
  answeringHandler,
  instantRetries,
  OFFLINE_CLIENT,
} from './sdk-wire-stand-ins.ts';

const MINUTE = 60_000;
/** 30 s into a minute. */
const NOW = Date.UTC(2026, 11, 3, 12, 0, 30);
const HOST_A = 'i-0123456789abcdef0';
const HOST_B = 'i-0fedcba9876543210';

const client = new CloudWatchClient({ ...OFFLINE_CLIENT, maxAttempts: 1 });
const cloudWatch = mockClient(client);

function reader(options: Partial<CloudWatchFleetMetricsOptions> = {}) {
  const warnings: string[] = [];
  const metrics = new CloudWatchFleetMetrics({
    client,
    onWarning: (warning) => warnings.push(warning),
    ...options,
  });
  return { metrics, warnings };
}

/** One grouped series; points as [epoch ms, value]. */
function series(label: string, points: [number, number][]): MetricDataResult {
  return {
    Id: 'trouble',
    Label: label,
    Timestamps: points.map(([at]) => new Date(at)),
    Values: points.map(([, value]) => value),
    StatusCode: 'Complete',
  };
}

/** Answers each Insights query by the metric its expression names. */
function answerTrouble(
  byMetric: Record<string, MetricDataResult[]>,
): GetMetricDataCommandInput[] {
  const inputs: GetMetricDataCommandInput[] = [];
  cloudWatch
    .on(GetMetricDataCommand)
    .callsFake((input: GetMetricDataCommandInput) => {
      inputs.push(input);
      const expression = input.MetricDataQueries?.[0]?.Expression ?? '';
      const metric = /SELECT MAX\((\w+)\)/.exec(expression)?.[1] ?? '';
      return { MetricDataResults: byMetric[metric] ?? [], $metadata: {} };
    });
  return inputs;
}

function throttling(attempts: number) {
  return new CloudWatchServiceException({
    name: 'Throttling',
    message: 'Rate exceeded',
    $fault: 'client',
    $metadata: { httpStatusCode: 400, attempts },
  });
}

/** MetricStat answers: every query id gets `value(id)` at `at`. */
function answerStats(
  value: (id: string) => number | undefined,
  at: number,
): GetMetricDataCommandInput[] {
  const inputs: GetMetricDataCommandInput[] = [];
  cloudWatch
    .on(GetMetricDataCommand)
    .callsFake((input: GetMetricDataCommandInput) => {
      inputs.push(input);
      const results = (input.MetricDataQueries ?? []).map((query) => {
        const figure = value(query.Id ?? '');
        return {
          Id: query.Id,
          Timestamps: figure === undefined ? [] : [new Date(at)],
          Values: figure === undefined ? [] : [figure],
          StatusCode: 'Complete',
        };
      });
      return { MetricDataResults: results, $metadata: {} };
    });
  return inputs;
}

describe('CloudWatchFleetMetrics', () => {
  beforeEach(() => {
    cloudWatch.reset();
  });

  describe('readTrouble', () => {
    it('sends one Insights query per detail metric over the last five minutes', async () => {
      const inputs = answerTrouble({});
      const { metrics } = reader();

      await metrics.readTrouble(NOW);

      const end = new Date(Date.UTC(2026, 11, 3, 12, 1));
      const start = new Date(Date.UTC(2026, 11, 3, 11, 56));
      const expected = ['WorkersOverLimit', 'OrphanSuspects', 'WorkerMemoryMb'];
      assert.deepEqual(
        inputs,
        expected.map((metric) => ({
          MetricDataQueries: [
            {
              Id: 'trouble',
              Expression:
                `SELECT MAX(${metric}) ` +
                'FROM SCHEMA("PassengerFleet", Host, App) ' +
                'GROUP BY Host, App ORDER BY MAX() DESC LIMIT 500',
              Label: "${PROP('Dim.Host')} ${PROP('Dim.App')}",
              Period: 60,
            },
          ],
          StartTime: start,
          EndTime: end,
          NextToken: undefined,
        })),
      );
    });

    it('takes the newest datapoint of each series, in any order', async () => {
      const t = NOW - 90_000;
      answerTrouble({
        WorkersOverLimit: [
          series(`${HOST_A} shop (staging)`, [
            [t - 2 * MINUTE, 3],
            [t, 1],
            [t - MINUTE, 2],
          ]),
          // Cleared a minute ago: the clearing publish sent 0.
          series(`${HOST_B} blog`, [
            [t, 0],
            [t - MINUTE, 2],
          ]),
        ],
        OrphanSuspects: [
          series(`${HOST_A} shop (staging)`, [[t, 0]]),
          series(`${HOST_B} blog`, [[t, 0]]),
          series(`${HOST_B} api`, [[t - MINUTE, 2]]),
        ],
        WorkerMemoryMb: [
          series(`${HOST_A} shop (staging)`, [
            [t - MINUTE, 900],
            [t, 812.5],
          ]),
        ],
      });
      const { metrics, warnings } = reader();

      const troubles = await metrics.readTrouble(NOW);

      assert.deepEqual(troubles, [
        {
          host: HOST_A,
          app: 'shop (staging)',
          workersOverLimit: 1,
          orphanSuspects: 0,
          maxWorkerMb: 812.5,
          at: t,
        },
        {
          host: HOST_B,
          app: 'api',
          workersOverLimit: 0,
          orphanSuspects: 2,
          maxWorkerMb: null,
          at: t - MINUTE,
        },
      ]);
      assert.deepEqual(warnings, []);
    });

    it('skips and reports a series whose label does not name an instance and an app', async () => {
      answerTrouble({
        WorkersOverLimit: [
          series('web-1 shop', [[NOW - MINUTE, 1]]),
          series(HOST_A, [[NOW - MINUTE, 1]]),
          series(`${HOST_A}  `, [[NOW - MINUTE, 1]]),
          series(`${HOST_B} shop`, [[NOW - MINUTE, 1]]),
        ],
      });
      const { metrics, warnings } = reader();

      const troubles = await metrics.readTrouble(NOW);

      assert.deepEqual(
        troubles.map((trouble) => [trouble.host, trouble.app]),
        [[HOST_B, 'shop']],
      );
      assert.equal(warnings.length, 3);
      assert.match(warnings[0] ?? '', /skipped a series labelled "web-1 shop"/);
    });

    it('follows NextToken and joins the pages of one series', async () => {
      const label = `${HOST_A} shop`;
      const inputs: (string | undefined)[] = [];
      cloudWatch
        .on(GetMetricDataCommand)
        .callsFake((input: GetMetricDataCommandInput) => {
          const expression = input.MetricDataQueries?.[0]?.Expression ?? '';
          if (!expression.includes('WorkersOverLimit')) {
            return { MetricDataResults: [], $metadata: {} };
          }
          inputs.push(input.NextToken);
          return input.NextToken === undefined
            ? {
                MetricDataResults: [series(label, [[NOW - 2 * MINUTE, 4]])],
                NextToken: 'page-2',
                $metadata: {},
              }
            : {
                MetricDataResults: [series(label, [[NOW - MINUTE, 2]])],
                $metadata: {},
              };
        });
      const { metrics } = reader();

      const troubles = await metrics.readTrouble(NOW);

      assert.deepEqual(inputs, [undefined, 'page-2']);
      assert.equal(troubles[0]?.workersOverLimit, 2);
      assert.equal(troubles[0]?.at, NOW - MINUTE);
    });

    it('calls the read doubtful after maxPages pages', async () => {
      cloudWatch
        .on(GetMetricDataCommand)
        .resolves({ MetricDataResults: [], NextToken: 'again' });
      const { metrics } = reader({ maxPages: 3 });

      await assert.rejects(metrics.readTrouble(NOW), (error) => {
        assert.ok(error instanceof DoubtfulDataError);
        assert.match(error.message, /still had a NextToken after 3 pages/);
        return true;
      });
    });

    it('fails the whole read when a series came back InternalError', async () => {
      cloudWatch.on(GetMetricDataCommand).resolves({
        MetricDataResults: [
          {
            Id: 'trouble',
            StatusCode: 'InternalError',
            Messages: [{ Code: 'InternalError', Value: 'try later' }],
          },
        ],
      });
      const { metrics } = reader();

      await assert.rejects(
        metrics.readTrouble(NOW),
        /query trouble came back InternalError \(try later\)/,
      );
    });

    it('turns throttling the SDK gave up on into ThrottledError', async () => {
      cloudWatch.on(GetMetricDataCommand).rejects(throttling(3));
      const { metrics } = reader();

      await assert.rejects(metrics.readTrouble(NOW), (error) => {
        assert.ok(error instanceof ThrottledError);
        assert.equal(error.service, 'CloudWatch');
        assert.equal(error.attempts, 3);
        assert.match(error.message, /throttled after 3 attempt\(s\)/);
        return true;
      });
    });
  });

  describe('retries', () => {
    it('lets the real SDK retry a throttled call before it surfaces', async () => {
      const { handler, targets } = answeringHandler([
        {
          status: 400,
          headers: { 'x-amzn-query-error': 'Throttling;Sender' },
          body: '{"__type":"Throttling","message":"Rate exceeded"}',
        },
      ]);
      const wire = new CloudWatchClient({
        ...OFFLINE_CLIENT,
        requestHandler: handler as never,
        retryStrategy: instantRetries(3) as never,
      });
      const metrics = new CloudWatchFleetMetrics({ client: wire });

      await assert.rejects(
        metrics.silentHosts([HOST_A], NOW, 4 * 3_600_000),
        (error) => {
          assert.ok(error instanceof ThrottledError, String(error));
          assert.equal(error.attempts, 3);
          return true;
        },
      );
      assert.equal(targets.length, 3);
    });
  });

  describe('readCensus', () => {
    const listed = (apps: string[]) => ({
      Metrics: apps.map((app) => ({
        Namespace: 'PassengerFleet',
        MetricName: 'AppHosts',
        Dimensions: [{ Name: 'App', Value: app }],
      })),
    });

    it('lists the apps once, then reads the last settled census interval', async () => {
      cloudWatch.on(ListMetricsCommand).resolves(listed(['shop', 'blog']));
      const inputs = answerStats(
        (id) => ({ agents: 40, h0: 12, w0: 96, h1: 30, w1: 240 })[id],
        Date.UTC(2026, 11, 3, 11, 50),
      );
      const { metrics } = reader();

      const census = await metrics.readCensus(NOW);

      assert.deepEqual(
        cloudWatch.commandCalls(ListMetricsCommand)[0]?.args[0].input,
        {
          Namespace: 'PassengerFleet',
          MetricName: 'AppHosts',
          Dimensions: [{ Name: 'App' }],
          RecentlyActive: 'PT3H',
          NextToken: undefined,
        },
      );
      const stat = (id: string, metric: string, app?: string) => ({
        Id: id,
        MetricStat: {
          Metric: {
            Namespace: 'PassengerFleet',
            MetricName: metric,
            Dimensions: app === undefined ? [] : [{ Name: 'App', Value: app }],
          },
          Period: 300,
          Stat: 'SampleCount',
        },
      });
      // 12:00:30 less 3 min settles to 11:57:30: the interval 11:50-11:55.
      assert.deepEqual(inputs, [
        {
          MetricDataQueries: [
            stat('agents', 'AgentHeartbeat'),
            stat('h0', 'AppHosts', 'blog'),
            stat('w0', 'WorkerMemoryMb', 'blog'),
            stat('h1', 'AppHosts', 'shop'),
            stat('w1', 'WorkerMemoryMb', 'shop'),
          ],
          StartTime: new Date(Date.UTC(2026, 11, 3, 11, 50)),
          EndTime: new Date(Date.UTC(2026, 11, 3, 11, 55)),
          NextToken: undefined,
        },
      ]);
      assert.deepEqual(census, {
        apps: [
          { app: 'blog', hosts: 12, workers: 96 },
          { app: 'shop', hosts: 30, workers: 240 },
        ],
        agents: 40,
        at: Date.UTC(2026, 11, 3, 11, 55),
      });
    });

    it('batches 500 queries a call and leaves out apps without a census', async () => {
      const apps = Array.from(
        { length: 300 },
        (_, i) => `app${String(i).padStart(3, '0')}`,
      );
      cloudWatch.on(ListMetricsCommand).resolves(listed(apps));
      // Only the first app has hosts in the interval.
      const inputs = answerStats(
        (id) => (id === 'h0' ? 2 : id === 'w0' ? 9 : undefined),
        NOW,
      );
      const { metrics } = reader();

      const census = await metrics.readCensus(NOW);

      assert.deepEqual(
        inputs.map((input) => input.MetricDataQueries?.length),
        [500, 101],
      );
      assert.deepEqual(census.apps, [{ app: 'app000', hosts: 2, workers: 9 }]);
      assert.equal(census.agents, 0);
    });

    it('reads one interval once, unless an app in trouble is missing from it', async () => {
      cloudWatch.on(ListMetricsCommand).resolves(listed(['shop']));
      const inputs = answerStats(() => 1, NOW);
      const { metrics } = reader();

      await metrics.readCensus(NOW);
      await metrics.readCensus(NOW + 2 * MINUTE);
      assert.equal(inputs.length, 1);

      // A brand-new app, not listed yet, turns up in trouble.
      cloudWatch.on(GetMetricDataCommand).resolves({
        MetricDataResults: [series(`${HOST_A} fresh`, [[NOW - MINUTE, 1]])],
      });
      await metrics.readTrouble(NOW + 2 * MINUTE);
      const reread = answerStats(() => 1, NOW);
      const census = await metrics.readCensus(NOW + 2 * MINUTE);

      assert.deepEqual(
        census.apps.map((app) => app.app),
        ['fresh', 'shop'],
      );
      assert.equal(reread.length, 1);
      assert.equal(cloudWatch.commandCalls(ListMetricsCommand).length, 1);
    });

    it('calls a census doubtful when a query got no result at all', async () => {
      cloudWatch.on(ListMetricsCommand).resolves(listed(['shop']));
      cloudWatch.on(GetMetricDataCommand).resolves({
        MetricDataResults: [{ Id: 'agents', Timestamps: [], Values: [] }],
      });
      const { metrics } = reader();

      await assert.rejects(
        metrics.readCensus(NOW),
        /2 of 3 queries got no result \(first: h0\)/,
      );
    });
  });

  describe('silentHosts', () => {
    it('reads each host heartbeat over the whole window as one period, 500 a call', async () => {
      const hosts = Array.from(
        { length: 1001 },
        (_, i) => `i-${i.toString(16).padStart(17, '0')}`,
      );
      const quiet = new Set(['s3', 's700', 's1000']);
      const inputs = answerStats(
        (id) => (quiet.has(id) ? 0 : 1),
        NOW - 3_600_000,
      );
      const { metrics } = reader();

      const silent = await metrics.silentHosts(
        [...hosts, hosts[0] ?? ''],
        NOW,
        4 * 3_600_000,
      );

      assert.deepEqual(
        inputs.map((input) => input.MetricDataQueries?.length),
        [500, 500, 1],
      );
      assert.deepEqual(inputs[0]?.MetricDataQueries?.[0], {
        Id: 's0',
        MetricStat: {
          Metric: {
            Namespace: 'PassengerFleet',
            MetricName: 'AgentHeartbeat',
            Dimensions: [{ Name: 'Host', Value: hosts[0] }],
          },
          Period: 4 * 3600,
          Stat: 'SampleCount',
        },
      });
      assert.deepEqual(
        inputs[0]?.StartTime,
        new Date(Date.UTC(2026, 11, 3, 8, 1)),
      );
      assert.deepEqual(
        inputs[0]?.EndTime,
        new Date(Date.UTC(2026, 11, 3, 12, 1)),
      );
      assert.deepEqual(silent, [hosts[3], hosts[700], hosts[1000]]);
    });

    it('names a host without any datapoint silent', async () => {
      answerStats((id) => (id === 's0' ? 1 : undefined), NOW);
      const { metrics } = reader();

      const silent = await metrics.silentHosts(
        [HOST_A, HOST_B],
        NOW,
        4 * 3_600_000,
      );

      assert.deepEqual(silent, [HOST_B]);
    });

    it('refuses a window under a minute without calling', async () => {
      const { metrics } = reader();

      await assert.rejects(
        metrics.silentHosts([HOST_A], NOW, 30_000),
        /silentAfterMs must be from one minute to 14 days \(got 30000\)/,
      );
      assert.equal(cloudWatch.calls().length, 0);
    });
  });

  describe('constructor', () => {
    it('refuses a namespace that could break out of the query quotes', () => {
      assert.throws(
        () => reader({ namespace: 'Fleet") OR ("x' }),
        /namespace must be 1 to 255 letters, digits or .-_\/#: \(got "Fleet\\"\) OR \(\\"x"\)/,
      );
    });

    it('refuses a trouble window beyond the three hours Insights reads', () => {
      assert.throws(
        () => reader({ troubleWindowMs: 4 * 3_600_000 }),
        /troubleWindowMs must be at most 10800000 ms/,
      );
    });
  });
});
