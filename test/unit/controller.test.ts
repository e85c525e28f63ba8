import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeOrderParameters } from '../../core/order-codec.ts';
import { CONTROLLER_METRIC_NAMES as METRIC } from '../../lambdas/controller/metric-names.ts';
import {
  MAX_LOOKUPS_PER_TICK,
  RESEND_AFTER_MS,
  SETTLED_MS,
} from '../../lambdas/controller/order-actions.ts';
import { CommandNotSentError } from '../../lambdas/ports/commands.ts';
import type { RecordStore } from '../../lambdas/store/record-store.ts';
import {
  detached,
  host,
  hostStdout,
  ROOT,
  Scene,
  T0,
} from './controller-scene.ts';

const MINUTE = 60_000;

/** A breach on host 1, picked at T0; the host detached 101 and 102. */
async function twoInGrace(scene: Scene) {
  scene.census(10);
  scene.breach(1, { workersOverLimit: 2 });
  scene.parameters.set(`${ROOT}/defaults/maxInGracePerHost`, '2');
  const controller = scene.controller();
  await controller.tick(T0);
  const [pick] = scene.commands.sent;
  assert.ok(pick);
  // Detached workers leave the pool: the next datapoints show no breach.
  scene.metrics.trouble = [];
  scene.commands.reply(pick.commandId, {
    status: 'InProgress',
    stdout: hostStdout([detached(101, T0 + 5_000), detached(102, T0 + 6_000)]),
  });
  scene.now = T0 + MINUTE;
  const report = await controller.tick(scene.now);
  return { controller, pick, report };
}

/** Host 1 of a 10-host census breaches; a controller to tick. */
function oneBreach(scene: Scene) {
  scene.census(10);
  scene.breach(1);
  return scene.controller();
}

