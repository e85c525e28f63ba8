import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { GraceRecord } from '../../core/records.ts';
import { openStore } from '../../agent/store.ts';

const dir = mkdtempSync(join(tmpdir(), 'pf-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const record: GraceRecord = {
  identity: { host: 'web-1', pid: 4210, startTime: 174632 },
  app: '/data/fleetapp/current (production)',
  cause: 'memory',
  action: { type: 'detach' },
  markedAt: 1_000,
  deadline: 31_000,
  memoryKb: 313_392,
  limitKb: 102_400,
  measure: 'private',
  uid: 1001,
};

describe('store', () => {
  it('keeps an open record across a restart of the enforcer', () => {
    const path = join(dir, 'restart.db');
    const first = openStore(path);
    assert.equal(first.openRecord(record), true);
    first.close();

    const second = openStore(path);
    assert.deepEqual(second.openRecords('web-1'), [record]);
    assert.deepEqual(second.openRecords('web-2'), []);
    second.close();
  });

  it('refuses a second open record for the same process', () => {
    const store = openStore(':memory:');
    assert.equal(store.openRecord(record), true);
    assert.equal(store.openRecord({ ...record, deadline: 99_000 }), false);
    assert.equal(store.openRecords('web-1')[0]?.deadline, 31_000);
    store.close();
  });

  it('closes a record with its outcome and may reopen it later', () => {
    const store = openStore(':memory:');
    store.openRecord(record);
    store.closeRecord(record, 'killed', 31_200);
    assert.deepEqual(store.openRecords('web-1'), []);
    assert.equal(store.openRecord({ ...record, deadline: 60_000 }), true);
    assert.equal(store.openRecords('web-1')[0]?.deadline, 60_000);
    store.close();
  });

  it('remembers the policy memory per host', () => {
    const store = openStore(':memory:');
    const memory = {
      overLimitStreaks: { 'web-1/1/2': 2 },
      orphanSuspects: { 'web-1/3/4': 5_000 },
    };
    store.saveMemory('web-1', memory);
    assert.deepEqual(store.memory('web-1'), memory);
    assert.deepEqual(store.memory('web-2'), {
      overLimitStreaks: {},
      orphanSuspects: {},
    });
    store.close();
  });

  it('keeps an audit trail, newest first', () => {
    const store = openStore(':memory:');
    for (const decision of ['graceful', 'force-kill']) {
      store.audit({
        at: 1,
        host: 'web-1',
        app: 'shop',
        pid: 7,
        startTime: 8,
        decision,
        action: null,
        reason: 'because',
        outcome: null,
        memoryKb: null,
        limitKb: null,
      });
    }
    assert.deepEqual(
      store.recentAudit(5).map((e) => e.decision),
      ['force-kill', 'graceful'],
    );
    store.close();
  });
});

describe('store: reschedule', () => {
  it('moves the deadline of an open record only', () => {
    const store = openStore(':memory:');
    store.openRecord(record);
    store.reschedule(record, 45_000);
    assert.equal(store.openRecords('web-1')[0]?.deadline, 45_000);
    store.closeRecord(record, 'killed', 46_000);
    store.reschedule(record, 90_000);
    assert.deepEqual(store.openRecords('web-1'), []);
    store.close();
  });
});
