/**
 * The record store on the single DynamoDB table (table-design.ts). The
 * rules live in mark-transitions.ts; this adapter only translates: each
 * step becomes one conditional PutItem of the next mark, its guard the
 * condition, and a failed condition a RaceLostError. No transactions.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { WorkerIdentity } from '../../core/worker.ts';
import { checkAuditEntries, checkAuditLimit } from './audit-rules.ts';
import {
  DEFAULT_BATCH_RETRY,
  putInBatches,
  type BatchRetryPolicy,
} from './batch-write.ts';
import {
  auditOfItem,
  itemOfAudit,
  itemOfMark,
  itemOfOrder,
  markOfItem,
  orderOfItem,
  type Item,
} from './dynamo-items.ts';
import {
  conditionOf,
  isConditionFailure,
  orderConditionOf,
} from './dynamo-conditions.ts';
import { AuditWriteError, RaceLostError } from './errors.ts';
import { TransitionStore } from './transition-store.ts';
import {
  checkTime,
  describeGuard,
  type MarkTransition,
} from './mark-transitions.ts';
import {
  OrderRaceLostError,
  orderSlot,
  type OrderRecord,
  type OrderTransition,
} from './order-records.ts';
import type { AuditEntry, MarkRecord } from './record-store.ts';
import {
  AUDIT_PARTITION,
  DEADLINE_ATTRIBUTE,
  markKey,
  OPEN_DEADLINES_INDEX,
  OPEN_SHARD,
  OPEN_SHARD_ATTRIBUTE,
  ORDER_SHARD,
  orderKey,
  PARTITION_KEY,
  SORT_KEY,
} from './table-design.ts';

export interface DynamoRecordStoreOptions {
  readonly tableName: string;
  /** @default a client for the Lambda's own region and credentials */
  readonly client?: DynamoDBDocumentClient;
  /** @default DEFAULT_BATCH_RETRY (6 attempts, 50 ms doubling to 2 s) */
  readonly batchRetry?: BatchRetryPolicy;
  /** @default a timer; lets tests run the backoff without waiting */
  readonly sleep?: (ms: number) => Promise<void>;
}

