/**
 * The enforcer's flow on a stand-in host: record before acting, act
 * through the executor, kill at the deadline, and keep that promise
 * across a restart. Real time with a one-second grace; the stand-in
 * signaller removes a process from the stand-in /proc on SIGKILL, as the
 * kernel would.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../core/config.ts';
import type { DecisionLogEntry } from '../../agent/decision-log.ts';
import { Enforcer } from '../../agent/enforcer.ts';
import { openStore, type EnforcerStore } from '../../agent/store.ts';
import {
  RecordingSignaller,
  StandInProc,
  StandInTools,
} from './executor-stand-ins.ts';

const HOST = 'web-1';
const SHOP = '/data/shop/current (production)';
const MB = 1024;

function standInHost() {
  const proc = new StandInProc();
  const add = (pid: number, title: string, privateMb: number) =>
    proc.processes.set(pid, {
      startTime: 5000 + pid,
      state: 'S',
      cmdline: `${title}\0\0\0`,
      cwd: '/data/shop/releases/20260101000000',
      uid: 1000,
      memory: { privateDirtyKb: privateMb * MB, swapKb: 0, rssKb: null },
    });
  add(50, 'Passenger AppPreloader: /data/shop/current', 400);
  add(51, 'Passenger core', 400);
  add(100, `Passenger RubyApp: ${SHOP}`, 150);
  add(101, `Passenger RubyApp: ${SHOP}`, 60);
  const tools = new StandInTools().listing([
    { name: SHOP, appRoot: '/data/shop/current', pids: [100, 101] },
  ]);
  const signaller = new RecordingSignaller();
  // A frozen worker ignores TERM; SIGKILL removes it.
  signaller.deliver = (pid, signal) => {
    if (signal === 'SIGKILL') proc.processes.delete(pid);
  };
  return { proc, tools, signaller };
}

function enforcerOn(
  host: ReturnType<typeof standInHost>,
  store: EnforcerStore,
  log: DecisionLogEntry[],
) {
  return new Enforcer({
    host: HOST,
    config: loadConfig({
      defaults: {
        limitMb: 100,
        graceSeconds: 1,
        gracefulAction: 'signal:TERM',
      },
    }),
    store,
    proc: host.proc,
    tools: host.tools,
    signaller: host.signaller,
    log: (entry) => log.push(entry),
  });
}

describe('Enforcer', () => {
  it('marks, signals, and SIGKILLs a frozen worker at its deadline', async () => {
    const host = standInHost();
    const store = openStore(':memory:');
    const log: DecisionLogEntry[] = [];
    const enforcer = enforcerOn(host, store, log);

    const report = await enforcer.tick();
    assert.deepEqual(
      report.decisions.map((d) => [d.decision, d.pid, d.outcome]),
      [['graceful', 100, 'signalled']],
    );
    assert.equal(store.openRecords(HOST).length, 1);

    await enforcer.deadlinesSettled();
    await enforcer.close();
    assert.deepEqual(
      host.signaller.sent.map((s) => [s.pid, s.signal]),
      [
        [100, 'SIGTERM'],
        [100, 'SIGKILL'],
      ],
    );
    assert.deepEqual(log.at(-1)?.decision, 'force-kill');
    assert.deepEqual(log.at(-1)?.outcome, 'killed');
    assert.deepEqual(store.openRecords(HOST), []);
    store.close();
  });

  it('honours a deadline set before a restart', async () => {
    const host = standInHost();
    const store = openStore(':memory:');
    const log: DecisionLogEntry[] = [];

    const first = enforcerOn(host, store, log);
    await first.tick();
    await first.close(); // the enforcer dies with a deadline pending
    await sleep(1_200);
    assert.equal(host.proc.processes.has(100), true);

    const second = enforcerOn(host, store, log);
    const report = await second.tick();
    await second.deadlinesSettled();
    await second.close();
    // The restarted enforcer does not mark again; it keeps the old promise.
    assert.equal(
      report.decisions.some((d) => d.decision === 'graceful'),
      false,
    );
    assert.equal(host.proc.processes.has(100), false);
    assert.deepEqual(
      host.signaller.sent.map((s) => [s.pid, s.signal]),
      [
        [100, 'SIGTERM'],
        [100, 'SIGKILL'],
      ],
    );
    store.close();
  });

  it('closes the record without a kill when the worker leaves in time', async () => {
    const host = standInHost();
    host.signaller.deliver = (pid) => host.proc.processes.delete(pid);
    const store = openStore(':memory:');
    const log: DecisionLogEntry[] = [];
    const enforcer = enforcerOn(host, store, log);

    await enforcer.tick();
    await enforcer.deadlinesSettled();
    await enforcer.close();
    assert.deepEqual(
      host.signaller.sent.map((s) => s.signal),
      ['SIGTERM'],
    );
    assert.deepEqual(
      log.map((e) => [e.decision, e.outcome]),
      [
        ['graceful', 'signalled'],
        ['gone', 'gone'],
      ],
    );
    store.close();
  });

  it('never signals the preloader or core, however big they are', async () => {
    const host = standInHost();
    const store = openStore(':memory:');
    const enforcer = enforcerOn(host, store, []);
    await enforcer.tick();
    await enforcer.deadlinesSettled();
    await enforcer.close();
    const touched = new Set(host.signaller.sent.map((s) => s.pid));
    assert.equal(touched.has(50), false);
    assert.equal(touched.has(51), false);
    store.close();
  });

  it('acts on nothing in a dry run', async () => {
    const host = standInHost();
    const store = openStore(':memory:');
    const log: DecisionLogEntry[] = [];
    const enforcer = new Enforcer({
      host: HOST,
      config: loadConfig({ defaults: { limitMb: 100 }, dryRun: true }),
      store,
      proc: host.proc,
      tools: host.tools,
      signaller: host.signaller,
      log: (entry) => log.push(entry),
    });
    await enforcer.tick();
    await enforcer.close();
    assert.deepEqual(host.signaller.sent, []);
    assert.deepEqual(
      log.map((e) => [e.decision, e.pid]),
      [['skip', 100]],
    );
    store.close();
  });
});