describe('Controller.tick', () => {
  it('sends one pick for a breach, claimed before it is sent', async () => {
    const scene = new Scene();
    scene.census(10);
    scene.breach(1);

    const report = await scene.controller().tick(T0);

    assert.equal(report.config, 'fresh');
    assert.equal(report.picksSent, 1);
    const [command] = scene.commands.sent;
    assert.equal(command?.host, host(1));
    assert.equal(command?.deliveryTimeoutSeconds, 30);
    assert.deepEqual(command?.parameters, {
      instanceId: host(1),
      app: 'shop',
      measure: 'private',
      notAfter: String(Math.floor((T0 + MINUTE) / 1000)),
      orders: 'pick:1:detach:30:307200:-',
    });
    const decoded = decodeOrderParameters(command?.parameters ?? {}, T0);
    assert.equal(decoded.ok, true);
    const [order] = await scene.store.openOrders();
    assert.equal(order?.state, 'sent');
    assert.equal(order?.commandId, command?.commandId);
    assert.deepEqual(scene.decisionLines(), [
      {
        host: host(1),
        app: 'shop',
        decision: 'pick',
        reason: order && scene.decisionLines()[0]?.reason,
        count: 1,
        orderId: 'order-1',
        outcome: 'sent',
      },
    ]);
  });

  it('opens a mark per worker the host reports detached', async () => {
    const scene = new Scene();
    const { report } = await twoInGrace(scene);

    const marks = await scene.store.openRecords();
    assert.equal(report.marksOpened, 2);
    assert.deepEqual(
      marks.map((m) => [m.identity.pid, m.state, m.deadline, m.orderId]),
      [
        [101, 'in-grace', T0 + 35_000, 'order-1'],
        [102, 'in-grace', T0 + 36_000, 'order-1'],
      ],
    );
    assert.equal(scene.count(METRIC.gracefulActions), 2);
    // The pick is still running: no second pick for the host-app.
    assert.equal(scene.commands.sent.length, 1);
  });

  it('force-kills each worker once at its deadline, then closes on the report', async () => {
    const scene = new Scene();
    const { controller, pick } = await twoInGrace(scene);
    // The agent restarted: the command ended with no deadline lines.
    scene.commands.reply(pick.commandId, {
      status: 'Failed',
      stdout: hostStdout([
        detached(101, T0 + 5_000),
        detached(102, T0 + 6_000),
      ]),
    });

    scene.now = T0 + 35_000 + MINUTE;
    const due = await controller.tick(scene.now);
    const again = await controller.tick(scene.now + 1_000);

    assert.equal(due.forceKillsSent, 2);
    assert.equal(again.forceKillsSent, 0);
    const kills = scene.commands.sent.slice(1);
    assert.deepEqual(
      kills.map((c) => c.parameters.orders),
      ['101:9101:force-kill:-:-:-', '102:9102:force-kill:-:-:-'],
    );
    const [first] = kills;
    assert.ok(first);
    scene.commands.reply(first.commandId, {
      status: 'Success',
      stdout: hostStdout([
        {
          pid: 101,
          startTime: 9101,
          step: 'force-kill',
          status: 'killed',
          reason: 'SIGKILL sent',
          at: scene.now + 2_000,
        },
      ]),
    });
    const closing = await controller.tick(scene.now + MINUTE);

    assert.equal(closing.marksClosed, 1);
    const open = await scene.store.openRecords();
    assert.deepEqual(
      open.map((m) => [m.identity.pid, m.state]),
      [[102, 'force-kill-claimed']],
    );
    assert.equal(scene.count(METRIC.forcedKills), 1);
    assert.equal((await scene.store.openOrders()).length, 1);
  });

  it('closes a mark the host reports killed at its deadline, sending nothing', async () => {
    const scene = new Scene();
    const { controller, pick } = await twoInGrace(scene);
    const deadline = (pid: number, at: number) => ({
      pid,
      startTime: 9_000 + pid,
      step: 'deadline' as const,
      status: 'killed' as const,
      reason: 'SIGKILL at the deadline',
      at,
    });
    scene.commands.reply(pick.commandId, {
      status: 'Success',
      stdout: hostStdout([
        detached(101, T0 + 5_000),
        detached(102, T0 + 6_000),
        deadline(101, T0 + 35_100),
        deadline(102, T0 + 36_100),
      ]),
    });

    const report = await controller.tick(T0 + 2 * MINUTE);

    assert.equal(report.marksClosed, 2);
    assert.equal(report.forceKillsSent, 0);
    assert.deepEqual(await scene.store.openRecords(), []);
    assert.deepEqual(await scene.store.openOrders(), []);
    const audit = await scene.store.recentAudit(10);
    assert.equal(audit.filter((e) => e.outcome === 'killed').length, 2);
  });

  it('opens the breaker and acts on nothing when most hosts breach', async () => {
    const scene = new Scene();
    scene.census(5);
    for (const n of [1, 2, 3]) scene.breach(n);

    const report = await scene.controller().tick(T0);

    assert.deepEqual(report.openBreakers, ['shop']);
    assert.equal(scene.commands.sent.length, 0);
    assert.equal(scene.count(METRIC.breakerOpen), 1);
    assert.deepEqual(await scene.store.openOrders(), []);
  });

  it('defers breaches beyond the fleet budget, and counts them', async () => {
    const scene = new Scene();
    scene.census(10);
    scene.parameters.set(`${ROOT}/fleet/maxInGrace`, '1');
    scene.breach(1, { maxWorkerMb: 500 });
    scene.breach(2, { maxWorkerMb: 450 });

    const report = await scene.controller().tick(T0);

    assert.equal(report.picksSent, 1);
    assert.equal(scene.commands.sent[0]?.host, host(1));
    assert.equal(report.decisions.defer, 1);
    assert.equal(scene.count(METRIC.budgetDeferrals), 1);
  });

  it('sends nothing for an app in dry run, and says what it would do', async () => {
    const scene = new Scene();
    scene.census(10);
    scene.parameters.set(`${ROOT}/apps/shop/dryRun`, 'true');
    scene.breach(1);

    await scene.controller().tick(T0);

    assert.equal(scene.commands.sent.length, 0);
    assert.equal(scene.decisionLines()[0]?.decision, 'dry-run');
    assert.equal(scene.decisionLines()[0]?.outcome, 'none');
  });

  it('keeps the last good configuration when a value is invalid', async () => {
    const scene = new Scene();
    scene.census(10);
    const controller = scene.controller();
    await controller.tick(T0);
    scene.parameters.set(`${ROOT}/defaults/limitMb`, '-5');
    scene.breach(1);

    const report = await controller.tick(T0 + MINUTE);

    assert.equal(report.config, 'last-good');
    assert.equal(scene.count(METRIC.rejectedConfig), 1);
    const rejected = scene.lines.find((l) => l.level === 'error');
    assert.deepEqual(rejected?.fields.parameters, [`${ROOT}/defaults/limitMb`]);
    assert.match(String(rejected?.fields.rule), /greater than 0/);
    assert.equal(
      scene.commands.sent[0]?.parameters.orders,
      'pick:1:detach:30:307200:-',
    );
  });

  it('decides nothing new before any valid configuration', async () => {
    const scene = new Scene();
    scene.parameters.set(`${ROOT}/defaults/limitMb`, 'lots');
    scene.census(10);
    scene.breach(1);

    const report = await scene.controller().tick(T0);

    assert.equal(report.config, 'none');
    assert.equal(scene.commands.sent.length, 0);
  });

  it('lets overlapping ticks send one pick per host-app and one kill per mark', async () => {
    const scene = new Scene();
    scene.census(10);
    scene.breach(1);
    scene.breach(2);
    const controllers = Array.from({ length: 8 }, () => scene.controller());

    const picks = await Promise.all(controllers.map((c) => c.tick(T0)));

    assert.equal(scene.commands.sent.length, 2);
    assert.equal(
      picks.reduce((sum, r) => sum + r.picksSent, 0),
      2,
    );
    for (const command of [...scene.commands.sent]) {
      scene.commands.reply(command.commandId, {
        status: 'Failed',
        stdout: hostStdout([detached(101, T0 + 5_000)]),
      });
    }
    scene.metrics.trouble = [];
    scene.now = T0 + 35_000 + MINUTE;
    const kills = await Promise.all(controllers.map((c) => c.tick(scene.now)));

    const killOrders = scene.commands.sent.slice(2);
    assert.equal(killOrders.length, 2);
    assert.deepEqual(killOrders.map((c) => c.host).sort(), [host(1), host(2)]);
    assert.equal(
      kills.reduce((sum, r) => sum + r.forceKillsSent, 0),
      2,
    );
  });

  it('takes no action on unreadable metrics, and says why', async () => {
    const scene = new Scene();
    scene.census(10);
    scene.breach(1);
    const throttled = new Error('Rate exceeded');
    throttled.name = 'ThrottledError';
    scene.metrics.failWith(throttled);

    const report = await scene.controller().tick(T0);

    assert.equal(scene.commands.sent.length, 0);
    assert.match(report.failures[0] ?? '', /ThrottledError: Rate exceeded/);
    const warning = scene.lines.find((l) => l.level === 'warn');
    assert.match(warning?.message ?? '', /no new pick this tick/);
  });

  it('loses no outcome when reading results is throttled', async () => {
    const scene = new Scene();
    scene.breach(1);
    scene.census(10);
    const controller = scene.controller();
    await controller.tick(T0);
    const [pick] = scene.commands.sent;
    assert.ok(pick);
    scene.commands.reply(pick.commandId, {
      status: 'InProgress',
      stdout: hostStdout([detached(101, T0 + 5_000)]),
    });
    scene.commands.failWith('results', new Error('Rate exceeded'));

    // Both ticks come before the deadline (T0 + 35 s).
    const throttled = await controller.tick(T0 + 10_000);
    scene.commands.failWith('results', undefined);
    const later = await controller.tick(T0 + 20_000);

    assert.equal(throttled.marksOpened, 0);
    assert.match(throttled.failures[0] ?? '', /^results: Error: Rate exceeded/);
    assert.equal(scene.commands.sent.length, 1);
    assert.equal(later.marksOpened, 1);
  });

  it('drops a pick SSM refused, and picks again next tick', async () => {
    const scene = new Scene();
    const controller = oneBreach(scene);
    scene.commands.failWith(
      'send',
      new CommandNotSentError(host(1), 'throttled; nothing was sent'),
    );

    const refused = await controller.tick(T0);
    scene.commands.failWith('send', undefined);
    const next = await controller.tick(T0 + MINUTE);

    assert.equal(refused.picksSent, 0);
    assert.equal(next.picksSent, 1);
    assert.equal(scene.commands.calls.find, 0);
  });

  it('finds a pick whose send answer was lost, and reads its report', async () => {
    const scene = new Scene();
    const controller = oneBreach(scene);
    scene.commands.loseSendAnswers(new Error('TimeoutError: socket hang up'));

    const lost = await controller.tick(T0);
    scene.commands.loseSendAnswers(undefined);
    const [pick] = scene.commands.sent;
    assert.ok(pick);
    scene.commands.reply(pick.commandId, {
      status: 'InProgress',
      stdout: hostStdout([detached(101, T0 + 5_000)]),
    });
    const found = await controller.tick(T0 + MINUTE);
    // The breach was still in the metrics, yet no second pick went out.
    assert.equal(scene.commands.sent.length, 1);
    scene.metrics.trouble = [];
    const read = await controller.tick(T0 + 2 * MINUTE);

    assert.equal(lost.picksSent, 0);
    assert.match(lost.failures[0] ?? '', /^send pick order order-1 to /);
    assert.equal(found.marksOpened, 0);
    assert.equal(read.marksOpened, 1);
    const [mark] = await scene.store.openRecords();
    assert.deepEqual([mark?.identity.pid, mark?.orderId], [101, 'order-1']);
    assert.deepEqual(scene.settledLines(), [
      { orderId: 'order-1', commandId: pick.commandId, outcome: 'found' },
    ]);
  });

  it('finds a sent pick whose record was lost', async () => {
    const scene = new Scene();
    scene.census(10);
    scene.breach(1);
    let failOrderSent = true;
    const store = new Proxy(scene.store, {
      get(target, property, receiver) {
        if (property === 'orderSent' && failOrderSent) {
          return async () => {
            failOrderSent = false;
            throw new Error('ProvisionedThroughputExceededException');
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as RecordStore;
    const controller = scene.controller({ store });

    const first = await controller.tick(T0);
    const second = await controller.tick(T0 + MINUTE);

    assert.equal(first.picksSent, 1);
    assert.match(first.failures[0] ?? '', /^record command cmd-0001 /);
    const [order] = await scene.store.openOrders();
    assert.deepEqual([order?.state, order?.commandId], ['sent', 'cmd-0001']);
    assert.equal(second.picksSent, 0);
    assert.equal(scene.commands.sent.length, 1);
  });

  it('waits for a lost pick until its notAfter has settled, then picks again', async () => {
    const scene = new Scene();
    const controller = oneBreach(scene);
    // Refused with no answer: SSM took nothing, but nobody can tell.
    scene.commands.failWith('send', new Error('InternalServerError'));
    await controller.tick(T0);
    scene.commands.failWith('send', undefined);
    const notAfter = T0 + MINUTE;

    const waiting = await controller.tick(notAfter + SETTLED_MS - 1);
    const settled = await controller.tick(notAfter + SETTLED_MS);

    assert.equal(waiting.picksSent, 0);
    assert.equal(settled.picksSent, 1);
    assert.deepEqual(
      scene.settledLines().map((line) => line.outcome),
      ['waiting', 'not-sent'],
    );
    assert.equal(scene.commands.sent.length, 1);
    assert.equal(scene.commands.sent[0]?.orderId, 'order-2');
  });

  it('keeps an order claimed while its lookup fails', async () => {
    const scene = new Scene();
    const controller = oneBreach(scene);
    scene.commands.failWith('send', new Error('InternalServerError'));
    await controller.tick(T0);
    scene.commands.failWith('send', undefined);
    scene.commands.failWith('find', new Error('ThrottlingException'));
    const late = T0 + MINUTE + SETTLED_MS;

    const blind = await controller.tick(late);
    scene.commands.failWith('find', undefined);
    const seeing = await controller.tick(late + MINUTE);

    assert.match(blind.failures.join('\n'), /look up order order-1 on /);
    assert.equal(blind.picksSent, 0);
    const orders = await scene.store.openOrders();
    assert.equal(orders.length, 1);
    assert.equal(seeing.picksSent, 1);
    assert.equal(scene.commands.calls.find, 2);
  });

  it('looks up a bounded number of orders a tick, and stops at a failed lookup', async () => {
    const scene = new Scene();
    const hosts = MAX_LOOKUPS_PER_TICK + 5;
    scene.census(hosts);
    for (let n = 1; n <= hosts; n++) scene.breach(n);
    scene.parameters.set(`${ROOT}/fleet/maxInGracePercent`, '100');
    scene.parameters.set(`${ROOT}/fleet/breakerPercent`, '100');
    const controller = scene.controller();
    scene.commands.failWith('send', new Error('InternalServerError'));
    await controller.tick(T0);
    scene.commands.failWith('send', undefined);
    scene.metrics.trouble = [];

    scene.commands.failWith('find', new Error('ThrottlingException'));
    const throttled = await controller.tick(T0 + MINUTE);
    const afterThrottled = scene.commands.calls.find;
    scene.commands.failWith('find', undefined);
    await controller.tick(T0 + 2 * MINUTE);

    assert.equal(afterThrottled, 1);
    assert.equal(throttled.failures.length, 1);
    assert.equal(
      scene.commands.calls.find - afterThrottled,
      MAX_LOOKUPS_PER_TICK,
    );
    assert.equal((await scene.store.openOrders()).length, 5);
  });

  it('sends a forced kill again after a refused send', async () => {
    const scene = new Scene();
    const { controller, pick } = await twoInGrace(scene);
    scene.commands.reply(pick.commandId, {
      status: 'Failed',
      stdout: hostStdout([
        detached(101, T0 + 5_000),
        detached(102, T0 + 6_000),
      ]),
    });
    scene.commands.failWith(
      'send',
      new CommandNotSentError(host(1), 'Rate exceeded; nothing was sent'),
    );
    const due = T0 + 35_000 + MINUTE;

    const failed = await controller.tick(due);
    scene.commands.failWith('send', undefined);
    const tooSoon = await controller.tick(due + RESEND_AFTER_MS - 1);
    const retried = await controller.tick(due + RESEND_AFTER_MS);

    assert.equal(failed.forceKillsSent, 0);
    assert.equal(tooSoon.forceKillsSent, 0);
    assert.equal(retried.forceKillsSent, 2);
    assert.deepEqual(
      scene.commands.sent.slice(1).map((c) => c.parameters.orders),
      ['101:9101:force-kill:-:-:-', '102:9102:force-kill:-:-:-'],
    );
    const orders = await scene.store.openOrders();
    assert.deepEqual(
      orders.map((o) => [o.kind, o.state, o.attempt]),
      [
        ['force-kill', 'sent', 2],
        ['force-kill', 'sent', 2],
      ],
    );
  });

  it('reports the silent agents among the hosts it waits on', async () => {
    const scene = new Scene();
    scene.census(10);
    scene.breach(1);
    scene.breach(2);
    scene.metrics.heartbeats.set(host(1), T0 - MINUTE);

    const report = await scene.controller().tick(T0);

    assert.deepEqual(report.silentHosts, [host(2)]);
    assert.equal(scene.count(METRIC.silentAgents), 1);
  });
});
