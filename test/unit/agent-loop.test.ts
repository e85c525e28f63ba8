import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runAgentLoop } from '../../agent/agent-loop.ts';
import type { Sample } from '../../agent/collector.ts';
import { FleetConfigCache } from '../../agent/fleet-config-cache.ts';
import { InMemoryMetrics } from '../../agent/metrics/in-memory-metrics.ts';
import { PublishBuffer } from '../../agent/metrics/publish-buffer.ts';
import { InMemoryParameterSource } from '../../agent/parameters/in-memory-parameter-source.ts';
import { seriesKey } from '../../core/metric-schema.ts';
import type { Observation, Worker } from '../../core/worker.ts';

const HOST = 'i-0123456789abcdef0';
const GROUP = '/data/shop/current (production)';
/** 2026-12-01T00:00:00Z, in ms. */
const T0 = 1_796_083_200_000;
const INTERVAL_MS = 5_000;

function worker(pid: number, privateMb: number): Worker {
  return {
    identity: { host: HOST, pid, startTime: 100 + pid },
    app: { group: GROUP },
    kind: 'ruby',
    memory: { privateDirtyKb: privateMb * 1024, swapKb: 0, rssKb: null },
  };
}

/** A host whose worker 2 grows past 300 MB at `breachAt`. */
function scriptedHost(clock: () => number, breachAt: number) {
  const reads: { at: number; readPool: boolean }[] = [];
  const sample = async (readPool: boolean): Promise<Sample> => {
    const at = clock();
    reads.push({ at: at - T0, readPool });
    const grown = at >= breachAt ? 420 : 200;
    const workers = [worker(1, 150), worker(2, grown)].map((w) =>
      readPool ? { ...w, inPool: true, detached: false } : w,
    );
    const observation: Observation = {
      host: HOST,
      at,
      workers,
      poolKnown: readPool,
    };
    return {
      observation,
      others: [],
      source: 'proc',
      problems: [],
      elapsedMs: 1,
    };
  };
  return { sample, reads };
}

function setUp(options: { breachAt: number; maxTicks: number }) {
  let now = T0;
  const clock = () => now;
  const logged: { level: string; message: string }[] = [];
  const line = (level: string) => (message: string) =>
    void logged.push({ level, message });
  const log = { info: line('info'), warn: line('warn'), error: line('error') };
  const source = new InMemoryParameterSource({
    '/passenger-fleet/prod/defaults/limitMb': '300',
  });
  source.failWith(new Error('Rate exceeded'));
  const config = new FleetConfigCache({
    source,
    fleet: 'prod',
    clock,
    random: () => 0.5,
    log,
  });
  const metrics = new InMemoryMetrics({ clock });
  const buffer = new PublishBuffer({ port: metrics, host: HOST, clock, log });
  const host = scriptedHost(clock, options.breachAt);
  const run = () =>
    runAgentLoop({
      host: HOST,
      sample: host.sample,
      config,
      buffer,
      clock,
      sleep: async (ms) => {
        now += ms;
        // the config read fails once, then Parameter Store answers
        source.failWith(undefined);
      },
      stop: new AbortController().signal,
      intervalMs: INTERVAL_MS,
      log,
      maxTicks: options.maxTicks,
    });
  return { run, metrics, reads: host.reads, logged, source };
}

/** Each put as [seconds after T0, the series it carried]. */
function puts(metrics: InMemoryMetrics): [number, string[]][] {
  const byTime = new Map<number, string[]>();
  for (const { datum, receivedAt } of metrics.received()) {
    const at = (receivedAt - T0) / 1000;
    const key = seriesKey(datum).replace('PassengerFleet|', '');
    byTime.set(at, [...(byTime.get(at) ?? []), key]);
  }
  return [...byTime];
}

describe('runAgentLoop', () => {
  it('sends only the heartbeat until a first good config, then census and detail at their cadence', async () => {
    const { run, metrics, logged } = setUp({
      breachAt: T0 + 100_000,
      maxTicks: 36,
    });

    const summary = await run();

    assert.deepEqual(summary, { ticks: 36, publishes: 4 });
    const detail = [
      'WorkersOverLimit|App=shop',
      'OrphanSuspects|App=shop',
      `WorkerMemoryMb|App=shop|Host=${HOST}`,
      `WorkersOverLimit|App=shop|Host=${HOST}`,
      `OrphanSuspects|App=shop|Host=${HOST}`,
    ];
    assert.deepEqual(puts(metrics), [
      // no config yet: the per-host heartbeat, nothing about apps
      [0, [`AgentHeartbeat|Host=${HOST}`]],
      // the config arrives on the retry a minute later: the census
      [
        60,
        [
          'AgentHeartbeat',
          'WorkerMemoryMb|App=shop',
          'AppHosts|App=shop',
          'WorkersOverLimit|App=shop',
          'OrphanSuspects|App=shop',
        ],
      ],
      // worker 2 crosses 300 MB: its app's detail at once...
      [100, detail],
      // ...and every minute while it lasts
      [160, detail],
    ]);
    assert.equal(metrics.usage().urgentPuts, 1);
    const memory = metrics
      .received()
      .find(
        ({ datum, receivedAt }) =>
          receivedAt === T0 + 100_000 &&
          datum.name === 'WorkerMemoryMb' &&
          datum.dimensions.length === 2,
      );
    assert.deepEqual(memory?.datum.values, [420, 150]);
    assert.ok(
      logged.some((l) => l.level === 'warn' && /no config yet/.test(l.message)),
    );
  });

  it("reads Passenger's pool only on a breach and every 12th tick", async () => {
    const { run, reads } = setUp({ breachAt: T0 + 150_000, maxTicks: 34 });

    await run();

    const pooled = reads.filter((r) => r.readPool).map((r) => r.at / 1000);
    // first tick with a config (60 s), 12 ticks later (120 s), then
    // every tick from the breach on (150 s), which also restarts the count
    assert.deepEqual(pooled, [60, 120, 150, 155, 160, 165]);
    // before the config, the host is not even sampled
    assert.equal(reads[0]?.at, 60_000);
  });

  it('stops between ticks when its signal is aborted', async () => {
    const stop = new AbortController();
    let ticks = 0;
    const summary = await runAgentLoop({
      host: HOST,
      sample: async () => {
        throw new Error('not sampled without a config');
      },
      config: { current: async () => undefined },
      buffer: {
        publish: async () => 'delivered',
        flush: async () => 'delivered',
        stats: () => ({
          held: 0,
          delivered: 0,
          droppedUnreported: 0,
          droppedTotal: 0,
        }),
      },
      clock: () => T0 + ticks * INTERVAL_MS,
      sleep: async () => {
        ticks++;
        if (ticks === 3) stop.abort();
      },
      stop: stop.signal,
      intervalMs: INTERVAL_MS,
      log: { info: () => {}, warn: () => {}, error: () => {} },
    });

    assert.deepEqual(summary, { ticks: 3, publishes: 1 });
  });
});
