/**
 * The controller's single DynamoDB table: grace marks and the audit trail
 * side by side, told apart by their keys. The CDK stack and the local
 * tests build the table from these constants, so both agree on it.
 *
 * Worker mark, one item per worker identity (host, pid, start time):
 *   PK `HOST#<host>`, SK `MARK#<pid>#<startTime>`;
 *   `openShard` = `OPEN` while open, absent once closed;
 *   `expiresAt` = closedAt + 30 days once closed, absent while open.
 * Order (order-records.ts), one item per slot on a host:
 *   PK `HOST#<host>`, SK `ORDER#pick#<app>` or
 *   `ORDER#force-kill#<pid>#<startTime>`; `openShard` = `ORDER` and
 *   `deadline` = its notAfter while not done, so the open orders are one
 *   Query on the same sparse index; `expiresAt` = doneAt + 30 days.
 * Audit entry:
 *   PK `AUDIT`, SK `<at, 15 digits>#<uuid>`; `expiresAt` = at + 90 days.
 *
 * - A new mark for a worker may only replace a closed one, and every step
 *   of a mark is one conditional put: no transactions are needed.
 * - `open-deadlines` is a sparse index: only open marks carry `openShard`,
 *   and its sort key is the mark's `deadline` (epoch ms). Marks due at a
 *   time are one Query (`openShard = OPEN AND deadline <= now`), never a
 *   Scan. All open marks share one index partition: a mark is written
 *   three or four times over its grace time, and even a few thousand
 *   workers in grace at once stay far below a partition's 1,000 writes
 *   per second.
 * - Audit entries share the partition `AUDIT`, sorted by time, so the
 *   newest are one descending Query. A partition takes 1,000 writes per
 *   second; bursts above that come back as UnprocessedItems and are
 *   retried.
 * - `expiresAt` (epoch seconds) only lets DynamoDB collect old items,
 *   which it does within days. Nothing reads it as a timer: deadlines
 *   live in `deadline`, and an expired item still in the table is read
 *   like any other.
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import type { WorkerIdentity } from '../../core/worker.ts';

export const PARTITION_KEY = 'PK';
export const SORT_KEY = 'SK';
export const ITEM_TYPE_ATTRIBUTE = 'itemType';

export const OPEN_DEADLINES_INDEX = 'open-deadlines';
export const OPEN_SHARD_ATTRIBUTE = 'openShard';
export const OPEN_SHARD = 'OPEN';
export const DEADLINE_ATTRIBUTE = 'deadline';
/** Open orders share the index under their own partition value. */
export const ORDER_SHARD = 'ORDER';

export const TTL_ATTRIBUTE = 'expiresAt';
export const CLOSED_MARK_RETENTION_DAYS = 30;
export const AUDIT_RETENTION_DAYS = 90;

export const AUDIT_PARTITION = 'AUDIT';
const HOST_PREFIX = 'HOST#';
const MARK_PREFIX = 'MARK#';
const ORDER_PREFIX = 'ORDER#';
/** Epoch ms fits in 15 digits until the year 33658. */
const AUDIT_TIME_DIGITS = 15;

/** The table as data, for the CDK stack to translate into its construct. */
export const TABLE_DESIGN = {
  partitionKey: { name: PARTITION_KEY, type: 'S' },
  sortKey: { name: SORT_KEY, type: 'S' },
  billingMode: 'PAY_PER_REQUEST',
  timeToLiveAttribute: TTL_ATTRIBUTE,
  globalSecondaryIndexes: [
    {
      indexName: OPEN_DEADLINES_INDEX,
      partitionKey: { name: OPEN_SHARD_ATTRIBUTE, type: 'S' },
      sortKey: { name: DEADLINE_ATTRIBUTE, type: 'N' },
      // The controller reads whole marks from the index: no second read.
      projectionType: 'ALL',
    },
  ],
} as const;

/**
 * CreateTable input matching TABLE_DESIGN, for local tables (dynalite).
 * TTL is switched on separately (UpdateTimeToLive), which the stack does
 * and dynalite cannot.
 */
export function createTableInput(tableName: string): CreateTableCommandInput {
  const { partitionKey, sortKey, globalSecondaryIndexes } = TABLE_DESIGN;
  const attributes = [
    partitionKey,
    sortKey,
    ...globalSecondaryIndexes.flatMap((index) => [
      index.partitionKey,
      index.sortKey,
    ]),
  ];
  return {
    TableName: tableName,
    BillingMode: TABLE_DESIGN.billingMode,
    KeySchema: [
      { AttributeName: partitionKey.name, KeyType: 'HASH' },
      { AttributeName: sortKey.name, KeyType: 'RANGE' },
    ],
    AttributeDefinitions: attributes.map(({ name, type }) => ({
      AttributeName: name,
      AttributeType: type,
    })),
    GlobalSecondaryIndexes: globalSecondaryIndexes.map((index) => ({
      IndexName: index.indexName,
      KeySchema: [
        { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: index.sortKey.name, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: index.projectionType },
    })),
  };
}

export interface ItemKey {
  readonly [PARTITION_KEY]: string;
  readonly [SORT_KEY]: string;
}

/** pid and start time are numbers, so `#` in a host name stays unambiguous. */
export function markKey(identity: WorkerIdentity): ItemKey {
  return {
    [PARTITION_KEY]: `${HOST_PREFIX}${identity.host}`,
    [SORT_KEY]: `${MARK_PREFIX}${identity.pid}#${identity.startTime}`,
  };
}

/** One order slot on a host (order-records.ts `orderSlot`). */
export function orderKey(host: string, slot: string): ItemKey {
  return {
    [PARTITION_KEY]: `${HOST_PREFIX}${host}`,
    [SORT_KEY]: `${ORDER_PREFIX}${slot}`,
  };
}

/** Sorts by time; the unique tail keeps same-millisecond entries apart. */
export function auditKey(at: number, unique: string): ItemKey {
  return {
    [PARTITION_KEY]: AUDIT_PARTITION,
    [SORT_KEY]: `${String(at).padStart(AUDIT_TIME_DIGITS, '0')}#${unique}`,
  };
}

const MS_PER_DAY = 24 * 60 * 60 * 1000;

/** The TTL value (epoch seconds) for an item kept `days` after `fromMs`. */
export function expiresAtSeconds(fromMs: number, days: number): number {
  return Math.ceil((fromMs + days * MS_PER_DAY) / 1000);
}
