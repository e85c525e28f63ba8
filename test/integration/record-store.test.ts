/**
 * One contract for every RecordStore: the in-memory store and the DynamoDB
 * store on dynalite (in-process, 127.0.0.1) must agree on every rule,
 * above all that two overlapping controller ticks never both win a step.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { MarkRuleError, RaceLostError } from '../../lambdas/store/errors.ts';
import {
  OrderRaceLostError,
  type NewOrder,
} from '../../lambdas/store/order-records.ts';
import type {
  MarkRecord,
  RecordStore,
} from '../../lambdas/store/record-store.ts';
import {
  auditEntry,
  ending,
  GRACE_MS,
  graceRecord,
  hostReport,
  HOST,
  T0,
} from './support/marks.ts';
import { CONTENDERS, race, STORE_SUBJECTS } from './support/store-subjects.ts';

function pickOrder(orderId: string): NewOrder {
  return {
    host: HOST,
    app: 'fleetapp',
    kind: 'pick',
    orderId,
    measure: 'private',
    notAfter: T0 + 60_000,
    pick: {
      count: 2,
      graceful: { type: 'detach' },
      graceSeconds: 30,
      limitKb: 300 * 1024,
    },
  };
}

function killOrder(orderId: string, pid: number): NewOrder {
  return {
    host: HOST,
    app: 'fleetapp',
    kind: 'force-kill',
    orderId,
    measure: 'private',
    notAfter: T0 + 60_000,
    identity: graceRecord(pid).identity,
    uid: 1000,
  };
}

for (const subject of STORE_SUBJECTS) {
  describe(`RecordStore contract: ${subject.name}`, () => {
    let store: RecordStore;
    before(() => subject.start());
    after(() => subject.stop());
    beforeEach(async () => {
      store = await subject.fresh();
    });

    describe('claimGraceful', () => {
      it('opens a claimed mark with the order and time', async () => {
        const mark = await store.claimGraceful(graceRecord(101), 'o-1', T0);

        assert.equal(mark.state, 'claimed');
        assert.equal(mark.orderId, 'o-1');
        assert.equal(mark.claimedAt, T0);
        assert.deepEqual(await store.openRecords(), [mark]);
      });

      it('refuses a second claim, naming the stored mark', async () => {
        await store.claimGraceful(graceRecord(101), 'o-1', T0);

        const second = store.claimGraceful(graceRecord(101), 'o-2', T0 + 5);

        await assert.rejects(second, (error: unknown) => {
          assert.ok(error instanceof RaceLostError);
          assert.equal(error.operation, 'claimGraceful');
          assert.equal(error.stored?.orderId, 'o-1');
          assert.equal(error.stored?.state, 'claimed');
          return true;
        });
      });

      it('lets exactly one of 8 concurrent claims win', async () => {
        const { won, lost } = await race((n) =>
          store.claimGraceful(graceRecord(101), `o-${n}`, T0),
        );

        assert.equal(won.length, 1);
        assert.equal(lost.length, CONTENDERS - 1);
        assert.ok(lost.every((error) => error instanceof RaceLostError));
        const open = await store.openRecords();
        assert.deepEqual(
          open.map((m) => m.orderId),
          [won[0]?.orderId],
        );
      });

      it('treats a reused pid with a new start time as new', async () => {
        await store.claimGraceful(graceRecord(101), 'o-1', T0);
        const reused = graceRecord(101, {
          identity: { ...graceRecord(101).identity, startTime: 77_000 },
        });

        await store.claimGraceful(reused, 'o-2', T0);

        assert.equal((await store.openRecords()).length, 2);
      });

      it('reopens a worker whose earlier mark was closed', async () => {
        const first = await store.claimGraceful(graceRecord(101), 'o-1', T0);
        await store.close(first, ending('unmarked', T0 + 1000), T0 + 1000);

        const again = await store.claimGraceful(
          graceRecord(101, { markedAt: T0 + 60_000, deadline: T0 + 90_000 }),
          'o-2',
          T0 + 60_000,
        );

        assert.equal(again.state, 'claimed');
        assert.deepEqual(await store.openRecords(), [again]);
      });

      it('never opens a mark again for the order that closed it', async () => {
        // A report read again after its mark closed: the command still
        // ran, or a tick read it late.
        const first = await store.claimGraceful(graceRecord(101), 'o-1', T0);
        await store.close(first, ending('killed', T0 + 40_000), T0 + 40_000);

        const replay = store.claimGraceful(
          graceRecord(101),
          'o-1',
          T0 + 60_000,
        );

        await assert.rejects(replay, (error: unknown) => {
          assert.ok(error instanceof RaceLostError, String(error));
          assert.equal(error.stored?.state, 'closed');
          assert.match(error.message, /none closed of order o-1/);
          return true;
        });
        assert.deepEqual(await store.openRecords(), []);
      });

      it('refuses a pid of 0 and writes nothing', async () => {
        const bad = graceRecord(101, {
          identity: { ...graceRecord(101).identity, pid: 0 },
        });

        await assert.rejects(
          store.claimGraceful(bad, 'o-1', T0),
          /claimGraceful: identity\.pid must be a positive whole number, got 0/,
        );
        assert.deepEqual(await store.openRecords(), []);
      });
    });

    describe('recordOutcome', () => {
      it('puts a detached worker in grace, once', async () => {
        const claimed = await store.claimGraceful(graceRecord(101), 'o-1', T0);

        const report = hostReport('detached', T0 + 200);
        const inGrace = await store.recordOutcome(claimed, report, T0 + 300);

        assert.equal(inGrace.state, 'in-grace');
        assert.deepEqual(inGrace.gracefulOutcome, report);
        await assert.rejects(
          store.recordOutcome(claimed, report, T0 + 400),
          RaceLostError,
        );
        assert.deepEqual(await store.openRecords(), [inGrace]);
      });

      it('closes the mark when the host refused the order', async () => {
        const claimed = await store.claimGraceful(graceRecord(101), 'o-1', T0);

        const closed = await store.recordOutcome(
          claimed,
          hostReport('refused', T0 + 200, 'start time differs'),
          T0 + 300,
        );

        assert.equal(closed.state, 'closed');
        assert.equal(closed.outcome?.status, 'refused');
        assert.equal(closed.closedAt, T0 + 300);
        assert.deepEqual(await store.openRecords(), []);
      });
    });

    describe('claimForceKill', () => {
      async function markInGrace(pid: number): Promise<MarkRecord> {
        const claimed = await store.claimGraceful(graceRecord(pid), 'o-1', T0);
        return store.recordOutcome(claimed, hostReport('detached', T0), T0);
      }

      it('refuses before the deadline, leaving the mark as is', async () => {
        const mark = await markInGrace(101);

        await assert.rejects(
          store.claimForceKill(mark, mark.deadline - 1),
          (error: unknown) =>
            error instanceof MarkRuleError &&
            /1 ms after now/.test(error.message),
        );
        assert.deepEqual(await store.openRecords(), [mark]);
      });

      it('lets one of 8 concurrent claims at the deadline win', async () => {
        const mark = await markInGrace(101);

        const { won, lost } = await race(() =>
          store.claimForceKill(mark, mark.deadline),
        );

        assert.equal(won.length, 1);
        assert.equal(won[0]?.state, 'force-kill-claimed');
        assert.equal(won[0]?.forceKillClaimedAt, mark.deadline);
        assert.ok(lost.every((error) => error instanceof RaceLostError));
        assert.equal(lost.length, CONTENDERS - 1);
      });

      it('is allowed from claimed when no outcome came', async () => {
        const claimed = await store.claimGraceful(graceRecord(101), 'o-1', T0);

        const killing = await store.claimForceKill(claimed, T0 + GRACE_MS + 5);

        assert.equal(killing.state, 'force-kill-claimed');
      });

      it('refuses a stale copy of a mark closed as gone', async () => {
        const mark = await markInGrace(101);
        await store.close(mark, ending('gone', T0 + 5000), T0 + 5000);

        const stale = store.claimForceKill(mark, mark.deadline);

        await assert.rejects(stale, (error: unknown) => {
          assert.ok(error instanceof RaceLostError);
          assert.equal(error.stored?.state, 'closed');
          return true;
        });
      });
    });

    describe('dueRecords', () => {
      it('lists open marks from their deadline, earliest first', async () => {
        const early = await store.claimGraceful(graceRecord(101), 'o-1', T0);
        const late = await store.claimGraceful(
          graceRecord(102, { deadline: T0 + 2 * GRACE_MS }),
          'o-2',
          T0,
        );

        const before = await store.dueRecords(early.deadline - 1);
        const at = await store.dueRecords(early.deadline);
        const after = await store.dueRecords(late.deadline + 1);

        assert.deepEqual(before, []);
        assert.deepEqual(at, [early]);
        assert.deepEqual(after, [early, late]);
      });

      it('drops a mark once it is closed', async () => {
        const mark = await store.claimGraceful(graceRecord(101), 'o-1', T0);
        const killing = await store.claimForceKill(mark, mark.deadline);
        assert.deepEqual(await store.dueRecords(mark.deadline), [killing]);

        await store.close(killing, ending('killed', mark.deadline + 80), T0);

        assert.deepEqual(await store.dueRecords(mark.deadline + 1000), []);
        assert.deepEqual(await store.openRecords(), []);
      });
    });

    describe('close', () => {
      it('ends an open mark once, never a closed one', async () => {
        const mark = await store.claimGraceful(graceRecord(101), 'o-1', T0);

        const closed = await store.close(mark, ending('gone', T0 + 9), T0 + 9);

        assert.equal(closed.outcome?.status, 'gone');
        await assert.rejects(
          store.close(mark, ending('gone', T0 + 10), T0 + 10),
          RaceLostError,
        );
        await assert.rejects(
          store.close(closed, ending('gone', T0 + 11), T0 + 11),
          MarkRuleError,
        );
      });
    });

    describe('orders', () => {
      it('claims a pick once per host-app, then sends and finishes it', async () => {
        const claimed = await store.claimOrder(pickOrder('o-1'), T0);

        assert.equal(claimed.state, 'claimed');
        assert.equal(claimed.attempt, 1);
        await assert.rejects(
          store.claimOrder(pickOrder('o-2'), T0 + 1),
          (error: unknown) => {
            assert.ok(error instanceof OrderRaceLostError);
            assert.equal(error.stored?.orderId, 'o-1');
            return true;
          },
        );
        const sent = await store.orderSent(claimed, 'cmd-1', T0 + 2);
        assert.deepEqual(await store.openOrders(), [sent]);

        const done = await store.finishOrder(
          sent,
          { status: 'Success', reason: 'host reported', at: T0 + 9 },
          T0 + 9,
        );

        assert.equal(done.state, 'done');
        assert.deepEqual(await store.openOrders(), []);
        const next = await store.claimOrder(pickOrder('o-3'), T0 + 10);
        assert.equal(next.orderId, 'o-3');
      });

      it('lets exactly one of 8 concurrent pick claims win', async () => {
        const settled = await Promise.allSettled(
          Array.from({ length: CONTENDERS }, (_, n) =>
            store.claimOrder(pickOrder(`o-${n}`), T0),
          ),
        );

        const won = settled.filter((s) => s.status === 'fulfilled');
        const lost = settled.flatMap((s) =>
          s.status === 'rejected' ? [s.reason] : [],
        );
        assert.equal(won.length, 1);
        assert.ok(lost.every((error) => error instanceof OrderRaceLostError));
        assert.equal((await store.openOrders()).length, 1);
      });

      it('keeps picks of two apps, and kills of two workers, apart', async () => {
        await store.claimOrder(pickOrder('o-1'), T0);
        await store.claimOrder({ ...pickOrder('o-2'), app: 'blog' }, T0);
        await store.claimOrder(killOrder('k-1', 101), T0);
        await store.claimOrder(killOrder('k-2', 102), T0);

        const open = await store.openOrders();

        assert.deepEqual(open.map((o) => o.orderId).sort(), [
          'k-1',
          'k-2',
          'o-1',
          'o-2',
        ]);
        const kill = open.find((o) => o.orderId === 'k-1');
        assert.deepEqual(kill?.identity, graceRecord(101).identity);
      });

      it('lets one of 8 ticks re-claim an unsent order', async () => {
        const claimed = await store.claimOrder(killOrder('k-1', 101), T0);

        const settled = await Promise.allSettled(
          Array.from({ length: CONTENDERS }, () =>
            store.reclaimOrder(claimed, T0 + 120_000, T0 + 60_000),
          ),
        );

        const won = settled.flatMap((s) =>
          s.status === 'fulfilled' ? [s.value] : [],
        );
        assert.equal(won.length, 1);
        assert.equal(won[0]?.attempt, 2);
        assert.equal(won[0]?.notAfter, T0 + 120_000);
        await assert.rejects(
          store.orderSent(claimed, 'cmd-1', T0 + 60_001),
          OrderRaceLostError,
        );
      });

      it('refuses to send an order twice', async () => {
        const claimed = await store.claimOrder(pickOrder('o-1'), T0);
        const sent = await store.orderSent(claimed, 'cmd-1', T0 + 1);

        await assert.rejects(
          store.orderSent(sent, 'cmd-2', T0 + 2),
          /orderSent: order o-1 is in state sent; this step needs state claimed/,
        );
        await assert.rejects(
          store.orderSent(claimed, 'cmd-2', T0 + 2),
          OrderRaceLostError,
        );
      });

      it('refuses a pick without its request, writing nothing', async () => {
        const { pick: _pick, ...bare } = pickOrder('o-1');

        await assert.rejects(
          store.claimOrder(bare, T0),
          /claimOrder: pick must be given for a pick order/,
        );
        assert.deepEqual(await store.openOrders(), []);
      });
    });

    describe('audit', () => {
      it('returns the newest first across batches and calls', async () => {
        // 30 entries cross the 25-item BatchWriteItem limit.
        const times = Array.from({ length: 30 }, (_, i) => T0 + i * 1000);
        const shuffled = [...times].sort(
          (a, b) => ((a * 7919) % 31) - ((b * 7919) % 31),
        );
        await store.appendAudit(
          shuffled.slice(0, 12).map((at) => auditEntry(at)),
        );
        await store.appendAudit(shuffled.slice(12).map((at) => auditEntry(at)));

        const newest = await store.recentAudit(5);
        const all = await store.recentAudit(1000);

        const descending = [...times].reverse();
        assert.deepEqual(
          newest.map((e) => e.at),
          descending.slice(0, 5),
        );
        assert.deepEqual(
          all.map((e) => e.at),
          descending,
        );
        assert.deepEqual(all[0], auditEntry(times.at(-1) ?? 0));
      });

      it('refuses a limit of 0', async () => {
        await assert.rejects(store.recentAudit(0), MarkRuleError);
      });
    });
  });
}
