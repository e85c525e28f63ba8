import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { loadConfig } from '../../core/config.ts';
import {
  DIMENSION_NAMES,
  MAX_VALUES_PER_DATUM,
  METRIC_NAMES,
  dimensionValue,
  droppedDatum,
  hostFigures,
  metricData,
  seriesKey,
  type MetricDatum,
} from '../../core/metric-schema.ts';
import type { Observation, Worker } from '../../core/worker.ts';

const HOST = 'web-1';
const INSTANCE = 'i-0123456789abcdef0';
const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);
const MB = 1024;
const SHOP = '/data/shop/current (production)';
const BLOG = '/srv/blog/releases/20261201';

const config = loadConfig({
  defaults: { limitMb: 300 },
  apps: { shop: { limitMb: 400 } },
});

function worker(
  pid: number,
  group: string,
  privateMb: number,
  extra: Partial<Worker> = {},
): Worker {
  return {
    identity: { host: HOST, pid, startTime: 5000 + pid },
    app: { group },
    kind: 'ruby',
    memory: { privateDirtyKb: privateMb * MB, swapKb: 0, rssKb: null },
    inPool: true,
    ...extra,
  };
}

function observe(workers: Worker[], poolKnown = true): Observation {
  return { host: HOST, at: T0, workers, poolKnown };
}

/** Three shop workers (one over its 400 MB), two blog (one an orphan). */
const sample = observe([
  worker(101, SHOP, 200),
  worker(102, SHOP, 420.25),
  worker(103, SHOP, 380),
  worker(201, BLOG, 120),
  worker(202, BLOG, 90, { inPool: false }),
]);

const app = (value: string) => ({ name: DIMENSION_NAMES.app, value });
const host = { name: DIMENSION_NAMES.host, value: INSTANCE };

