import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Order, Outcome } from '../../core/order.ts';
import { startTitledProcess } from '../../agent/demo/titled-process.ts';
import type { TitledProcess } from '../../agent/demo/titled-process.ts';
import { DeadlineWatcher } from '../../agent/deadlines.ts';
import { Executor } from '../../agent/executor.ts';
import { LinuxProc } from '../../agent/proc.ts';
import {
  RecordingSignaller,
  StandInProc,
  StandInTools,
  type StandInProcess,
} from './executor-stand-ins.ts';

const HOST = 'web1';
const SHOP = '/data/shop/current (production)';

const worker: StandInProcess = {
  startTime: 5000,
  state: 'S',
  cmdline: `Passenger RubyApp: ${SHOP}\0`,
  cwd: '/data/shop/releases/20260301',
  uid: 1001,
  memory: { privateDirtyKb: 1, swapKb: 0, rssKb: 1 },
};

function killOrder(pid: number, startTime = 5000): Order {
  return {
    identity: { host: HOST, pid, startTime },
    app: SHOP,
    action: 'force-kill',
    uid: 1001,
  };
}

interface Settlement {
  readonly order: Order;
  readonly outcome: Outcome;
}

/** A stand-in executor that records when it was asked to act. */
function recordingExecutor() {
  const calls: { order: Order; atMs: number }[] = [];
  return {
    calls,
    carryOut(order: Order): Promise<Outcome> {
      calls.push({ order, atMs: Date.now() });
      return Promise.resolve({
        status: 'killed',
        reason: `stand-in killed pid ${order.identity.pid}`,
        at: Date.now(),
      });
    },
  };
}

function setUp(options: { now?: () => number; pollMs?: number } = {}) {
  const proc = new StandInProc();
  const executor = recordingExecutor();
  const settled: Settlement[] = [];
  const watcher = new DeadlineWatcher({
    executor,
    proc,
    now: options.now ?? Date.now,
    pollMs: options.pollMs ?? 20,
    onSettled: (order, outcome) => settled.push({ order, outcome }),
  });
  return { proc, executor, settled, watcher };
}

