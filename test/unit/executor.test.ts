import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Order } from '../../core/order.ts';
import { startTitledProcess } from '../../agent/demo/titled-process.ts';
import type { TitledProcess } from '../../agent/demo/titled-process.ts';
import { Executor } from '../../agent/executor.ts';
import { LinuxProc } from '../../agent/proc.ts';
import { exitedSince } from '../../agent/verify.ts';
import {
  RecordingSignaller,
  StandInProc,
  StandInTools,
  errnoError,
  toolResult,
  type StandInProcess,
} from './executor-stand-ins.ts';

const HOST = 'web1';
const PID = 4210;
const NOW = Date.parse('2026-03-01T12:00:00Z');
const SHOP = '/data/shop/current (production)';
const MB = 1024;

const worker: StandInProcess = {
  startTime: 5000,
  state: 'S',
  cmdline: `Passenger RubyApp: ${SHOP}\0`,
  cwd: '/data/shop/releases/20260301',
  uid: 1001,
  memory: { privateDirtyKb: 300 * MB, swapKb: 0, rssKb: 320 * MB },
};

function orderOf(overrides: Partial<Order> = {}): Order {
  return {
    identity: { host: HOST, pid: PID, startTime: 5000 },
    app: SHOP,
    action: 'graceful',
    graceful: { type: 'detach' },
    limitKb: 250 * MB,
    measure: 'private',
    uid: 1001,
    ...overrides,
  };
}

function setUp(process: Partial<StandInProcess> = {}) {
  const proc = new StandInProc();
  proc.processes.set(PID, { ...worker, ...process });
  const tools = new StandInTools().listing([
    { name: SHOP, appRoot: '/data/shop/current', pids: [PID] },
  ]);
  const signaller = new RecordingSignaller();
  const executor = new Executor({
    host: HOST,
    proc,
    tools,
    signaller,
    now: () => NOW,
    selfPid: 700,
    parentPid: 699,
  });
  return { proc, tools, signaller, executor };
}

