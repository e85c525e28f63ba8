/**
 * DynamoRecordStore against a mocked document client: the exact commands
 * it sends, how it turns a failed condition into RaceLostError and lets
 * every other failure through, and how it retries UnprocessedItems.
 * (Its behaviour on a real table is in test/integration/.)
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { itemOfMark } from '../../lambdas/store/dynamo-items.ts';
import { DynamoRecordStore } from '../../lambdas/store/dynamo-record-store.ts';
import { AuditWriteError, RaceLostError } from '../../lambdas/store/errors.ts';
import type { MarkRecord } from '../../lambdas/store/record-store.ts';
import { auditEntry, graceRecord, T0 } from '../integration/support/marks.ts';

const TABLE = 'fleet-table';
const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(
  new DynamoDBClient({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'mock', secretAccessKey: 'mock' },
  }),
);

function conditionFailed(): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
  });
}

const inGrace: MarkRecord = {
  ...graceRecord(101),
  state: 'in-grace',
  orderId: 'o-1',
  claimedAt: T0,
};

describe('DynamoRecordStore', () => {
  let delays: number[];
  let store: DynamoRecordStore;
  beforeEach(() => {
    ddb.reset();
    delays = [];
    store = new DynamoRecordStore({
      tableName: TABLE,
      client,
      batchRetry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 150 },
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
  });
  afterEach(() => ddb.reset());

  describe('claimGraceful', () => {
    it('puts the mark only if none is open, nor closed by the order', async () => {
      ddb.on(PutCommand).resolves({});

      await store.claimGraceful(graceRecord(101), 'o-1', T0);

      const [put] = ddb.commandCalls(PutCommand);
      const input = put?.args[0].input;
      assert.equal(
        input?.ConditionExpression,
        'attribute_not_exists(#pk) OR (#state = :closed AND #orderId <> :orderId)',
      );
      assert.deepEqual(input?.ExpressionAttributeValues, {
        ':closed': 'closed',
        ':orderId': 'o-1',
      });
      assert.equal(input?.Item?.PK, 'HOST#i-0a1b2c3d4e5f60718');
      assert.equal(input?.Item?.SK, 'MARK#101#9101');
      assert.equal(input?.Item?.openShard, 'OPEN');
    });
  });

  describe('claimForceKill', () => {
    it('requires the state read, its order and the deadline', async () => {
      ddb.on(PutCommand).resolves({});

      await store.claimForceKill(inGrace, inGrace.deadline + 7);

      const input = ddb.commandCalls(PutCommand)[0]?.args[0].input;
      assert.equal(
        input?.ConditionExpression,
        '#state = :state AND #orderId = :orderId AND #deadline <= :now',
      );
      assert.deepEqual(input?.ExpressionAttributeValues, {
        ':state': 'in-grace',
        ':orderId': 'o-1',
        ':now': inGrace.deadline + 7,
      });
      assert.equal(input?.Item?.state, 'force-kill-claimed');
    });

    it('turns a failed condition into RaceLostError', async () => {
      const winner: MarkRecord = {
        ...inGrace,
        state: 'force-kill-claimed',
        forceKillClaimedAt: inGrace.deadline,
      };
      ddb.on(PutCommand).rejects(conditionFailed());
      ddb.on(GetCommand).resolves({ Item: itemOfMark(winner) });

      const claim = store.claimForceKill(inGrace, inGrace.deadline);

      await assert.rejects(claim, (error: unknown) => {
        assert.ok(error instanceof RaceLostError);
        assert.deepEqual(error.stored, winner);
        assert.match(error.message, /holds state force-kill-claimed/);
        return true;
      });
      assert.equal(
        ddb.commandCalls(GetCommand)[0]?.args[0].input.ConsistentRead,
        true,
      );
    });

    it('rethrows any other failure as it came, without a read', async () => {
      const throttled = new ProvisionedThroughputExceededException({
        message: 'Rate exceeded',
        $metadata: {},
      });
      ddb.on(PutCommand).rejects(throttled);

      await assert.rejects(
        store.claimForceKill(inGrace, inGrace.deadline),
        (error: unknown) => error === throttled,
      );
      assert.equal(ddb.commandCalls(GetCommand).length, 0);
    });
  });

  describe('dueRecords', () => {
    it('queries the open-deadlines index by page, never scans', async () => {
      ddb
        .on(QueryCommand)
        .resolvesOnce({
          Items: [itemOfMark(inGrace)],
          LastEvaluatedKey: { PK: 'x' },
        })
        .resolvesOnce({ Items: [] });

      const due = await store.dueRecords(T0 + 60_000);

      const queries = ddb
        .commandCalls(QueryCommand)
        .map((c) => c.args[0].input);
      assert.deepEqual(due, [inGrace]);
      assert.equal(queries.length, 2);
      assert.equal(queries[0]?.IndexName, 'open-deadlines');
      assert.equal(
        queries[0]?.KeyConditionExpression,
        '#shard = :open AND #deadline <= :now',
      );
      assert.deepEqual(queries[1]?.ExclusiveStartKey, { PK: 'x' });
      assert.equal(ddb.commandCalls(ScanCommand).length, 0);
    });
  });

  describe('appendAudit', () => {
    const entries = Array.from({ length: 30 }, (_, i) => auditEntry(T0 + i));

    it('writes 25 per request and retries the unprocessed', async () => {
      let answered = 0;
      ddb.on(BatchWriteCommand).callsFake((input) => {
        answered += 1;
        const requests = input.RequestItems[TABLE];
        // The first answer leaves its last 3 items unprocessed.
        return answered === 1
          ? { UnprocessedItems: { [TABLE]: requests.slice(-3) } }
          : {};
      });

      await store.appendAudit(entries);

      const sizes = ddb
        .commandCalls(BatchWriteCommand)
        .map((c) => c.args[0].input.RequestItems?.[TABLE]?.length);
      assert.deepEqual(sizes, [25, 3, 5]);
      assert.equal(delays.length, 1);
      assert.ok((delays[0] ?? -1) >= 0 && (delays[0] ?? 200) < 100);
    });

    it('gives up after maxAttempts and names the entries left', async () => {
      ddb.on(BatchWriteCommand).callsFake((input) => {
        const requests = input.RequestItems[TABLE];
        // Whatever is sent, the entry at T0 + 2 is never processed.
        const stuck = requests.filter(
          (r: { PutRequest: { Item: { at: number } } }) =>
            r.PutRequest.Item.at === T0 + 2,
        );
        return { UnprocessedItems: stuck.length ? { [TABLE]: stuck } : {} };
      });

      const append = store.appendAudit(entries);

      await assert.rejects(append, (error: unknown) => {
        assert.ok(error instanceof AuditWriteError);
        assert.deepEqual(error.unwritten, [auditEntry(T0 + 2)]);
        assert.equal(error.attempts, 3);
        return true;
      });
      // 3 attempts for the first chunk, 1 for the second.
      assert.equal(ddb.commandCalls(BatchWriteCommand).length, 4);
      assert.equal(delays.length, 2);
      assert.ok(delays.every((ms) => ms >= 0 && ms < 150));
    });
  });
});