describe('DeadlineWatcher', () => {
  describe('watch', () => {
    it('carries out the order at its deadline, not before', async () => {
      const { proc, executor, settled, watcher } = setUp();
      proc.processes.set(4210, worker);
      const deadline = Date.now() + 120;

      watcher.watch(killOrder(4210), deadline);
      await watcher.settled();

      assert.equal(executor.calls.length, 1);
      assert.ok((executor.calls[0]?.atMs ?? 0) >= deadline, 'not early');
      assert.deepEqual(
        settled.map((s) => s.outcome.status),
        ['killed'],
      );
      assert.equal(watcher.size, 0);
    });

    it('settles a victim that leaves by itself as gone, with no kill', async () => {
      const { proc, executor, settled, watcher } = setUp();
      proc.processes.set(4210, worker);
      proc.processes.set(4211, worker);
      proc.processes.set(4212, worker);
      const deadline = Date.now() + 400;
      watcher.watch(killOrder(4210), deadline);
      watcher.watch(killOrder(4211), deadline);
      watcher.watch(killOrder(4212), deadline);

      proc.processes.delete(4210);
      proc.processes.set(4211, { ...worker, startTime: 7000 });
      proc.processes.set(4212, { ...worker, state: 'Z' });
      await watcher.settled();

      assert.deepEqual(executor.calls, []);
      const reasons = settled.map((s) => [
        s.order.identity.pid,
        s.outcome.status,
        s.outcome.reason,
      ]);
      assert.deepEqual(reasons.sort(), [
        [
          4210,
          'gone',
          'pid 4210 has exited (/proc/4210: ENOENT) before its deadline',
        ],
        [
          4211,
          'gone',
          'pid 4211 now belongs to another process: start time 7000, ordered 5000 before its deadline',
        ],
        [
          4212,
          'gone',
          'pid 4212 is a zombie (state Z): it has already exited before its deadline',
        ],
      ]);
      assert.ok(
        settled.every((s) => s.outcome.at < deadline),
        'settled before the deadline',
      );
    });

    it('keeps waiting while the stat may not be read', async () => {
      const { proc, executor, watcher } = setUp();
      proc.processes.set(4210, { ...worker, failing: { stat: 'denied' } });

      watcher.watch(killOrder(4210), Date.now() + 100);
      await watcher.settled();

      assert.equal(executor.calls.length, 1, 'left to the executor');
    });

    it('keeps the earlier deadline when the same process is watched twice', async () => {
      const { proc, executor, watcher } = setUp();
      proc.processes.set(4210, worker);
      const first = Date.now() + 80;

      const added = watcher.watch(killOrder(4210), first);
      const addedAgain = watcher.watch(killOrder(4210), first + 5000);
      await watcher.settled();

      assert.equal(added, true);
      assert.equal(addedAgain, false);
      assert.equal(executor.calls.length, 1);
      assert.ok((executor.calls[0]?.atMs ?? 0) < first + 1000);
    });

    it('watches a reused pid as a different process', () => {
      const { watcher } = setUp();

      watcher.watch(killOrder(4210, 5000), Date.now() + 60_000);
      watcher.watch(killOrder(4210, 6000), Date.now() + 60_000);

      assert.equal(watcher.size, 2);
      watcher.close();
    });

    it('re-arms a timer that fires before the deadline by its clock', async () => {
      let clock = 0;
      const { proc, executor, watcher } = setUp({
        now: () => clock,
        pollMs: 1000,
      });
      proc.processes.set(4210, worker);
      const started = Date.now();

      watcher.watch(killOrder(4210), 60);
      // The watcher's clock stands still through the first firing.
      setTimeout(() => (clock = 60), 90);
      await watcher.settled();

      assert.equal(executor.calls.length, 1);
      assert.ok((executor.calls[0]?.atMs ?? 0) - started >= 90);
    });

    it('rejects an order that is not a force-kill', () => {
      const { watcher } = setUp();

      assert.throws(
        () => watcher.watch({ ...killOrder(4210), action: 'graceful' }, 0),
        /needs order.action 'force-kill', got 'graceful' for pid 4210/,
      );
      assert.equal(watcher.size, 0);
    });

    it('rejects a deadline that is not a time', () => {
      const { watcher } = setUp();

      assert.throws(
        () => watcher.watch(killOrder(4210), Number.NaN),
        /deadlineMs must be an epoch ms time, got NaN/,
      );
    });

    it('reports a rejected carryOut as failed', async () => {
      const proc = new StandInProc();
      proc.processes.set(4210, worker);
      const settled: Settlement[] = [];
      const watcher = new DeadlineWatcher({
        executor: { carryOut: () => Promise.reject(new Error('boom')) },
        proc,
        now: Date.now,
        onSettled: (order, outcome) => settled.push({ order, outcome }),
      });

      watcher.watch(killOrder(4210), Date.now());
      await watcher.settled();

      assert.equal(settled[0]?.outcome.status, 'failed');
      assert.match(settled[0]?.outcome.reason ?? '', /boom/);
    });
  });

  describe('cancel', () => {
    it('stops waiting and settles nothing', async () => {
      const { proc, executor, settled, watcher } = setUp();
      proc.processes.set(4210, worker);
      watcher.watch(killOrder(4210), Date.now() + 50);

      const cancelled = watcher.cancel(killOrder(4210));
      await watcher.settled();
      await delay(100);

      assert.equal(cancelled, true);
      assert.equal(watcher.cancel(killOrder(4210)), false);
      assert.deepEqual(executor.calls, []);
      assert.deepEqual(settled, []);
    });
  });

  describe('close', () => {
    it('clears every timer and settles nothing', async () => {
      const { proc, executor, settled, watcher } = setUp();
      proc.processes.set(4210, worker);
      proc.processes.set(4211, worker);
      watcher.watch(killOrder(4210), Date.now() + 50);
      watcher.watch(killOrder(4211), Date.now() + 50);

      watcher.close();
      await watcher.settled();
      await delay(100);

      assert.equal(watcher.size, 0);
      assert.deepEqual(executor.calls, []);
      assert.deepEqual(settled, []);
      assert.throws(() => watcher.watch(killOrder(4210), 0), /is closed/);
    });
  });
});

/**
 * Whether a Node process that watches one victim, due in 500 ms, waits
 * for it before exiting. Runs in a child, since only exit shows it.
 */
