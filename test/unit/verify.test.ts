import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Order, OrderAction } from '../../core/order.ts';
import type { AppRef } from '../../core/worker.ts';
import type { PoolView } from '../../agent/pool-view.ts';
import { exitedSince, verifyTarget } from '../../agent/verify.ts';
import { StandInProc, type StandInProcess } from './executor-stand-ins.ts';

const HOST = 'web1';
const PID = 4210;
const SELF_PID = 700;
const PARENT_PID = 699;
const NOW = Date.parse('2026-03-01T12:00:00Z');
const SHOP = '/data/shop/current (production)';
const MB = 1024;

const order: Order = {
  identity: { host: HOST, pid: PID, startTime: 5000 },
  app: SHOP,
  action: 'graceful',
  graceful: { type: 'signal', signal: 'TERM' },
  limitKb: 250 * MB,
  measure: 'private',
  uid: 1001,
};

const worker: StandInProcess = {
  startTime: 5000,
  state: 'S',
  cmdline: `Passenger RubyApp: ${SHOP}\0\0\0\0`,
  cwd: '/data/shop/releases/20260301',
  uid: 1001,
  memory: { privateDirtyKb: 300 * MB, swapKb: 0, rssKb: 320 * MB },
};

const shopInPool: PoolView = {
  ok: true,
  members: new Map<number, AppRef>([
    [PID, { group: SHOP, root: '/data/shop/current' }],
  ]),
};
const emptyPool: PoolView = { ok: true, members: new Map() };
const unreadablePool: PoolView = {
  ok: false,
  reason: 'passenger-status exited with code 2: not authorized',
};

interface Case {
  readonly name: string;
  readonly order?: Partial<Order>;
  readonly process?: Partial<StandInProcess> | 'absent';
  readonly step?: OrderAction;
  readonly pool?: PoolView;
  readonly expect: 'ok' | 'gone' | 'refused';
  readonly reason?: RegExp;
}

function run(c: Case) {
  const proc = new StandInProc();
  if (c.process !== 'absent') {
    proc.processes.set(PID, { ...worker, ...c.process });
  }
  return verifyTarget({ ...order, ...c.order }, c.step ?? 'graceful', {
    host: HOST,
    proc,
    now: NOW,
    selfPid: SELF_PID,
    parentPid: PARENT_PID,
    ...(c.pool === undefined ? {} : { pool: c.pool }),
  });
}

function titled(title: string): Partial<StandInProcess> {
  return { cmdline: `${title}\0` };
}

function withPid(pid: number): Partial<Order> {
  return { identity: { host: HOST, pid, startTime: 5000 } };
}