describe('Executor', () => {
  describe('carryOut: graceful detach', () => {
    it('detaches a pooled worker still over its limit', async () => {
      const { tools, signaller, executor } = setUp();

      const outcome = await executor.carryOut(orderOf());

      assert.deepEqual(outcome, {
        status: 'detached',
        reason: `pid ${PID} ('Passenger RubyApp: ${SHOP}') was detached from Passenger's pool`,
        at: NOW,
      });
      assert.deepEqual(tools.calls, [
        { tool: 'poolXml' },
        { tool: 'detach', pid: PID },
      ]);
      assert.deepEqual(signaller.sent, []);
    });

    it('fails when passenger-config is missing', async () => {
      const { tools, executor } = setUp();
      tools.detachResult = () =>
        Promise.resolve(toolResult({ missing: true, exitCode: null }));

      const outcome = await executor.carryOut(orderOf());

      assert.equal(outcome.status, 'failed');
      assert.equal(outcome.reason, 'passenger-config not found');
    });

    it('fails when passenger-config times out', async () => {
      const { tools, executor } = setUp();
      tools.detachResult = () =>
        Promise.resolve(
          toolResult({ timedOut: true, exitCode: null, elapsedMs: 10_000 }),
        );

      const outcome = await executor.carryOut(orderOf());

      assert.equal(outcome.status, 'failed');
      assert.equal(
        outcome.reason,
        `passenger-config detach-process ${PID} timed out after 10000 ms`,
      );
    });

    it("fails with the tool's first line when it exits non-zero", async () => {
      const { tools, executor } = setUp();
      tools.detachResult = (pid) =>
        Promise.resolve(
          toolResult({
            exitCode: 1,
            stdout: `\nCould not detach process ${pid}.\nsecond line\n`,
          }),
        );

      const outcome = await executor.carryOut(orderOf());

      assert.equal(outcome.status, 'failed');
      assert.equal(
        outcome.reason,
        `passenger-config detach-process ${PID} exited with code 1: ` +
          `Could not detach process ${PID}.`,
      );
    });

    it('fails when a tool never answers, after its backstop', async () => {
      const proc = new StandInProc();
      proc.processes.set(PID, worker);
      const tools = new StandInTools().listing([
        { name: SHOP, appRoot: '/data/shop/current', pids: [PID] },
      ]);
      tools.detachResult = () => new Promise(() => {});
      const executor = new Executor({
        host: HOST,
        proc,
        tools,
        now: () => NOW,
        toolBackstopMs: 50,
      });

      const outcome = await executor.carryOut(orderOf());

      assert.equal(outcome.status, 'failed');
      assert.match(outcome.reason, /detach-process 4210 timed out after 50 ms/);
    });

    it('refuses, without detaching, a pid the pool does not list', async () => {
      const { tools, executor } = setUp();
      tools.listing([]);

      const outcome = await executor.carryOut(orderOf());

      assert.equal(outcome.status, 'refused');
      assert.match(outcome.reason, /is not in Passenger's pool/);
      assert.deepEqual(tools.calls, [{ tool: 'poolXml' }]);
    });

    it('refuses, without detaching, when passenger-status fails', async () => {
      const { tools, executor } = setUp();
      tools.pool = () =>
        Promise.resolve(
          toolResult({ exitCode: 2, stderr: 'You are not authorized.\n' }),
        );

      const outcome = await executor.carryOut(orderOf());

      assert.equal(outcome.status, 'refused');
      assert.match(
        outcome.reason,
        /passenger-status --show=xml exited with code 2: You are not authorized\./,
      );
      assert.equal(tools.calls.filter((c) => c.tool === 'detach').length, 0);
    });

    it('refuses a worker that shrank under its limit', async () => {
      const { tools, executor } = setUp({
        memory: { privateDirtyKb: 200 * MB, swapKb: 0, rssKb: 210 * MB },
      });

      const outcome = await executor.carryOut(orderOf());

      assert.equal(outcome.status, 'refused');
      assert.match(outcome.reason, /now 200 MB by private, no longer over/);
      assert.equal(tools.calls.filter((c) => c.tool === 'detach').length, 0);
    });
  });

  describe('carryOut: graceful signal', () => {
    const termOrder = orderOf({ graceful: { type: 'signal', signal: 'TERM' } });

    it('sends the signal without reading the pool', async () => {
      const { tools, signaller, executor } = setUp();

      const outcome = await executor.carryOut(termOrder);

      assert.equal(outcome.status, 'signalled');
      assert.equal(
        outcome.reason,
        `sent SIGTERM to pid ${PID} ('Passenger RubyApp: ${SHOP}')`,
      );
      assert.deepEqual(
        signaller.sent.map(({ pid, signal }) => ({ pid, signal })),
        [{ pid: PID, signal: 'SIGTERM' }],
      );
      assert.deepEqual(tools.calls, []);
    });

    it('checks again right before the signal', async () => {
      const { proc, signaller, executor } = setUp();
      // The pid is reused between the first and the second check.
      const realStat = proc.stat.bind(proc);
      let reads = 0;
      proc.stat = (pid) => {
        reads += 1;
        if (reads > 1) proc.processes.set(PID, { ...worker, startTime: 9 });
        return realStat(pid);
      };

      const outcome = await executor.carryOut(termOrder);

      assert.equal(outcome.status, 'gone');
      assert.match(outcome.reason, /start time 9, ordered 5000/);
      assert.equal(reads, 2);
      assert.deepEqual(signaller.sent, []);
    });

    it('refuses USR1 to a Node worker', async () => {
      const { signaller, executor } = setUp({
        cmdline: 'Passenger NodeApp: /data/shop/current\0',
      });

      const outcome = await executor.carryOut(
        orderOf({ graceful: { type: 'signal', signal: 'USR1' } }),
      );

      assert.equal(outcome.status, 'refused');
      assert.match(outcome.reason, /would open its Node inspector/);
      assert.deepEqual(signaller.sent, []);
    });

    it('refuses a signal that is not a graceful one', async () => {
      const { signaller, executor } = setUp();
      const kill = {
        type: 'signal',
        signal: 'KILL',
      } as unknown as Order['graceful'];

      const outcome = await executor.carryOut(orderOf({ graceful: kill }));

      assert.equal(outcome.status, 'refused');
      assert.match(outcome.reason, /signal must be one of USR1, .*got 'KILL'/);
      assert.deepEqual(signaller.sent, []);
    });

    it('calls the worker gone when kill says ESRCH', async () => {
      const { signaller, executor } = setUp();
      signaller.deliver = () => {
        throw errnoError('ESRCH');
      };

      const outcome = await executor.carryOut(termOrder);

      assert.equal(outcome.status, 'gone');
      assert.match(outcome.reason, /exited before SIGTERM reached it/);
    });

    it('fails when kill is not permitted', async () => {
      const { signaller, executor } = setUp();
      signaller.deliver = () => {
        throw errnoError('EPERM');
      };

      const outcome = await executor.carryOut(termOrder);

      assert.equal(outcome.status, 'failed');
      assert.match(
        outcome.reason,
        /sending SIGTERM to pid 4210 failed: kill EPERM/,
      );
    });

    it('refuses a graceful order that names no action', async () => {
      const { signaller, executor } = setUp();

      const outcome = await executor.carryOut(orderOf({ graceful: undefined }));

      assert.equal(outcome.status, 'refused');
      assert.match(
        outcome.reason,
        /order.graceful must name the graceful action/,
      );
      assert.deepEqual(signaller.sent, []);
    });
  });

  describe('carryOut: graceful command', () => {
    it('puts the pid in whole {pid} arguments only', async () => {
      const { tools, executor } = setUp();
      const argv = [
        '/usr/local/bin/recycle',
        '--pid',
        '{pid}',
        'x{pid}',
        '$(id)',
      ];

      const outcome = await executor.carryOut(
        orderOf({ graceful: { type: 'command', argv } }),
      );

      assert.equal(outcome.status, 'signalled');
      assert.equal(
        outcome.reason,
        `ran /usr/local/bin/recycle for pid ${PID}: exit 0`,
      );
      assert.deepEqual(tools.calls, [
        {
          tool: 'run',
          argv: [
            '/usr/local/bin/recycle',
            '--pid',
            String(PID),
            'x{pid}',
            '$(id)',
          ],
        },
      ]);
    });

    it('fails when the command exits non-zero or is missing', async () => {
      const { tools, executor } = setUp();
      const order = orderOf({
        graceful: { type: 'command', argv: ['recycle', '{pid}'] },
      });
      tools.runResult = () =>
        Promise.resolve(toolResult({ exitCode: 3, stderr: 'no such worker' }));
      const exitedBadly = await executor.carryOut(order);
      tools.runResult = () =>
        Promise.resolve(toolResult({ missing: true, exitCode: null }));
      const missing = await executor.carryOut(order);

      assert.equal(exitedBadly.status, 'failed');
      assert.equal(
        exitedBadly.reason,
        `recycle for pid ${PID} exited with code 3: no such worker`,
      );
      assert.equal(missing.status, 'failed');
      assert.equal(missing.reason, 'recycle not found');
    });

    it('refuses an empty argv', async () => {
      const { tools, executor } = setUp();

      const outcome = await executor.carryOut(
        orderOf({ graceful: { type: 'command', argv: [] } }),
      );

      assert.equal(outcome.status, 'refused');
      assert.match(outcome.reason, /argv must be a non-empty list/);
      assert.deepEqual(tools.calls, []);
    });
  });

  describe('carryOut: force-kill', () => {
    const killOrder = orderOf({ action: 'force-kill', graceful: undefined });

    it('kills and confirms the worker is gone', async () => {
      const { proc, signaller, executor } = setUp();
      signaller.deliver = (pid) => proc.processes.delete(pid);

      const outcome = await executor.carryOut(killOrder);

      assert.equal(outcome.status, 'killed');
      assert.equal(
        outcome.reason,
        `pid ${PID} ('Passenger RubyApp: ${SHOP}') was SIGKILLed and is gone`,
      );
      assert.deepEqual(
        signaller.sent.map((s) => s.signal),
        ['SIGKILL'],
      );
    });

    it('counts a zombie left by the kill as gone', async () => {
      const { proc, signaller, executor } = setUp();
      signaller.deliver = (pid) =>
        proc.processes.set(pid, { ...worker, state: 'Z', cmdline: '' });

      const outcome = await executor.carryOut(killOrder);

      assert.equal(outcome.status, 'killed');
    });

    it('kills a worker under its limit: the grace time is over', async () => {
      const { proc, signaller, executor } = setUp({
        memory: { privateDirtyKb: 10 * MB, swapKb: 0, rssKb: 10 * MB },
      });
      signaller.deliver = (pid) => proc.processes.delete(pid);

      const outcome = await executor.carryOut(killOrder);

      assert.equal(outcome.status, 'killed');
    });

    it('fails when the process outlives the confirmation time', async () => {
      const proc = new StandInProc();
      proc.processes.set(PID, { ...worker, state: 'D' });
      const signaller = new RecordingSignaller();
      const executor = new Executor({
        host: HOST,
        proc,
        tools: new StandInTools(),
        signaller,
        now: () => NOW,
        killConfirmMs: 100,
        killPollMs: 20,
      });

      const outcome = await executor.carryOut(killOrder);

      assert.equal(outcome.status, 'failed');
      assert.equal(
        outcome.reason,
        `pid ${PID} was sent SIGKILL but still ran after 100 ms (state D)`,
      );
      assert.ok((proc.statReads.get(PID) ?? 0) >= 6, 'polled the stat');
    });

    it('calls the worker gone on ESRCH', async () => {
      const { signaller, executor } = setUp();
      signaller.deliver = () => {
        throw errnoError('ESRCH');
      };

      const outcome = await executor.carryOut(killOrder);

      assert.equal(outcome.status, 'gone');
    });

    it('refuses the preloader without a signal', async () => {
      const { signaller, executor } = setUp({
        cmdline: 'Passenger AppPreloader: /data/shop/current\0',
      });

      const outcome = await executor.carryOut(killOrder);

      assert.equal(outcome.status, 'refused');
      assert.match(outcome.reason, /is the preloader/);
      assert.deepEqual(signaller.sent, []);
    });
  });

  describe('carryOut: orphan-term', () => {
    const orphanOrder = orderOf({ action: 'orphan-term', graceful: undefined });

    it('sends TERM to a worker the pool does not list', async () => {
      const { tools, signaller, executor } = setUp();
      tools.listing([
        { name: SHOP, appRoot: '/data/shop/current', pids: [4211] },
      ]);

      const outcome = await executor.carryOut(orphanOrder);

      assert.equal(outcome.status, 'signalled');
      assert.match(outcome.reason, /^sent SIGTERM to orphan pid 4210/);
      assert.deepEqual(
        signaller.sent.map((s) => s.signal),
        ['SIGTERM'],
      );
    });

    it('refuses a worker the pool lists', async () => {
      const { signaller, executor } = setUp();

      const outcome = await executor.carryOut(orphanOrder);

      assert.equal(outcome.status, 'refused');
      assert.match(outcome.reason, /so it is no orphan/);
      assert.deepEqual(signaller.sent, []);
    });

    it('refuses when the pool cannot be read', async () => {
      const { tools, signaller, executor } = setUp();
      tools.pool = () =>
        Promise.resolve(toolResult({ exitCode: 0, stdout: 'not xml at all' }));

      const outcome = await executor.carryOut(orphanOrder);

      assert.equal(outcome.status, 'refused');
      assert.match(outcome.reason, /pool could not be read/);
      assert.deepEqual(signaller.sent, []);
    });
  });

  describe('carryOut: bad input and surprises', () => {
    it('refuses an unknown action', async () => {
      const { signaller, executor } = setUp();
      const order = { ...orderOf(), action: 'explode' } as unknown as Order;

      const outcome = await executor.carryOut(order);

      assert.equal(outcome.status, 'refused');
      assert.match(outcome.reason, /order.action must be .*got 'explode'/);
      assert.deepEqual(signaller.sent, []);
    });

    it('turns a thrown error into a failed outcome', async () => {
      const { proc, tools, executor } = setUp();
      proc.stat = () => {
        throw new Error('proc is on fire');
      };
      tools.pool = () => Promise.reject(new Error('unused'));

      const outcome = await executor.carryOut(
        orderOf({ graceful: { type: 'signal', signal: 'TERM' } }),
      );

      assert.deepEqual(outcome, {
        status: 'failed',
        reason:
          'carrying out graceful for pid 4210 failed unexpectedly: ' +
          'proc is on fire',
        at: NOW,
      });
    });

    it('turns a rejected tool call into a failed outcome', async () => {
      const { tools, executor } = setUp();
      tools.pool = () => Promise.reject(new Error('spawn EAGAIN'));

      const outcome = await executor.carryOut(orderOf());

      assert.equal(outcome.status, 'failed');
      assert.match(outcome.reason, /spawn EAGAIN/);
    });
  });
});

describe('Executor on real processes', () => {
  const proc = new LinuxProc();
  const uid = process.getuid?.() ?? 0;
  const children: TitledProcess[] = [];
  const others: ChildProcess[] = [];

  after(async () => {
    for (const other of others) other.kill('SIGKILL');
    await Promise.all(children.map((child) => child.stop()));
  });

  async function start(title: string, onSignal: 'exit' | 'ignore' = 'exit') {
    const child = await startTitledProcess({ title, onSignal, initialMb: 4 });
    children.push(child);
    return child;
  }

  function startTimeOf(pid: number): number {
    const stat = proc.stat(pid);
    assert.ok(stat.ok, `stat of child ${pid}`);
    return stat.value.startTime;
  }

  function realOrder(pid: number, overrides: Partial<Order> = {}): Order {
    return {
      identity: { host: HOST, pid, startTime: startTimeOf(pid) },
      app: SHOP,
      action: 'force-kill',
      uid,
      ...overrides,
    };
  }

  function realExecutor(pids: readonly number[]) {
    const tools = new StandInTools().listing([
      { name: SHOP, appRoot: '/data/shop/current', pids },
    ]);
    const signaller = new RecordingSignaller();
    signaller.deliver = (pid, signal) => process.kill(pid, signal);
    const executor = new Executor({
      host: HOST,
      proc,
      tools,
      signaller,
      now: Date.now,
    });
    return { executor, signaller, tools };
  }

  function stillRuns(order: Order): boolean {
    return exitedSince(proc, order.identity) === undefined;
  }

  it('SIGKILLs a frozen worker that ignored its graceful signal', async () => {
    const frozen = await start(`Passenger RubyApp: ${SHOP}`, 'ignore');
    const { executor, signaller } = realExecutor([frozen.pid]);
    const term = realOrder(frozen.pid, {
      action: 'graceful',
      graceful: { type: 'signal', signal: 'TERM' },
      limitKb: 1 * MB,
      measure: 'private',
    });

    const termOutcome = await executor.carryOut(term);
    await delay(200);
    const frozeThrough = stillRuns(term);
    const killOutcome = await executor.carryOut({
      ...term,
      action: 'force-kill',
    });

    assert.equal(termOutcome.status, 'signalled', termOutcome.reason);
    assert.equal(frozeThrough, true, 'the frozen worker ignored TERM');
    assert.equal(killOutcome.status, 'killed', killOutcome.reason);
    assert.equal(stillRuns(term), false);
    assert.deepEqual(
      signaller.sent.map((s) => s.signal),
      ['SIGTERM', 'SIGKILL'],
    );
    await frozen.exited();
    assert.equal(frozen.child.signalCode, 'SIGKILL');
  });

  it('detaches a real worker listed in the pool', async () => {
    const bloated = await start(`Passenger RubyApp: ${SHOP}`);
    const { executor, tools } = realExecutor([bloated.pid]);
    tools.detachResult = () => {
      bloated.send('detach');
      return Promise.resolve(toolResult());
    };

    const outcome = await executor.carryOut(
      realOrder(bloated.pid, {
        action: 'graceful',
        graceful: { type: 'detach' },
        limitKb: 1 * MB,
        measure: 'private',
      }),
    );

    assert.equal(outcome.status, 'detached', outcome.reason);
    await bloated.exited();
    assert.equal(bloated.child.exitCode, 0);
  });

  it('refuses a preloader-titled child and leaves it running', async () => {
    const preloader = await start('Passenger AppPreloader: /data/shop/current');
    const { executor, signaller } = realExecutor([]);
    const order = realOrder(preloader.pid);

    const outcome = await executor.carryOut(order);

    assert.equal(outcome.status, 'refused');
    assert.match(outcome.reason, /is the preloader/);
    assert.deepEqual(signaller.sent, []);
    await delay(50);
    assert.equal(stillRuns(order), true);
  });

  it("refuses another app's child and leaves it running", async () => {
    const blog = await start(
      'Passenger RubyApp: /data/blog/current (production)',
    );
    const { executor, signaller } = realExecutor([blog.pid]);
    const order = realOrder(blog.pid);

    const outcome = await executor.carryOut(order);

    assert.equal(outcome.status, 'refused');
    assert.match(outcome.reason, /belongs to app '\/data\/blog\/current/);
    assert.deepEqual(signaller.sent, []);
    await delay(50);
    assert.equal(stillRuns(order), true);
  });

  it('refuses a stale start time and leaves the child running', async () => {
    const child = await start(`Passenger RubyApp: ${SHOP}`);
    const { executor, signaller } = realExecutor([child.pid]);
    const current = realOrder(child.pid);
    const stale: Order = {
      ...current,
      identity: {
        ...current.identity,
        startTime: current.identity.startTime + 1,
      },
    };

    const outcome = await executor.carryOut(stale);

    assert.equal(outcome.status, 'gone');
    assert.match(outcome.reason, /now belongs to another process/);
    assert.deepEqual(signaller.sent, []);
    await delay(50);
    assert.equal(stillRuns(current), true);
  });

  it('treats a real zombie as gone', async () => {
    const outer = spawn('sh', ['-c', 'sleep 0.05 & exec sleep 30'], {
      stdio: 'ignore',
    });
    others.push(outer);
    const zombiePid = await findZombieChild(proc, outer.pid ?? -1);
    const { executor, signaller } = realExecutor([]);

    const outcome = await executor.carryOut(
      realOrder(zombiePid, { app: '/data/anything/current' }),
    );

    assert.equal(outcome.status, 'gone');
    assert.match(outcome.reason, /is a zombie \(state Z\)/);
    assert.deepEqual(signaller.sent, []);
  });
});

/** The pid of a zombie child of `parent`, waiting at most 2 s. */
async function findZombieChild(proc: LinuxProc, parent: number) {
  const childrenFile = `/proc/${parent}/task/${parent}/children`;
  for (let look = 0; look < 100; look++) {
    await delay(20);
    let listed: number[] = [];
    try {
      listed = readFileSync(childrenFile, 'utf8')
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    } catch {
      continue;
    }
    for (const pid of listed) {
      const stat = proc.stat(pid);
      if (stat.ok && stat.value.state === 'Z') return pid;
    }
  }
  throw new Error(`no zombie child of pid ${parent} within 2 s`);
}
