/**
 * Load on the host: Passenger's tools that hang, a /proc with thousands
 * of processes, and CloudWatch down for an hour.
 *
 * The bounds asserted here are correctness bounds, far above what the
 * code needs (a sample of 2,000 processes takes well under a second on
 * two cores): they catch a collector that waits for ever, reads without
 * end or holds what it should drop, not a slow machine.
 */
import assert from 'node:assert/strict';
import {
  readFileSync,
  rmSync,
  writeFileSync,
  mkdtempSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runAgentLoop } from '../../agent/agent-loop.ts';
import { collectSample } from '../../agent/collector.ts';
import { Enforcer } from '../../agent/enforcer.ts';
import type { ProcSource } from '../../agent/host.ts';
import { InMemoryMetrics } from '../../agent/metrics/in-memory-metrics.ts';
import { PublishBuffer } from '../../agent/metrics/publish-buffer.ts';
import { LinuxProc } from '../../agent/proc.ts';
import { openStore } from '../../agent/store.ts';
import { PassengerCommandTools } from '../../agent/tools.ts';
import { loadConfig } from '../../core/config.ts';
import { METRIC_NAMES } from '../../core/metric-schema.ts';
import { RecordingSignaller, StandInProc } from '../unit/executor-stand-ins.ts';
import {
  buildProcTree,
  testbedProcesses,
  type FakeProcess,
} from '../unit/fake-proc-tree.ts';
import { SafetyTally } from './support/tally.ts';

const tally = new SafetyTally(import.meta.url);
const HOST = 'i-0123456789abcdef0';
const TOOL_TIMEOUT_MS = 1_000;
/** The tool's timeout, runTool's 1 s kill grace, and room for a busy CI. */
const RETURN_BOUND_MS = TOOL_TIMEOUT_MS + 1_000 + 3_000;

const binDir = mkdtempSync(join(tmpdir(), 'safety-hung-tools-'));
const startedPids = join(binDir, 'pids');
const detachCalls = join(binDir, 'detach-calls');

/**
 * A tool that never answers: it leaves a grandchild holding stdout open,
 * as a hung `ps` inside passenger-memory-stats would, and notes every pid
 * so that `after` can end them.
 */
function hangingTool(name: string): void {
  const path = join(binDir, name);
  writeFileSync(
    path,
    '#!/bin/sh\n' +
      `echo $$ >> '${startedPids}'\n` +
      `sleep 600 &\necho $! >> '${startedPids}'\nwait\n`,
  );
  chmodSync(path, 0o755);
}
hangingTool('passenger-status');
hangingTool('passenger-memory-stats');
writeFileSync(
  join(binDir, 'passenger-config'),
  `#!/bin/sh\necho "$@" >> '${detachCalls}'\n`,
);
chmodSync(join(binDir, 'passenger-config'), 0o755);

const hungTools = new PassengerCommandTools({
  timeoutMs: TOOL_TIMEOUT_MS,
  baseEnv: { PATH: `${binDir}:/usr/bin:/bin` },
});

after(() => {
  let pids: string[] = [];
  try {
    pids = readFileSync(startedPids, 'utf8').split('\n').filter(Boolean);
  } catch {
    // no tool was started
  }
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(binDir, { recursive: true, force: true });
});

/** /proc as seen by an agent that is not root: no worker's memory. */
function withoutMemory(proc: ProcSource): ProcSource {
  return {
    clockTicks: proc.clockTicks,
    listPids: () => proc.listPids(),
    stat: (pid) => proc.stat(pid),
    cmdline: (pid) => proc.cmdline(pid),
    cwd: (pid) => proc.cwd(pid),
    uid: (pid) => proc.uid(pid),
    bootTime: () => proc.bootTime(),
    memory: (pid) => ({
      ok: false,
      failure: 'denied',
      detail: `/proc/${pid}/smaps_rollup: EACCES`,
    }),
  };
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await work();
  return [result, performance.now() - started];
}

describe('Passenger tools that hang', () => {
  const tree = buildProcTree(testbedProcesses());
  after(() => tree.remove());

  it('a sample returns within its timeout when passenger-status hangs', async () => {
    const [sample, elapsed] = await timed(() =>
      collectSample({
        host: HOST,
        proc: new LinuxProc({ root: tree.root }),
        tools: hungTools,
        now: Date.now,
      }),
    );

    assert.ok(elapsed < RETURN_BOUND_MS, `took ${elapsed} ms`);
    assert.equal(sample.observation.poolKnown, false);
    assert.ok(
      sample.problems.some((p) =>
        /passenger-status.*(timed out|did not answer)/.test(p),
      ),
      sample.problems.join('\n'),
    );
    // /proc still gave every worker, with figures
    assert.ok(sample.observation.workers.length > 0);
    tally.tried();
  });

  it('a sample returns within its timeout when passenger-memory-stats hangs', async () => {
    const [sample, elapsed] = await timed(() =>
      collectSample({
        host: HOST,
        proc: withoutMemory(new LinuxProc({ root: tree.root })),
        tools: hungTools,
        now: Date.now,
        readPool: false,
      }),
    );

    assert.ok(elapsed < RETURN_BOUND_MS, `took ${elapsed} ms`);
    assert.ok(
      sample.problems.some((p) => /passenger-memory-stats/.test(p)),
      sample.problems.join('\n'),
    );
    for (const worker of sample.observation.workers) {
      assert.equal(worker.memory.privateDirtyKb, null, 'no guessed figure');
    }
    tally.tried();
  });

  it('the enforcer acts on nothing doubtful while the tools hang', async () => {
    const signaller = new RecordingSignaller();
    const store = openStore(':memory:');
    const enforcer = new Enforcer({
      host: HOST,
      // every testbed worker is over 1 MB: all would be acted on
      config: loadConfig({ defaults: { limitMb: 1, graceSeconds: 1 } }),
      store,
      proc: new LinuxProc({ root: tree.root }),
      tools: hungTools,
      signaller,
      log: () => {},
    });
    try {
      for (let tick = 0; tick < 2; tick++) {
        const [, elapsed] = await timed(() => enforcer.tick());
        assert.ok(elapsed < 2 * RETURN_BOUND_MS, `tick took ${elapsed} ms`);
      }
      let detached = '';
      try {
        detached = readFileSync(detachCalls, 'utf8');
      } catch {
        // never called
      }
      tally.expectNoWrongKill(
        signaller.sent.length === 0 && detached === '',
        `signals ${JSON.stringify(signaller.sent)}, detach calls '${detached}'`,
      );
      tally.tried();
    } finally {
      await enforcer.close();
    }
  });
});