export class DynamoRecordStore extends TransitionStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #batchRetry: BatchRetryPolicy;
  readonly #sleep: ((ms: number) => Promise<void>) | undefined;

  constructor(options: DynamoRecordStoreOptions) {
    super();
    if (options.tableName.trim() === '') {
      throw new Error('DynamoRecordStore option tableName must not be empty');
    }
    this.#tableName = options.tableName;
    this.#client =
      options.client ?? DynamoDBDocumentClient.from(new DynamoDBClient({}));
    this.#batchRetry = options.batchRetry ?? DEFAULT_BATCH_RETRY;
    this.#sleep = options.sleep;
  }

  /**
   * Read from the index, which lags the table by a moment: a mark just
   * closed may still show, one just claimed may not yet. Harmless, since
   * every step re-checks the stored mark in its condition.
   */
  async openRecords(): Promise<MarkRecord[]> {
    return this.#queryOpen(undefined);
  }

  async dueRecords(now: number): Promise<MarkRecord[]> {
    checkTime('dueRecords', 'now', now);
    return this.#queryOpen(now);
  }

  async openOrders(): Promise<OrderRecord[]> {
    const items = await this.#query({
      IndexName: OPEN_DEADLINES_INDEX,
      KeyConditionExpression: '#shard = :orders',
      ExpressionAttributeNames: { '#shard': OPEN_SHARD_ATTRIBUTE },
      ExpressionAttributeValues: { ':orders': ORDER_SHARD },
    });
    return items.map(orderOfItem);
  }

  async appendAudit(entries: readonly AuditEntry[]): Promise<void> {
    checkAuditEntries(entries);
    const byKey = new Map<string, AuditEntry>();
    const items = entries.map((entry) => {
      const item = itemOfAudit(entry, randomUUID());
      byKey.set(item[SORT_KEY] as string, entry);
      return item;
    });
    const unwritten = await putInBatches(items, {
      client: this.#client,
      tableName: this.#tableName,
      retry: this.#batchRetry,
      ...(this.#sleep ? { sleep: this.#sleep } : {}),
    });
    if (unwritten.length > 0) {
      throw new AuditWriteError(
        unwritten.flatMap((item) => byKey.get(item[SORT_KEY] as string) ?? []),
        this.#batchRetry.maxAttempts,
      );
    }
  }

  async recentAudit(limit: number): Promise<AuditEntry[]> {
    checkAuditLimit(limit);
    const items = await this.#query(
      {
        KeyConditionExpression: '#pk = :audit',
        ExpressionAttributeNames: { '#pk': PARTITION_KEY },
        ExpressionAttributeValues: { ':audit': AUDIT_PARTITION },
        ScanIndexForward: false,
      },
      limit,
    );
    return items.map(auditOfItem);
  }

  protected override async applyMark(
    transition: MarkTransition,
  ): Promise<MarkRecord> {
    const { next, guard, operation } = transition;
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#tableName,
          Item: itemOfMark(next),
          ...conditionOf(guard),
        }),
      );
      return next;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const { stored, readError } = await this.#readAfterRace(next.identity);
      throw new RaceLostError({
        operation,
        identity: next.identity,
        required: describeGuard(guard),
        stored,
        storedReadError: readError,
        cause: error,
      });
    }
  }

  protected override async applyOrder(
    transition: OrderTransition,
  ): Promise<OrderRecord> {
    const { next, guard } = transition;
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#tableName,
          Item: itemOfOrder(next),
          ...orderConditionOf(guard),
        }),
      );
      return next;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // Read back for the message only; a failed read leaves it unnamed.
      const stored = await this.#client
        .send(
          new GetCommand({
            TableName: this.#tableName,
            Key: orderKey(next.host, orderSlot(next)),
            ConsistentRead: true,
          }),
        )
        .then((reply) => (reply.Item ? orderOfItem(reply.Item) : undefined))
        .catch(() => undefined);
      throw new OrderRaceLostError(transition, stored);
    }
  }

  /**
   * dynalite cannot return the item with a failed condition, so the loser
   * reads it: a strongly consistent read, taken a moment after the race.
   */
  async #readAfterRace(
    identity: WorkerIdentity,
  ): Promise<{ stored?: MarkRecord; readError?: unknown }> {
    try {
      const reply = await this.#client.send(
        new GetCommand({
          TableName: this.#tableName,
          Key: markKey(identity),
          ConsistentRead: true,
        }),
      );
      return reply.Item ? { stored: markOfItem(reply.Item) } : {};
    } catch (readError) {
      return { readError };
    }
  }

  async #queryOpen(deadlineAtMost: number | undefined): Promise<MarkRecord[]> {
    const due = deadlineAtMost !== undefined;
    const items = await this.#query({
      IndexName: OPEN_DEADLINES_INDEX,
      KeyConditionExpression:
        '#shard = :open' + (due ? ' AND #deadline <= :now' : ''),
      ExpressionAttributeNames: {
        '#shard': OPEN_SHARD_ATTRIBUTE,
        ...(due ? { '#deadline': DEADLINE_ATTRIBUTE } : {}),
      },
      ExpressionAttributeValues: {
        ':open': OPEN_SHARD,
        ...(due ? { ':now': deadlineAtMost } : {}),
      },
    });
    return items.map(markOfItem);
  }

  /** Follows pages until done, or until `limit` items are in hand. */
  async #query(
    input: Omit<QueryCommandInput, 'TableName'>,
    limit = Number.POSITIVE_INFINITY,
  ): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const remaining = limit - items.length;
      const reply = await this.#client.send(
        new QueryCommand({
          ...input,
          TableName: this.#tableName,
          ...(Number.isFinite(remaining) ? { Limit: remaining } : {}),
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      items.push(...(reply.Items ?? []));
      startKey = reply.LastEvaluatedKey;
    } while (startKey !== undefined && items.length < limit);
    return items;
  }
}
