import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { beforeEach, describe, it } from 'node:test';
import {
  CloudWatchClient,
  CloudWatchServiceException,
  PutMetricDataCommand,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import type { MetricDatum } from '../../core/metric-schema.ts';
import {
  CloudWatchMetrics,
  classifyPutFailure,
  type CloudWatchMetricsOptions,
} from '../../agent/metrics/cloudwatch-metrics.ts';
import { MetricsPutError } from '../../agent/metrics/metrics-port.ts';
import {
  MAX_REQUEST_BYTES,
  estimatedBytes,
} from '../../agent/metrics/put-batches.ts';

const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);
const INSTANCE = 'i-0123456789abcdef0';

// A mocked client never sends; the endpoint and credentials make sure an
// unmocked call could reach nothing but a closed port on this machine.
const client = new CloudWatchClient({
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9',
  credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
  maxAttempts: 1,
});
const cloudWatch = mockClient(client);

function memory(values: number[], app = 'shop'): MetricDatum {
  return {
    name: 'WorkerMemoryMb',
    dimensions: [
      { name: 'App', value: app },
      { name: 'Host', value: INSTANCE },
    ],
    unit: 'Megabytes',
    values,
    timestamp: T0,
  };
}

function count(value: number): MetricDatum {
  return {
    name: 'WorkersOverLimit',
    dimensions: [{ name: 'App', value: 'shop' }],
    unit: 'Count',
    values: [value],
    timestamp: T0,
  };
}

/**
 * A real client whose request handler keeps the signed body and answers
 * 200 itself: the SDK's own serialisation, and no network at all.
 */
function capturingClient() {
  const bodies: Buffer[] = [];
  const handler = {
    handle: async (request: { body: Uint8Array | string }) => {
      const { body: sent } = request;
      bodies.push(
        typeof sent === 'string'
          ? Buffer.from(sent)
          : Buffer.from(sent.buffer, sent.byteOffset, sent.byteLength),
      );
      const body = Readable.from([Buffer.from('{}')]);
      return { response: { statusCode: 200, headers: {}, body } };
    },
  };
  const wire = new CloudWatchClient({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
    maxAttempts: 1,
    disableRequestCompression: true,
    requestHandler: handler as never,
  });
  return { wire, bodies };
}

