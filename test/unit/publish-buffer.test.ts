import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { METRIC_NAMES, type MetricDatum } from '../../core/metric-schema.ts';
import { InMemoryMetrics } from '../../agent/metrics/in-memory-metrics.ts';
import {
  MetricsPutError,
  type MetricsPort,
  type PutOptions,
} from '../../agent/metrics/metrics-port.ts';
import { PublishBuffer } from '../../agent/metrics/publish-buffer.ts';

const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);
const HOUR = 3_600_000;
const INSTANCE = 'i-0123456789abcdef0';

function datum(value: number, timestamp = T0): MetricDatum {
  return {
    name: METRIC_NAMES.workersOverLimit,
    dimensions: [{ name: 'App', value: 'shop' }],
    unit: 'Count',
    values: [value],
    timestamp,
  };
}

function recordingLog() {
  const lines: string[] = [];
  return {
    lines,
    info: (message: string) => void lines.push(`info ${message}`),
    warn: (message: string) => void lines.push(`warn ${message}`),
  };
}

function setUp(options: { maxData?: number; maxAgeMs?: number } = {}) {
  let now = T0;
  const metrics = new InMemoryMetrics({ clock: () => now });
  const log = recordingLog();
  const buffer = new PublishBuffer({
    port: metrics,
    host: INSTANCE,
    clock: () => now,
    log,
    ...options,
  });
  const advance = (ms: number) => {
    now += ms;
  };
  return { metrics, buffer, log, advance };
}

/** The first value of every datum received that is not PublishDropped. */
function valuesReceived(metrics: InMemoryMetrics): number[] {
  return metrics
    .received()
    .filter((r) => r.datum.name !== METRIC_NAMES.publishDropped)
    .map((r) => r.datum.values[0] ?? NaN);
}

function dropReports(metrics: InMemoryMetrics): MetricDatum[] {
  return metrics
    .received()
    .map((r) => r.datum)
    .filter((d) => d.name === METRIC_NAMES.publishDropped);
}

describe('PublishBuffer', () => {
  describe('publish', () => {
    it('delivers at once while CloudWatch answers', async () => {
      const { metrics, buffer } = setUp();

      const status = await buffer.publish([datum(1), datum(2)]);

      assert.equal(status, 'delivered');
      assert.deepEqual(valuesReceived(metrics), [1, 2]);
      assert.deepEqual(buffer.stats(), {
        held: 0,
        delivered: 2,
        droppedUnreported: 0,
        droppedTotal: 0,
      });
    });

    it('holds data while unreachable, dropping the oldest past maxData', async () => {
      const { metrics, buffer, log } = setUp({ maxData: 5 });
      metrics.setUnreachable(true);

      assert.equal(
        await buffer.publish([datum(1), datum(2), datum(3)]),
        'held',
      );
      assert.equal(
        await buffer.publish([datum(4), datum(5), datum(6)]),
        'held',
      );
      assert.equal(await buffer.publish([datum(7)]), 'held');

      assert.deepEqual(buffer.stats(), {
        held: 5,
        delivered: 0,
        droppedUnreported: 2,
        droppedTotal: 2,
      });
      assert.match(log.lines.at(-1) ?? '', /^warn metrics held \(5 data\)/);
    });

    it('reports the drops as PublishDropped when CloudWatch is back', async () => {
      const { metrics, buffer, advance } = setUp({ maxData: 5 });
      metrics.setUnreachable(true);
      await buffer.publish([datum(1), datum(2), datum(3), datum(4)]);
      await buffer.publish([datum(5), datum(6), datum(7)]);
      metrics.setUnreachable(false);
      advance(60_000);

      const status = await buffer.publish([datum(8)]);

      assert.equal(status, 'delivered');
      assert.deepEqual(valuesReceived(metrics), [4, 5, 6, 7, 8]);
      assert.deepEqual(dropReports(metrics), [
        {
          name: 'PublishDropped',
          dimensions: [{ name: 'Host', value: INSTANCE }],
          unit: 'Count',
          values: [3],
          timestamp: T0 + 60_000,
        },
      ]);
      assert.deepEqual(buffer.stats(), {
        held: 0,
        delivered: 5,
        droppedUnreported: 0,
        droppedTotal: 3,
      });
    });

    it('drops and counts data older than maxAgeMs', async () => {
      const { metrics, buffer, advance } = setUp({ maxAgeMs: HOUR });
      metrics.setUnreachable(true);
      await buffer.publish([datum(1, T0), datum(2, T0 + 30 * 60_000)]);
      metrics.setUnreachable(false);
      advance(HOUR + 60_000);

      await buffer.flush();

      assert.deepEqual(valuesReceived(metrics), [2]);
      assert.deepEqual(
        dropReports(metrics).map((d) => d.values),
        [[1]],
      );
    });

    it('drops and counts data CloudWatch refuses, without trying again', async () => {
      const refusing = new ScriptedPort(['refuse', 'deliver']);
      const log = recordingLog();
      const buffer = new PublishBuffer({
        port: refusing,
        host: INSTANCE,
        clock: () => T0,
        log,
      });

      assert.equal(await buffer.publish([datum(1), datum(2)]), 'refused');
      assert.equal(await buffer.publish([datum(3)]), 'delivered');

      assert.deepEqual(refusing.calls, [
        { values: [1, 2], urgent: false },
        // 3, then PublishDropped counting the two refused
        { values: [3, 2], urgent: false },
      ]);
      assert.deepEqual(buffer.stats().droppedTotal, 2);
      assert.match(
        log.lines[0] ?? '',
        /^warn CloudWatch refused 2 metric data/,
      );
    });

    it('keeps an urgent put urgent after a failed try', async () => {
      const port = new ScriptedPort(['fail', 'deliver']);
      const buffer = new PublishBuffer({
        port,
        host: INSTANCE,
        clock: () => T0,
      });

      await buffer.publish([datum(1)], { urgent: true });
      await buffer.publish([datum(2)]);

      assert.deepEqual(port.calls, [
        { values: [1], urgent: true },
        { values: [1, 2], urgent: true },
      ]);
    });

    it('has one put under way at a time; later data go with the next', async () => {
      const port = new ScriptedPort(['wait', 'deliver']);
      const buffer = new PublishBuffer({
        port,
        host: INSTANCE,
        clock: () => T0,
      });

      const first = buffer.publish([datum(1)]);
      const second = await buffer.publish([datum(2)]);
      assert.equal(second, 'joined');
      port.release();

      assert.equal(await first, 'delivered');
      assert.deepEqual(port.calls, [
        { values: [1], urgent: false },
        { values: [2], urgent: false },
      ]);
    });

    it('refuses a maxData below 1', () => {
      const metrics = new InMemoryMetrics();
      assert.throws(
        () =>
          new PublishBuffer({
            port: metrics,
            host: INSTANCE,
            clock: () => T0,
            maxData: 0,
          }),
        /maxData must be a whole number of at least 1 \(got 0\)/,
      );
    });
  });
});