async function runsUntilDeadline(keepAlive: boolean): Promise<string> {
  const script = `
    const { DeadlineWatcher } = await import(process.argv[1]);
    const watcher = new DeadlineWatcher({
      executor: {
        carryOut: async () => ({ status: 'killed', reason: '', at: 0 }),
      },
      proc: {
        stat: () => ({ ok: true, value: { pid: 4210, comm: 'x',
          state: 'S', ppid: 1, pgrp: 1, startTime: 5000 } }),
      },
      now: Date.now,
      keepAlive: process.argv[2] === 'true',
      onSettled: (order, outcome) => console.log('settled', outcome.status),
    });
    watcher.watch({ identity: { host: 'h', pid: 4210, startTime: 5000 },
      app: 'a', action: 'force-kill' }, Date.now() + 500);
  `;
  const modulePath = new URL('../../agent/deadlines.ts', import.meta.url);
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      script,
      modulePath.href,
      String(keepAlive),
    ],
    { timeout: 20_000 },
  );
  return stdout.trim();
}

describe('DeadlineWatcher keepAlive', () => {
  it('keeps Node running until a deadline by default', async () => {
    assert.equal(await runsUntilDeadline(true), 'settled killed');
  });

  it('lets Node exit before a deadline when keepAlive is false', async () => {
    assert.equal(await runsUntilDeadline(false), '');
  });
});

describe('DeadlineWatcher on real processes', () => {
  const proc = new LinuxProc();
  const uid = process.getuid?.() ?? 0;
  const children: TitledProcess[] = [];

  after(async () => {
    await Promise.all(children.map((child) => child.stop()));
  });

  function realSetUp() {
    const signaller = new RecordingSignaller();
    signaller.deliver = (pid, signal) => process.kill(pid, signal);
    const executor = new Executor({
      host: HOST,
      proc,
      tools: new StandInTools(),
      signaller,
      now: Date.now,
    });
    const settled: Settlement[] = [];
    const watcher = new DeadlineWatcher({
      executor,
      proc,
      now: Date.now,
      pollMs: 50,
      onSettled: (order, outcome) => settled.push({ order, outcome }),
    });
    return { signaller, settled, watcher };
  }

  function orderFor(child: TitledProcess): Order {
    const stat = proc.stat(child.pid);
    assert.ok(stat.ok, `stat of child ${child.pid}`);
    return { ...killOrder(child.pid, stat.value.startTime), uid };
  }

  it('kills 20 frozen workers within 1 s of their deadlines', async (t) => {
    const { signaller, settled, watcher } = realSetUp();
    const frozen = await Promise.all(
      Array.from({ length: 20 }, () =>
        startTitledProcess({
          title: `Passenger RubyApp: ${SHOP}`,
          onSignal: 'ignore',
        }),
      ),
    );
    children.push(...frozen);
    const deadlines = new Map<number, number>();
    const start = Date.now();

    // Four victims share each deadline, so kills also land together.
    frozen.forEach((child, index) => {
      const deadline = start + 1000 + Math.floor(index / 4) * 200;
      deadlines.set(child.pid, deadline);
      watcher.watch(orderFor(child), deadline);
    });
    await watcher.settled();

    assert.equal(settled.length, 20);
    let latest = 0;
    for (const { order, outcome } of settled) {
      const deadline = deadlines.get(order.identity.pid) ?? Number.NaN;
      assert.equal(outcome.status, 'killed', outcome.reason);
      const lateBy = outcome.at - deadline;
      assert.ok(
        lateBy >= 0 && lateBy < 1000,
        `pid ${order.identity.pid} late by ${lateBy} ms`,
      );
      latest = Math.max(latest, lateBy);
    }
    t.diagnostic(
      `the latest kill was confirmed ${latest} ms after its deadline`,
    );
    assert.equal(signaller.sent.length, 20);
    for (const sent of signaller.sent) {
      assert.equal(sent.signal, 'SIGKILL');
      assert.ok(
        sent.atMs >= (deadlines.get(sent.pid) ?? Infinity),
        'not before its deadline',
      );
    }
    await Promise.all(frozen.map((child) => child.exited()));
    assert.ok(frozen.every((child) => child.child.signalCode === 'SIGKILL'));
  });

  it('settles a worker that exits before its deadline as gone, and never signals it', async () => {
    const { signaller, settled, watcher } = realSetUp();
    const leaving = await startTitledProcess({
      title: `Passenger RubyApp: ${SHOP}`,
    });
    children.push(leaving);
    const deadline = Date.now() + 1200;

    watcher.watch(orderFor(leaving), deadline);
    leaving.send('exit');
    await watcher.settled();
    const settledAt = Date.now();
    await delay(Math.max(0, deadline - Date.now()) + 200);

    assert.equal(settled.length, 1);
    assert.equal(settled[0]?.outcome.status, 'gone');
    assert.ok(settledAt < deadline, 'settled before the deadline');
    assert.deepEqual(signaller.sent, []);
  });
});