const cases: Case[] = [
  // the target itself
  { name: 'passes a bloated worker of the app', expect: 'ok' },
  {
    name: 'refuses pid 1',
    order: withPid(1),
    expect: 'refused',
    reason: /pid must be a safe integer of at least 2, got 1$/,
  },
  {
    name: 'refuses pid 0',
    order: withPid(0),
    expect: 'refused',
    reason: /got 0$/,
  },
  {
    name: 'refuses a negative pid',
    order: withPid(-4210),
    expect: 'refused',
    reason: /got -4210$/,
  },
  {
    name: 'refuses a fractional pid',
    order: withPid(42.5),
    expect: 'refused',
    reason: /got 42.5$/,
  },
  {
    name: 'refuses its own pid',
    order: withPid(SELF_PID),
    expect: 'refused',
    reason: /pid 700 is this agent itself/,
  },
  {
    name: "refuses its parent's pid",
    order: withPid(PARENT_PID),
    expect: 'refused',
    reason: /pid 699 is this agent's parent/,
  },
  {
    name: 'refuses an order for another host',
    order: { identity: { host: 'web2', pid: PID, startTime: 5000 } },
    expect: 'refused',
    reason: /host must be this host 'web1', got 'web2'/,
  },

  // identity
  {
    name: 'calls a vanished pid gone',
    process: 'absent',
    expect: 'gone',
    reason: /pid 4210 has exited/,
  },
  {
    name: 'refuses a stat it may not read',
    process: { failing: { stat: 'denied' } },
    expect: 'refused',
    reason: /stat of pid 4210 could not be read \(denied/,
  },
  {
    name: 'calls a reused pid gone',
    process: { startTime: 5001 },
    expect: 'gone',
    reason:
      /^pid 4210 now belongs to another process: start time 5001, ordered 5000$/,
  },
  {
    name: 'calls a zombie gone',
    process: { state: 'Z', cmdline: '' },
    expect: 'gone',
    reason: /pid 4210 is a zombie \(state Z\)/,
  },
  {
    name: 'calls a dead process gone',
    process: { state: 'X' },
    expect: 'gone',
    reason: /state X/,
  },
  { name: 'passes a stopped worker', process: { state: 'T' }, expect: 'ok' },

  // role
  {
    name: 'refuses the preloader',
    process: titled('Passenger AppPreloader: /data/shop/current'),
    expect: 'refused',
    reason:
      /^pid 4210 is the preloader \('Passenger AppPreloader: \/data\/shop\/current'\); never touched$/,
  },
  {
    name: 'passes a 5.3-6.0.7 worker titled as a forking preloader',
    process: titled('Passenger AppPreloader: /data/shop/current (forking...)'),
    order: { app: '/data/shop/current' },
    expect: 'ok',
  },
  {
    name: "refuses Passenger's core",
    process: titled('Passenger core'),
    expect: 'refused',
    reason: /is Passenger's core \('Passenger core'\)/,
  },
  {
    name: 'refuses the watchdog',
    process: titled('Passenger watchdog'),
    expect: 'refused',
    reason: /is Passenger's watchdog/,
  },
  {
    name: 'refuses the 5.0 agent',
    process: titled('PassengerAgent server'),
    expect: 'refused',
    reason: /is Passenger's core/,
  },
  {
    name: 'refuses the logging agent',
    process: titled('PassengerLoggingAgent'),
    expect: 'refused',
    reason: /is a Passenger agent/,
  },
  {
    name: 'refuses the ust-router',
    process: titled('Passenger ust-router'),
    expect: 'refused',
    reason: /is a Passenger agent/,
  },
  {
    name: 'refuses a spawner',
    process: titled('Passenger ApplicationSpawner: /data/shop/current'),
    expect: 'refused',
    reason: /is a Passenger spawner/,
  },
  {
    name: 'refuses Apache',
    process: titled('/usr/sbin/apache2\0-k\0start'),
    expect: 'refused',
    reason: /is a web server \('\/usr\/sbin\/apache2 -k start'\)/,
  },
  {
    name: 'refuses nginx',
    process: titled('nginx: worker process'),
    expect: 'refused',
    reason: /is a web server/,
  },
  {
    name: 'refuses any other program',
    process: titled('/usr/bin/ruby\0bin/rake\0jobs:work'),
    expect: 'refused',
    reason:
      /is not a Passenger app worker \('\/usr\/bin\/ruby bin\/rake jobs:work'\)/,
  },
  {
    name: 'refuses an empty cmdline',
    process: { cmdline: '' },
    expect: 'refused',
    reason: /\('no title'\)/,
  },
  {
    name: 'calls gone a process whose cmdline vanished',
    process: { failing: { cmdline: 'gone' } },
    expect: 'gone',
    reason: /its cmdline is gone/,
  },

  // app
  {
    name: "refuses another app's worker",
    process: titled('Passenger RubyApp: /data/blog/current (production)'),
    expect: 'refused',
    reason:
      /^pid 4210 belongs to app '\/data\/blog\/current \(production\)', not to the ordered app '\/data\/shop\/current \(production\)'$/,
  },
  {
    name: 'passes a worker titled with the same deploy dir',
    process: titled('Passenger RubyApp: /data/shop/current'),
    expect: 'ok',
  },
  {
    name: 'refuses a custom group name that differs',
    process: titled('Passenger RubyApp: shop-staging'),
    expect: 'refused',
    reason: /belongs to app 'shop-staging'/,
  },
  {
    name: 'passes a Python worker by its cwd',
    process: {
      cmdline:
        '/usr/bin/python3\0/usr/share/passenger/helper-scripts/wsgi-loader.py\0',
    },
    expect: 'ok',
  },
  {
    name: "refuses a Python worker of another app's cwd",
    process: {
      cmdline:
        '/usr/bin/python3\0/usr/share/passenger/helper-scripts/wsgi-loader.py\0',
      cwd: '/data/blog/releases/1',
    },
    expect: 'refused',
    reason: /belongs to app '\/data\/blog\/releases\/1'/,
  },
  {
    name: 'refuses a Python worker whose cwd it may not read',
    process: {
      cmdline:
        '/usr/bin/python3\0/usr/share/passenger/helper-scripts/wsgi-loader.py\0',
      failing: { cwd: 'denied' },
    },
    expect: 'refused',
    reason: /cwd of pid 4210 could not be read/,
  },

  // owner
  {
    name: 'refuses a worker of another uid',
    process: { uid: 1002 },
    expect: 'refused',
    reason: /^pid 4210 is owned by uid 1002, the order saw uid 1001$/,
  },
  {
    name: 'refuses a worker owned by root when the order saw another uid',
    process: { uid: 0 },
    expect: 'refused',
    reason: /owned by uid 0, the order saw uid 1001/,
  },
  {
    name: 'refuses a root worker when the order names no uid',
    process: { uid: 0 },
    order: { uid: undefined },
    expect: 'refused',
    reason: /owned by root \(uid 0\) and the order did not name uid 0/,
  },
  {
    name: 'passes a root worker when the order names uid 0',
    process: { uid: 0 },
    order: { uid: 0 },
    expect: 'ok',
  },
  {
    name: 'passes a non-root worker when the order names no uid',
    order: { uid: undefined },
    expect: 'ok',
  },
  {
    name: 'refuses when the uid is unreadable',
    process: { failing: { uid: 'unreadable' } },
    expect: 'refused',
    reason: /uid of pid 4210 could not be read/,
  },

  // memory, graceful step only
  {
    name: 'refuses a worker now under the limit',
    process: {
      memory: { privateDirtyKb: 80.2 * MB, swapKb: 0, rssKb: 90 * MB },
    },
    order: { limitKb: 100 * MB },
    expect: 'refused',
    reason:
      /^pid 4210 is now 80.2 MB by private, no longer over the 100 MB limit$/,
  },
  {
    name: 'refuses a worker exactly at the limit',
    order: { limitKb: 300 * MB },
    expect: 'refused',
    reason: /now 300 MB by private, no longer over the 300 MB limit/,
  },
  {
    name: 'refuses unreadable Private_Dirty',
    process: { memory: { privateDirtyKb: null, swapKb: null, rssKb: null } },
    expect: 'refused',
    reason: /memory of pid 4210 by private is unreadable/,
  },
  {
    name: 'refuses when memory may not be read',
    process: { failing: { memory: 'denied' } },
    expect: 'refused',
    reason: /memory of pid 4210 could not be read/,
  },
  {
    name: 'refuses a graceful order without a limit',
    order: { limitKb: undefined },
    expect: 'refused',
    reason: /limitKb must be a number of kB for a graceful step, got undefined/,
  },
  {
    name: 'counts swap for private+swap',
    process: {
      memory: { privateDirtyKb: 90 * MB, swapKb: 20 * MB, rssKb: 90 * MB },
    },
    order: { limitKb: 100 * MB, measure: 'private+swap' },
    expect: 'ok',
  },
  {
    name: 'leaves swap out for private',
    process: {
      memory: { privateDirtyKb: 90 * MB, swapKb: 20 * MB, rssKb: 90 * MB },
    },
    order: { limitKb: 100 * MB, measure: 'private' },
    expect: 'refused',
    reason: /now 90 MB by private/,
  },
  {
    name: 'does not weigh a force-kill',
    step: 'force-kill',
    order: { action: 'force-kill', limitKb: 900 * MB },
    expect: 'ok',
  },
  {
    name: 'does not read memory for a force-kill',
    step: 'force-kill',
    order: { action: 'force-kill' },
    process: { failing: { memory: 'denied' } },
    expect: 'ok',
  },

  // the clock
  {
    name: 'refuses an expired order before anything else',
    process: 'absent',
    order: { notAfter: NOW - 1 },
    expect: 'refused',
    reason:
      /^order for pid 4210 expired at 2026-03-01T11:59:59.999Z; it is now 2026-03-01T12:00:00.000Z$/,
  },
  {
    name: 'passes an order still in time',
    order: { notAfter: NOW },
    expect: 'ok',
  },

  // the pool
  {
    name: 'passes a detach of a pooled worker',
    order: { graceful: { type: 'detach' } },
    pool: shopInPool,
    expect: 'ok',
  },
  {
    name: 'refuses a detach of a pid not in the pool',
    order: { graceful: { type: 'detach' } },
    pool: emptyPool,
    expect: 'refused',
    reason: /^pid 4210 is not in Passenger's pool, so it cannot be detached$/,
  },
  {
    name: 'refuses a detach when the pool is unreadable',
    order: { graceful: { type: 'detach' } },
    pool: unreadablePool,
    expect: 'refused',
    reason:
      /pool could not be read \(passenger-status exited with code 2: not authorized\)/,
  },
  {
    name: 'refuses a detach of a pid pooled under another app',
    order: { graceful: { type: 'detach' } },
    pool: {
      ok: true,
      members: new Map([[PID, { group: '/data/blog/current (production)' }]]),
    },
    expect: 'refused',
    reason: /lists pid 4210 under '\/data\/blog\/current \(production\)'/,
  },
  { name: 'ignores the pool for a signal', pool: emptyPool, expect: 'ok' },
  {
    name: 'passes an orphan the pool does not list',
    step: 'orphan-term',
    order: { action: 'orphan-term' },
    pool: emptyPool,
    expect: 'ok',
  },
  {
    name: 'refuses an orphan the pool lists',
    step: 'orphan-term',
    order: { action: 'orphan-term' },
    pool: shopInPool,
    expect: 'refused',
    reason:
      /^pid 4210 is in Passenger's pool \(group '\/data\/shop\/current \(production\)'\), so it is no orphan$/,
  },
  {
    name: 'refuses an orphan when the pool was read only in part',
    step: 'orphan-term',
    order: { action: 'orphan-term' },
    pool: {
      ok: true,
      members: new Map(),
      skipped: ['a process without a pid'],
    },
    expect: 'refused',
    reason: /read only in part \(skipped: a process without a pid\)/,
  },
  {
    name: 'passes a detach when the pool was read only in part',
    order: { graceful: { type: 'detach' } },
    pool: { ...shopInPool, skipped: ['a process without a pid'] },
    expect: 'ok',
  },
  {
    name: 'refuses an orphan without a pool',
    step: 'orphan-term',
    order: { action: 'orphan-term' },
    expect: 'refused',
    reason:
      /^Passenger's pool could not be read, so the orphan pid 4210 cannot be confirmed$/,
  },
  {
    name: 'refuses an orphan when the pool is unreadable',
    step: 'orphan-term',
    order: { action: 'orphan-term' },
    pool: unreadablePool,
    expect: 'refused',
    reason: /could not be read \(passenger-status exited/,
  },
  {
    name: 'refuses an orphan of the wrong role first',
    step: 'orphan-term',
    order: { action: 'orphan-term' },
    process: titled('Passenger AppPreloader: /data/shop/current'),
    pool: emptyPool,
    expect: 'refused',
    reason: /is the preloader/,
  },
];

describe('verifyTarget', () => {
  for (const c of cases) {
    it(c.name, () => {
      const verdict = run(c);

      if (c.expect === 'ok') {
        assert.equal(verdict.ok, true, verdict.ok ? '' : verdict.reason);
        return;
      }
      assert.equal(verdict.ok, false, `expected ${c.expect}`);
      if (verdict.ok) return;
      assert.equal(verdict.status, c.expect, verdict.reason);
      assert.match(verdict.reason, c.reason ?? /./);
    });
  }

  it('returns the title, stat and memory it checked', () => {
    const verdict = run({ name: 'ok', expect: 'ok' });

    assert.deepEqual(verdict, {
      ok: true,
      title: `Passenger RubyApp: ${SHOP}`,
      stat: {
        pid: PID,
        comm: 'Passenger RubyA',
        state: 'S',
        ppid: 1,
        pgrp: PID,
        startTime: 5000,
      },
      memoryKb: 300 * MB,
    });
  });

  it('leaves memory null when the step does not weigh it', () => {
    const verdict = run({
      name: 'kill',
      step: 'force-kill',
      order: { action: 'force-kill' },
      expect: 'ok',
    });

    assert.equal(verdict.ok && verdict.memoryKb, null);
  });
});

describe('exitedSince', () => {
  const identity = { pid: PID, startTime: 5000 };
  const procWith = (process?: Partial<StandInProcess>) => {
    const proc = new StandInProc();
    if (process !== undefined)
      proc.processes.set(PID, { ...worker, ...process });
    return proc;
  };

  it('is undefined while the process runs', () => {
    assert.equal(exitedSince(procWith({}), identity), undefined);
  });

  it('is undefined while its stat may not be read', () => {
    const proc = procWith({ failing: { stat: 'denied' } });
    assert.equal(exitedSince(proc, identity), undefined);
  });

  it('tells a vanished, reused or zombie pid', () => {
    assert.match(exitedSince(procWith(), identity) ?? '', /has exited/);
    assert.match(
      exitedSince(procWith({ startTime: 6000 }), identity) ?? '',
      /start time 6000, ordered 5000/,
    );
    assert.match(
      exitedSince(procWith({ state: 'Z' }), identity) ?? '',
      /zombie/,
    );
  });
});