describe('InMemoryMetrics', () => {
  it('counts puts, requests, values, series and series-hours', async () => {
    const metrics = new InMemoryMetrics({ clock: () => T0 });
    const memory = (timestamp: number, values: number[]): MetricDatum => ({
      name: METRIC_NAMES.workerMemory,
      dimensions: [{ name: 'App', value: 'shop' }],
      unit: 'Megabytes',
      values,
      timestamp,
    });
    const many = Array.from({ length: 1200 }, (_, i) => datum(i));

    await metrics.put([memory(T0, [1, 2, 3]), memory(T0 + 59_000, [4])]);
    await metrics.put([memory(T0 + HOUR, [5, 6])], { urgent: true });
    await metrics.put(many);

    assert.deepEqual(metrics.usage(), {
      puts: 3,
      urgentPuts: 1,
      requests: 4,
      data: 1203,
      values: 1206,
      series: 2,
      seriesHours: 3,
      failedPuts: 0,
    });
  });

  it('refuses a datum with more than 150 values, as CloudWatch does', async () => {
    const metrics = new InMemoryMetrics();
    const tooMany = {
      ...datum(0),
      values: Array.from({ length: 151 }, () => 1),
    };
    const error = await metrics.put([tooMany]).catch((e: unknown) => e);
    assert.ok(error instanceof MetricsPutError);
    assert.equal(error.retryable, false);
    assert.equal(metrics.usage().data, 0);
  });
});

type Step = 'deliver' | 'fail' | 'refuse' | 'wait';

/** A port that answers each call as scripted and records what it got. */
class ScriptedPort implements MetricsPort {
  readonly calls: { values: number[]; urgent: boolean }[] = [];
  #release: () => void = () => undefined;

  constructor(private readonly steps: Step[]) {}

  release(): void {
    this.#release();
  }

  async put(data: readonly MetricDatum[], options: PutOptions = {}) {
    this.calls.push({
      values: data.map((d) => d.values[0] ?? NaN),
      urgent: options.urgent ?? false,
    });
    const step = this.steps.shift() ?? 'deliver';
    if (step === 'wait') {
      await new Promise<void>((resolve) => {
        this.#release = resolve;
      });
    }
    if (step === 'fail') throw new MetricsPutError('unreachable', data, true);
    if (step === 'refuse') throw new MetricsPutError('refused', data, false);
  }
}