describe('a /proc with thousands of processes', () => {
  const APPS = 20;
  const WORKERS_PER_APP = 50;
  const OTHERS = 1_000;

  it('a sample stays bounded in time and memory and misses no worker', async (t) => {
    const processes: FakeProcess[] = [];
    let pid = 1000;
    for (let app = 0; app < APPS; app++) {
      for (let w = 0; w < WORKERS_PER_APP; w++) {
        const id = pid++;
        processes.push({
          pid: id,
          comm: 'ruby',
          startTime: 100_000 + id,
          cmdline: `Passenger RubyApp: /data/app${app}/current (production)\0\0`,
          uid: 1001,
          cwd: `/data/app${app}/releases/1`,
          memory: { privateDirtyKb: 100_000 + id, rssKb: 200_000 },
        });
      }
    }
    for (let other = 0; other < OTHERS; other++) {
      processes.push({
        pid: pid++,
        comm: 'sleep',
        startTime: 100_000 + pid,
        cmdline: `sleep\0${other}\0`,
        uid: 1000,
        memory: { privateDirtyKb: 10, rssKb: 100 },
      });
    }
    const tree = buildProcTree(processes);
    try {
      const proc = new LinuxProc({ root: tree.root });
      const heapBefore = process.memoryUsage().heapUsed;
      const [sample, elapsed] = await timed(() =>
        collectSample({
          host: HOST,
          proc,
          tools: hungTools,
          now: Date.now,
          readPool: false,
        }),
      );
      const heapGrowthMb =
        (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;

      t.diagnostic(
        `sample of ${processes.length} processes: ${Math.round(elapsed)} ms`,
      );
      assert.equal(sample.observation.workers.length, APPS * WORKERS_PER_APP);
      for (const worker of sample.observation.workers) {
        assert.equal(
          worker.memory.privateDirtyKb,
          100_000 + worker.identity.pid,
        );
      }
      // correctness bounds, not a benchmark: see the file's comment
      assert.ok(
        elapsed < 15_000,
        `sample of ${processes.length} took ${elapsed} ms`,
      );
      assert.ok(heapGrowthMb < 256, `heap grew ${heapGrowthMb} MB`);
      tally.tried();
    } finally {
      tree.remove();
    }
  });
});

describe('CloudWatch down for an hour', () => {
  it('the agent keeps sampling within its buffer limit and counts drops', async () => {
    const TICK_MS = 5_000;
    const OUTAGE_MS = 3_600_000;
    const MAX_DATA = 300;
    let now = Date.UTC(2026, 11, 1);
    const metrics = new InMemoryMetrics({ clock: () => now });
    metrics.setUnreachable(true);
    const buffer = new PublishBuffer({
      port: metrics,
      host: HOST,
      clock: () => now,
      maxData: MAX_DATA,
    });
    const proc = new StandInProc();
    proc.processes.set(4242, {
      startTime: 5000,
      state: 'S',
      cmdline: 'Passenger RubyApp: /data/shop/current (production)\0',
      cwd: '/data/shop/releases/1',
      uid: 1001,
      memory: { privateDirtyKb: 900_000, swapKb: 0, rssKb: 900_000 },
    });
    const config = loadConfig({ defaults: { limitMb: 100 } });
    const stop = new AbortController();
    const started = now;
    let ticks = 0;
    let mostHeld = 0;

    const summary = await runAgentLoop({
      host: HOST,
      // the pool stays unread: this case is about CloudWatch, not the tools
      sample: () =>
        collectSample({
          host: HOST,
          proc,
          tools: hungTools,
          now: () => now,
          readPool: false,
        }),
      config: { current: async () => config },
      buffer,
      clock: () => now,
      sleep: async (ms) => {
        // let the puts the tick started settle, then move virtual time
        await new Promise((resolve) => setImmediate(resolve));
        mostHeld = Math.max(mostHeld, buffer.stats().held);
        now += ms;
        ticks++;
        if (now - started >= OUTAGE_MS) metrics.setUnreachable(false);
      },
      stop: stop.signal,
      intervalMs: TICK_MS,
      log: { info: () => {}, warn: () => {}, error: () => {} },
      maxTicks: (OUTAGE_MS + 600_000) / TICK_MS,
    });
    await buffer.flush();

    const stats = buffer.stats();
    assert.equal(summary.ticks, ticks);
    assert.ok(mostHeld <= MAX_DATA, `held ${mostHeld} data`);
    assert.ok(stats.droppedTotal > 0, 'an hour of data overflows the buffer');
    const reported = metrics
      .received()
      .filter((r) => r.datum.name === METRIC_NAMES.publishDropped)
      .reduce((sum, r) => sum + (r.datum.values[0] ?? 0), 0);
    assert.equal(reported, stats.droppedTotal, 'every drop is reported');
    assert.equal(stats.held, 0, 'everything held went out once it was back');
    tally.tried(ticks);
  });
});