describe('metric schema', () => {
  describe('hostFigures', () => {
    it('sums a sample up per app short name, biggest first', () => {
      assert.deepEqual(hostFigures(sample, config, INSTANCE), {
        host: INSTANCE,
        at: T0,
        apps: [
          {
            app: 'blog',
            memoryMb: [120, 90],
            overLimit: [],
            orphanSuspects: [`${HOST}/202/5202`],
          },
          {
            app: 'shop',
            memoryMb: [420.3, 380, 200],
            overLimit: [`${HOST}/102/5102`],
            orphanSuspects: [],
          },
        ],
      });
    });

    it('counts no orphan while the pool is unknown or orphans are off', () => {
      const offline = observe([worker(1, BLOG, 100, { inPool: false })], false);
      assert.deepEqual(
        hostFigures(offline, config).apps[0]?.orphanSuspects,
        [],
      );
      const off = loadConfig({ orphans: { enabled: false } });
      const orphan = observe([worker(1, BLOG, 100, { inPool: false })]);
      assert.deepEqual(hostFigures(orphan, off).apps[0]?.orphanSuspects, []);
    });

    it('does not count a detached worker as over its limit', () => {
      const detached = observe([worker(7, SHOP, 900, { detached: true })]);
      const [shop] = hostFigures(detached, config).apps;
      assert.deepEqual(shop?.overLimit, []);
      assert.deepEqual(shop?.memoryMb, [900]);
    });

    it('leaves out apps the configuration ignores', () => {
      const only = loadConfig({ unlistedApps: 'ignore', apps: { shop: {} } });
      const apps = hostFigures(sample, only).apps.map((a) => a.app);
      assert.deepEqual(apps, ['shop']);
    });

    it('measures with the app policy: private+swap counts the swap', () => {
      const swapped = loadConfig({
        apps: { shop: { limitMb: 400, measure: 'private+swap' } },
      });
      const w = worker(9, SHOP, 350, {
        memory: { privateDirtyKb: 350 * MB, swapKb: 100 * MB, rssKb: null },
      });
      const [shop] = hostFigures(observe([w]), swapped).apps;
      assert.deepEqual(shop?.memoryMb, [450]);
      assert.equal(shop?.overLimit.length, 1);
    });
  });

  describe('metricData', () => {
    it('sends the census: fleet-wide per app, and the agent count', () => {
      const figures = hostFigures(sample, config, INSTANCE);
      const data = metricData(figures, {
        census: true,
        heartbeat: false,
        detailApps: [],
      });
      const at = T0;
      assert.deepEqual(data, [
        datum(METRIC_NAMES.heartbeat, [], 'Count', [1], at),
        datum(
          METRIC_NAMES.workerMemory,
          [app('blog')],
          'Megabytes',
          [120, 90],
          at,
        ),
        datum(METRIC_NAMES.appHosts, [app('blog')], 'Count', [1], at),
        datum(
          METRIC_NAMES.workerMemory,
          [app('shop')],
          'Megabytes',
          [420.3, 380, 200],
          at,
        ),
        datum(METRIC_NAMES.appHosts, [app('shop')], 'Count', [1], at),
        datum(METRIC_NAMES.workersOverLimit, [app('blog')], 'Count', [0], at),
        datum(METRIC_NAMES.orphanSuspects, [app('blog')], 'Count', [1], at),
        datum(METRIC_NAMES.workersOverLimit, [app('shop')], 'Count', [1], at),
        datum(METRIC_NAMES.orphanSuspects, [app('shop')], 'Count', [0], at),
      ]);
    });

    it('sends per-host detail only for the apps asked, plus a cleared one', () => {
      const figures = hostFigures(sample, config, INSTANCE);
      const data = metricData(figures, {
        census: false,
        heartbeat: true,
        detailApps: ['gone', 'shop'],
      });
      const at = T0;
      assert.deepEqual(data, [
        datum(METRIC_NAMES.heartbeat, [host], 'Count', [1], at),
        datum(METRIC_NAMES.workersOverLimit, [app('gone')], 'Count', [0], at),
        datum(METRIC_NAMES.orphanSuspects, [app('gone')], 'Count', [0], at),
        datum(
          METRIC_NAMES.workersOverLimit,
          [app('gone'), host],
          'Count',
          [0],
          at,
        ),
        datum(
          METRIC_NAMES.orphanSuspects,
          [app('gone'), host],
          'Count',
          [0],
          at,
        ),
        datum(METRIC_NAMES.workersOverLimit, [app('shop')], 'Count', [1], at),
        datum(METRIC_NAMES.orphanSuspects, [app('shop')], 'Count', [0], at),
        datum(
          METRIC_NAMES.workerMemory,
          [app('shop'), host],
          'Megabytes',
          [420.3, 380, 200],
          at,
        ),
        datum(
          METRIC_NAMES.workersOverLimit,
          [app('shop'), host],
          'Count',
          [1],
          at,
        ),
        datum(
          METRIC_NAMES.orphanSuspects,
          [app('shop'), host],
          'Count',
          [0],
          at,
        ),
      ]);
    });

    it('splits more than 150 figures over data with the same series', () => {
      const many = Array.from({ length: 320 }, (_, i) =>
        worker(1000 + i, SHOP, 100 + i),
      );
      const data = metricData(hostFigures(observe(many), config, INSTANCE), {
        census: false,
        heartbeat: false,
        detailApps: ['shop'],
      }).filter((d) => d.name === METRIC_NAMES.workerMemory);
      assert.deepEqual(
        data.map((d) => d.values.length),
        [MAX_VALUES_PER_DATUM, MAX_VALUES_PER_DATUM, 20],
      );
      assert.equal(new Set(data.map((d) => seriesKey(d))).size, 1);
      const sent = data.flatMap((d) => d.values).sort((a, b) => a - b);
      assert.deepEqual(
        sent,
        many.map((_, i) => 100 + i),
      );
    });

    it('never names a process: series depend on apps and host alone', () => {
      const groups = [SHOP, BLOG, '/var/www/api/current'];
      const workerArb = fc.record({
        pid: fc.integer({ min: 2, max: 4_194_304 }),
        startTime: fc.integer({ min: 1, max: 2 ** 40 }),
        group: fc.constantFrom(...groups),
        mb: fc.double({ min: 1, max: 2000, noNaN: true }),
        inPool: fc.boolean(),
      });
      fc.assert(
        fc.property(fc.array(workerArb, { maxLength: 40 }), (specs) => {
          const build = (shift: number) =>
            observe(
              specs.map((s) =>
                worker(s.pid, s.group, s.mb, {
                  identity: {
                    host: HOST,
                    pid: s.pid + shift,
                    startTime: s.startTime + shift,
                  },
                  inPool: s.inPool,
                }),
              ),
            );
          const everything = {
            census: true,
            heartbeat: true,
            detailApps: ['api', 'blog', 'shop'],
          };
          const data = metricData(
            hostFigures(build(0), config, INSTANCE),
            everything,
          );
          const restarted = metricData(
            hostFigures(build(7919), config, INSTANCE),
            everything,
          );
          const allowed = new Set(['api', 'blog', 'shop', INSTANCE]);
          for (const d of data) {
            for (const dim of d.dimensions) {
              assert.ok(
                dim.name === DIMENSION_NAMES.app ||
                  dim.name === DIMENSION_NAMES.host,
              );
              assert.ok(allowed.has(dim.value), dim.value);
            }
          }
          assert.deepEqual(keys(restarted), keys(data));
        }),
        { numRuns: 100 },
      );
    });
  });

  describe('droppedDatum', () => {
    it('reports the count under the host', () => {
      assert.deepEqual(droppedDatum(INSTANCE, 42, T0), {
        name: 'PublishDropped',
        dimensions: [host],
        unit: 'Count',
        values: [42],
        timestamp: T0,
      });
    });
  });

  describe('dimensionValue', () => {
    const cases: [string, string][] = [
      ['shop', 'shop'],
      ['café', 'caf_'],
      ['  ', '(unnamed)'],
      ['x'.repeat(300), 'x'.repeat(255)],
    ];
    for (const [given, expected] of cases) {
      it(`turns ${JSON.stringify(given.slice(0, 12))} into a dimension value`, () => {
        assert.equal(dimensionValue(given), expected);
      });
    }
  });
});

function datum(
  name: MetricDatum['name'],
  dimensions: MetricDatum['dimensions'],
  unit: MetricDatum['unit'],
  values: number[],
  timestamp: number,
): MetricDatum {
  return { name, dimensions, unit, values, timestamp };
}

function keys(data: readonly MetricDatum[]): string[] {
  return [...new Set(data.map((d) => seriesKey(d)))].sort();
}
