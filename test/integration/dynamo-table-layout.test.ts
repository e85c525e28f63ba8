/**
 * What the DynamoDB store leaves in the table, read back raw from
 * dynalite: the sparse index holds open marks only, TTL is set on closed
 * marks and audit items only, and a damaged item is reported, not read.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoRecordStore } from '../../lambdas/store/dynamo-record-store.ts';
import { DamagedItemError } from '../../lambdas/store/errors.ts';
import {
  AUDIT_PARTITION,
  AUDIT_RETENTION_DAYS,
  CLOSED_MARK_RETENTION_DAYS,
  expiresAtSeconds,
  markKey,
  OPEN_DEADLINES_INDEX,
  OPEN_SHARD,
  OPEN_SHARD_ATTRIBUTE,
  TTL_ATTRIBUTE,
} from '../../lambdas/store/table-design.ts';
import { startLocalDynamo, type LocalDynamo } from './support/local-table.ts';
import { auditEntry, ending, graceRecord, T0 } from './support/marks.ts';

describe('DynamoRecordStore table layout', () => {
  let local: LocalDynamo;
  let tableName: string;
  let store: DynamoRecordStore;
  before(async () => {
    local = await startLocalDynamo();
  });
  after(() => local.stop());
  beforeEach(async () => {
    tableName = await local.createTable();
    store = new DynamoRecordStore({ tableName, client: local.client });
  });

  const rawMark = async (pid: number) =>
    (
      await local.client.send(
        new GetCommand({
          TableName: tableName,
          Key: markKey(graceRecord(pid).identity),
          ConsistentRead: true,
        }),
      )
    ).Item;

  const indexed = async () =>
    (
      await local.client.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: OPEN_DEADLINES_INDEX,
          KeyConditionExpression: '#shard = :open',
          ExpressionAttributeNames: { '#shard': OPEN_SHARD_ATTRIBUTE },
          ExpressionAttributeValues: { ':open': OPEN_SHARD },
        }),
      )
    ).Items ?? [];

  it('indexes an open mark and sets no TTL on it', async () => {
    await store.claimGraceful(graceRecord(101), 'o-1', T0);

    const item = await rawMark(101);

    assert.equal(item?.[OPEN_SHARD_ATTRIBUTE], OPEN_SHARD);
    assert.equal(item?.[TTL_ATTRIBUTE], undefined);
    assert.deepEqual(
      (await indexed()).map((i) => i.orderId),
      ['o-1'],
    );
  });

  it('takes a closed mark out of the index and sets its TTL', async () => {
    const mark = await store.claimGraceful(graceRecord(101), 'o-1', T0);
    const closedAt = T0 + 40_000;

    await store.close(mark, ending('killed', closedAt), closedAt);
    const item = await rawMark(101);

    assert.equal(item?.[OPEN_SHARD_ATTRIBUTE], undefined);
    assert.equal(
      item?.[TTL_ATTRIBUTE],
      expiresAtSeconds(closedAt, CLOSED_MARK_RETENTION_DAYS),
    );
    assert.deepEqual(await indexed(), []);
  });

  it('sets a TTL on every audit item', async () => {
    await store.appendAudit([auditEntry(T0), auditEntry(T0 + 1)]);

    const { Items } = await local.client.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'PK = :audit',
        ExpressionAttributeValues: { ':audit': AUDIT_PARTITION },
      }),
    );

    assert.deepEqual(
      Items?.map((item) => item[TTL_ATTRIBUTE]),
      [T0, T0 + 1].map((at) => expiresAtSeconds(at, AUDIT_RETENTION_DAYS)),
    );
  });

  it('reports a mark with an unknown state by key and field', async () => {
    await store.claimGraceful(graceRecord(101), 'o-1', T0);
    const item = await rawMark(101);
    await local.client.send(
      new PutCommand({
        TableName: tableName,
        Item: { ...item, state: 'half-killed' },
      }),
    );

    await assert.rejects(store.openRecords(), (error: unknown) => {
      assert.ok(error instanceof DamagedItemError);
      assert.match(error.message, /HOST#i-0a1b2c3d4e5f60718 MARK#101#9101/);
      assert.match(error.message, /field state is invalid .*"half-killed"/);
      return true;
    });
  });
});