function failure(name: string, status: number, message = name) {
  return new CloudWatchServiceException({
    name,
    message,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

/** The adapter with recorded sleeps and a fixed random of 0.5. */
function adapter(options: Partial<CloudWatchMetricsOptions> = {}) {
  const sleeps: number[] = [];
  const metrics = new CloudWatchMetrics({
    client,
    random: () => 0.5,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...options,
  });
  return { metrics, sleeps };
}

function sentBatches(): number[] {
  return cloudWatch
    .commandCalls(PutMetricDataCommand)
    .map((call) => call.args[0].input.MetricData?.length ?? 0);
}

describe('CloudWatchMetrics', () => {
  beforeEach(() => {
    cloudWatch.reset();
  });

  describe('put', () => {
    it('sends one PutMetricData with Value for one figure, Values for more', async () => {
      cloudWatch.on(PutMetricDataCommand).resolves({});
      const { metrics, sleeps } = adapter();

      await metrics.put([memory([420.3, 380]), count(1)], { urgent: true });

      const calls = cloudWatch.commandCalls(PutMetricDataCommand);
      assert.equal(calls.length, 1);
      assert.deepEqual(calls[0]?.args[0].input, {
        Namespace: 'PassengerFleet',
        MetricData: [
          {
            MetricName: 'WorkerMemoryMb',
            Dimensions: [
              { Name: 'App', Value: 'shop' },
              { Name: 'Host', Value: INSTANCE },
            ],
            Timestamp: new Date(T0),
            Unit: 'Megabytes',
            Values: [420.3, 380],
            StorageResolution: 60,
          },
          {
            MetricName: 'WorkersOverLimit',
            Dimensions: [{ Name: 'App', Value: 'shop' }],
            Timestamp: new Date(T0),
            Unit: 'Count',
            Value: 1,
            StorageResolution: 60,
          },
        ],
      });
      assert.deepEqual(sleeps, [], 'an urgent put does not wait');
    });

    it('waits a random part of the minute before a put that is not urgent', async () => {
      cloudWatch.on(PutMetricDataCommand).resolves({});
      const { metrics, sleeps } = adapter({ random: () => 0.25 });

      await metrics.put([count(0)]);

      assert.deepEqual(sleeps, [15_000]);
      assert.deepEqual(sentBatches(), [1]);
    });

    it('sends nothing for no data', async () => {
      const { metrics } = adapter();
      await metrics.put([]);
      assert.deepEqual(sentBatches(), []);
    });

    it('splits 2,500 data into requests of at most 1,000, in order', async () => {
      cloudWatch.on(PutMetricDataCommand).resolves({});
      const { metrics } = adapter({ jitterMs: 0 });
      const data = Array.from({ length: 2500 }, (_, i) => count(i));

      await metrics.put(data);

      assert.deepEqual(sentBatches(), [1000, 1000, 500]);
      const values = cloudWatch
        .commandCalls(PutMetricDataCommand)
        .flatMap((c) => c.args[0].input.MetricData ?? [])
        .map((d) => d.Value);
      assert.deepEqual(
        values,
        data.map((d) => d.values[0]),
      );
    });

    it('keeps each request body, as the SDK writes it, under 1 MB', async () => {
      const { wire, bodies } = capturingClient();
      const metrics = new CloudWatchMetrics({ client: wire, jitterMs: 0 });
      const figures = Array.from({ length: 150 }, (_, i) => 1000.55 + i);
      const data = Array.from({ length: 1000 }, (_, i) =>
        memory(figures, `app-${i}-${'x'.repeat(200)}`),
      );
      const total = data.reduce((sum, d) => sum + estimatedBytes(d), 0);
      assert.ok(total > MAX_REQUEST_BYTES, `${total} bytes in all`);

      await metrics.put(data);

      assert.equal(bodies.length, 2);
      for (const body of bodies) {
        assert.ok(body.length < MAX_REQUEST_BYTES, `${body.length} bytes`);
      }
      const sent = bodies.flatMap(
        (body) =>
          (JSON.parse(body.toString('utf8')) as { MetricData: unknown[] })
            .MetricData,
      );
      assert.equal(sent.length, 1000);
    });

    it('retries Throttling and 5xx with growing backoff', async () => {
      cloudWatch
        .on(PutMetricDataCommand)
        .rejectsOnce(failure('Throttling', 400, 'Rate exceeded'))
        .rejectsOnce(failure('InternalServiceError', 500))
        .rejectsOnce(failure('ServiceUnavailable', 503))
        .resolves({});
      const { metrics, sleeps } = adapter({ jitterMs: 0 });

      await metrics.put([count(1)]);

      assert.deepEqual(sentBatches(), [1, 1, 1, 1]);
      // Full jitter at 0.5: half of 500, 1,000 and 2,000 ms.
      assert.deepEqual(sleeps, [250, 500, 1000]);
    });

    it('gives up after maxAttempts, naming what was not delivered', async () => {
      cloudWatch
        .on(PutMetricDataCommand)
        .resolvesOnce({})
        .rejects(failure('Throttling', 400, 'Rate exceeded'));
      const { metrics, sleeps } = adapter({ jitterMs: 0, maxAttempts: 3 });
      const data = Array.from({ length: 1500 }, (_, i) => count(i));

      const error = await metrics.put(data).then(
        () => assert.fail('the put should fail'),
        (e: unknown) => e,
      );

      assert.ok(error instanceof MetricsPutError);
      assert.equal(error.retryable, true);
      assert.deepEqual(error.undelivered, data.slice(1000));
      assert.match(
        error.message,
        /failed after 3 attempt\(s\) \(Throttling: Rate exceeded\); 500 of 1500 data not delivered/,
      );
      assert.deepEqual(sentBatches(), [1000, 500, 500, 500]);
      assert.deepEqual(sleeps, [250, 500]);
    });

    it('does not retry data CloudWatch refuses, and says so', async () => {
      cloudWatch
        .on(PutMetricDataCommand)
        .rejects(failure('InvalidParameterValue', 400, 'bad value'));
      const { metrics } = adapter({ jitterMs: 0 });

      const error = await metrics.put([count(1)]).catch((e: unknown) => e);

      assert.ok(error instanceof MetricsPutError);
      assert.equal(error.retryable, false);
      assert.deepEqual(sentBatches(), [1]);
    });

    it('keeps denied access for later without retrying now', async () => {
      cloudWatch
        .on(PutMetricDataCommand)
        .rejects(failure('AccessDenied', 403, 'not allowed'));
      const { metrics, sleeps } = adapter({ jitterMs: 0 });

      const error = await metrics.put([count(1)]).catch((e: unknown) => e);

      assert.ok(error instanceof MetricsPutError);
      assert.equal(error.retryable, true);
      assert.deepEqual(sentBatches(), [1]);
      assert.deepEqual(sleeps, []);
    });

    it('refuses a maxAttempts below 1', () => {
      assert.throws(
        () => new CloudWatchMetrics({ client, maxAttempts: 0 }),
        /maxAttempts must be a whole number of at least 1 \(got 0\)/,
      );
    });
  });

  describe('classifyPutFailure', () => {
    const timeout = Object.assign(new Error('socket hang up'), {
      name: 'TimeoutError',
    });
    const credentials = Object.assign(new Error('no role'), {
      name: 'CredentialsProviderError',
    });
    const cases: [string, unknown, string][] = [
      ['Throttling', failure('Throttling', 400), 'retry'],
      ['a 503', failure('ServiceUnavailable', 503), 'retry'],
      ['a 429', failure('TooManyRequests', 429), 'retry'],
      ['a timeout', timeout, 'retry'],
      [
        'InvalidParameterValue',
        failure('InvalidParameterValue', 400),
        'refused',
      ],
      ['AccessDenied', failure('AccessDenied', 403), 'later'],
      ['missing credentials', credentials, 'later'],
      ['a thrown string', 'boom', 'later'],
    ];
    for (const [label, error, expected] of cases) {
      it(`${label}: ${expected}`, () => {
        assert.equal(classifyPutFailure(error), expected);
      });
    }
  });
});
