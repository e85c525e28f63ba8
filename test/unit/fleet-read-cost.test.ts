import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CloudWatchClient,
  GetMetricDataCommand,
  ListMetricsCommand,
  type GetMetricDataCommandInput,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudWatchFleetMetrics } from '../../lambdas/aws/cloudwatch-fleet-metrics.ts';
import {
  tickReadCost,
  type FleetReadShape,
} from '../../lambdas/aws/fleet-read-cost.ts';
import { OFFLINE_CLIENT } from './sdk-wire-stand-ins.ts';

const NOW = Date.UTC(2026, 11, 3, 12, 0, 30);

describe('tickReadCost', () => {
  it('does not grow with the fleet, only with apps and trouble', () => {
    const small = tickReadCost({ hosts: 100, apps: 4, troubledAppHosts: 5 });
    const large = tickReadCost({ hosts: 10_000, apps: 4, troubledAppHosts: 5 });

    assert.deepEqual(small, large);
  });

  const cases: [string, FleetReadShape, ReturnType<typeof tickReadCost>][] = [
    [
      'a quiet fleet pays the three empty queries and a fifth of a census',
      { hosts: 100, apps: 4, troubledAppHosts: 0 },
      {
        getMetricDataCalls: 3.2,
        listMetricsCalls: 0.2,
        metricsRequested: 1.8,
        metricsAnalyzed: 0,
      },
    ],
    [
      'each app-host pair in trouble is analysed once per detail metric',
      { hosts: 100, apps: 4, troubledAppHosts: 40 },
      {
        getMetricDataCalls: 3.2,
        listMetricsCalls: 0.2,
        metricsRequested: 1.8,
        metricsAnalyzed: 120,
      },
    ],
    [
      '300 apps need two census calls and one ListMetrics page',
      { hosts: 10_000, apps: 300, troubledAppHosts: 0 },
      {
        getMetricDataCalls: 3.4,
        listMetricsCalls: 0.2,
        metricsRequested: 120.2,
        metricsAnalyzed: 0,
      },
    ],
    [
      'heartbeat checks are one metric per host, 500 a call',
      {
        hosts: 10_000,
        apps: 0,
        troubledAppHosts: 0,
        heartbeatChecksPerTick: 501,
      },
      {
        getMetricDataCalls: 5.2,
        listMetricsCalls: 0.2,
        metricsRequested: 501.2,
        metricsAnalyzed: 0,
      },
    ],
  ];
  for (const [title, shape, expected] of cases) {
    it(title, () => {
      const cost = tickReadCost(shape);
      for (const [key, value] of Object.entries(expected)) {
        const got = cost[key as keyof typeof cost];
        assert.ok(Math.abs(got - value) < 1e-9, `${key}: ${got} != ${value}`);
      }
    });
  }

  it('refuses more pairs in trouble than the fleet has', () => {
    assert.throws(
      () => tickReadCost({ hosts: 2, apps: 1, troubledAppHosts: 3 }),
      /troubledAppHosts must be at most hosts × apps \(2\), got 3/,
    );
  });

  it('counts what CloudWatchFleetMetrics really sends in a census tick', async () => {
    const client = new CloudWatchClient({ ...OFFLINE_CLIENT, maxAttempts: 1 });
    const cloudWatch = mockClient(client);
    const apps = Array.from({ length: 260 }, (_, i) => `app${i}`);
    const hosts = Array.from(
      { length: 620 },
      (_, i) => `i-${i.toString(16).padStart(17, '0')}`,
    );
    const troubled = hosts.slice(0, 7).map((host) => `${host} app1`);
    let analyzed = 0;
    let requested = 0;
    cloudWatch.on(ListMetricsCommand).resolves({
      Metrics: apps.map((app) => ({
        MetricName: 'AppHosts',
        Dimensions: [{ Name: 'App', Value: app }],
      })),
    });
    cloudWatch
      .on(GetMetricDataCommand)
      .callsFake((input: GetMetricDataCommandInput) => {
        const queries = input.MetricDataQueries ?? [];
        if (queries[0]?.Expression !== undefined) {
          // The stand-in answers each series in trouble: what Insights analyses.
          analyzed += troubled.length;
          return {
            MetricDataResults: troubled.map((label) => ({
              Id: 'trouble',
              Label: label,
              Timestamps: [new Date(NOW - 60_000)],
              Values: [1],
            })),
          };
        }
        requested += queries.length;
        return {
          MetricDataResults: queries.map((query) => ({
            Id: query.Id,
            Timestamps: [],
            Values: [],
          })),
        };
      });
    const metrics = new CloudWatchFleetMetrics({ client });

    await metrics.readTrouble(NOW);
    await metrics.readCensus(NOW);
    await metrics.silentHosts(hosts, NOW, 4 * 3_600_000);

    // One tick per census interval: every census cost lands in this tick.
    const cost = tickReadCost(
      {
        hosts: hosts.length,
        apps: apps.length,
        troubledAppHosts: troubled.length,
        heartbeatChecksPerTick: hosts.length,
      },
      { tickIntervalMs: 300_000, censusIntervalMs: 300_000 },
    );
    assert.deepEqual(cost, {
      getMetricDataCalls: cloudWatch.commandCalls(GetMetricDataCommand).length,
      listMetricsCalls: cloudWatch.commandCalls(ListMetricsCommand).length,
      metricsRequested: requested,
      metricsAnalyzed: analyzed,
    });
    assert.equal(cost.getMetricDataCalls, 3 + 2 + 2);
  });
});
