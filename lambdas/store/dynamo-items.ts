/**
 * Marks and audit entries as table items, and back. Items are read with a
 * schema: a damaged or foreign item is reported with its key and field,
 * never handed to the policy as a half-read mark.
 */
import { z } from 'zod';
import { GRACEFUL_SIGNALS } from '../../core/actions.ts';
import { MEASURES } from '../../core/measure.ts';
import { OUTCOME_STATUSES } from '../../core/order.ts';
import { DamagedItemError } from './errors.ts';
import {
  isOpen,
  MARK_STATES,
  type AuditEntry,
  type MarkRecord,
} from './record-store.ts';
import {
  isOrderOpen,
  ORDER_KINDS,
  ORDER_STATES,
  orderSlot,
  type OrderRecord,
} from './order-records.ts';
import {
  AUDIT_RETENTION_DAYS,
  DEADLINE_ATTRIBUTE,
  ORDER_SHARD,
  orderKey,
  auditKey,
  CLOSED_MARK_RETENTION_DAYS,
  expiresAtSeconds,
  ITEM_TYPE_ATTRIBUTE,
  markKey,
  OPEN_SHARD,
  OPEN_SHARD_ATTRIBUTE,
  PARTITION_KEY,
  SORT_KEY,
  TTL_ATTRIBUTE,
} from './table-design.ts';

export type Item = Record<string, unknown>;

const MARK_ITEM = 'mark';
const ORDER_ITEM = 'order';
const AUDIT_ITEM = 'audit';

/**
 * Only an open mark carries the index key, so closing it takes it out of
 * the open-deadlines index; only a closed one carries the TTL.
 */
export function itemOfMark(mark: MarkRecord): Item {
  const { identity, ...fields } = mark;
  const lifetime = isOpen(mark)
    ? { [OPEN_SHARD_ATTRIBUTE]: OPEN_SHARD }
    : {
        [TTL_ATTRIBUTE]: expiresAtSeconds(
          mark.closedAt ?? mark.claimedAt,
          CLOSED_MARK_RETENTION_DAYS,
        ),
      };
  return withoutUndefined({
    ...markKey(identity),
    [ITEM_TYPE_ATTRIBUTE]: MARK_ITEM,
    ...identity,
    ...fields,
    ...lifetime,
  });
}

/** Like a mark: only an open order is in the index, only a done one has TTL. */
export function itemOfOrder(order: OrderRecord): Item {
  const lifetime = isOrderOpen(order)
    ? {
        [OPEN_SHARD_ATTRIBUTE]: ORDER_SHARD,
        [DEADLINE_ATTRIBUTE]: order.notAfter,
      }
    : {
        [TTL_ATTRIBUTE]: expiresAtSeconds(
          order.doneAt ?? order.claimedAt,
          CLOSED_MARK_RETENTION_DAYS,
        ),
      };
  return withoutUndefined({
    ...orderKey(order.host, orderSlot(order)),
    [ITEM_TYPE_ATTRIBUTE]: ORDER_ITEM,
    ...order,
    ...lifetime,
  });
}

export function itemOfAudit(entry: AuditEntry, unique: string): Item {
  return withoutUndefined({
    ...auditKey(entry.at, unique),
    [ITEM_TYPE_ATTRIBUTE]: AUDIT_ITEM,
    ...entry,
    [TTL_ATTRIBUTE]: expiresAtSeconds(entry.at, AUDIT_RETENTION_DAYS),
  });
}

const wholeMs = z.number().int().nonnegative();
const kb = z.number().nullable();
const outcome = z.object({
  status: z.enum(OUTCOME_STATUSES),
  reason: z.string(),
  at: wholeMs,
});
const markEnd = z.enum([...OUTCOME_STATUSES, 'unmarked']);
const gracefulAction = z.union([
  z.object({ type: z.literal('detach') }),
  z.object({ type: z.literal('signal'), signal: z.enum(GRACEFUL_SIGNALS) }),
  z.object({
    type: z.literal('command'),
    argv: z.array(z.string()).min(1),
  }),
]);

const markItem = z.object({
  [ITEM_TYPE_ATTRIBUTE]: z.literal(MARK_ITEM),
  host: z.string().min(1),
  pid: z.number().int().positive(),
  startTime: z.number().int().nonnegative(),
  app: z.string().min(1),
  cause: z.enum(['memory', 'orphan']),
  action: gracefulAction,
  markedAt: wholeMs,
  deadline: wholeMs,
  memoryKb: kb,
  limitKb: kb,
  measure: z.enum(MEASURES),
  uid: z.number().int().nonnegative().optional(),
  state: z.enum(MARK_STATES),
  orderId: z.string().min(1),
  claimedAt: wholeMs,
  gracefulOutcome: outcome.optional(),
  forceKillClaimedAt: wholeMs.optional(),
  outcome: outcome.extend({ status: markEnd }).optional(),
  closedAt: wholeMs.optional(),
});

const identity = z.object({
  host: z.string().min(1),
  pid: z.number().int().positive(),
  startTime: z.number().int().nonnegative(),
});
const wireGraceful = z.union([
  z.object({ type: z.literal('detach') }),
  z.object({ type: z.literal('signal'), signal: z.enum(GRACEFUL_SIGNALS) }),
]);
const count = z.number().int().nonnegative();

const orderItem = z.object({
  [ITEM_TYPE_ATTRIBUTE]: z.literal(ORDER_ITEM),
  host: z.string().min(1),
  app: z.string().min(1),
  kind: z.enum(ORDER_KINDS),
  orderId: z.string().min(1),
  measure: z.enum(MEASURES),
  notAfter: wholeMs,
  pick: z
    .object({
      count,
      graceful: wireGraceful.optional(),
      graceSeconds: count.optional(),
      limitKb: count.optional(),
      orphanCount: count.optional(),
      orphanGraceSeconds: count.optional(),
    })
    .optional(),
  identity: identity.optional(),
  uid: count.optional(),
  state: z.enum(ORDER_STATES),
  claimedAt: wholeMs,
  attempt: z.number().int().positive(),
  commandId: z.string().min(1).optional(),
  sentAt: wholeMs.optional(),
  ending: z
    .object({ status: z.string(), reason: z.string(), at: wholeMs })
    .optional(),
  doneAt: wholeMs.optional(),
});

const auditItem = z.object({
  [ITEM_TYPE_ATTRIBUTE]: z.literal(AUDIT_ITEM),
  at: wholeMs,
  host: z.string(),
  app: z.string(),
  pid: z.number(),
  startTime: z.number(),
  decision: z.string(),
  action: z.string().nullable(),
  reason: z.string(),
  outcome: markEnd.nullable(),
  memoryKb: kb,
  limitKb: kb,
  orderId: z.string().optional(),
});

export function markOfItem(item: Item): MarkRecord {
  const {
    host,
    pid,
    startTime,
    [ITEM_TYPE_ATTRIBUTE]: _type,
    ...fields
  } = parse(markItem, item);
  return { identity: { host, pid, startTime }, ...fields };
}

export function orderOfItem(item: Item): OrderRecord {
  const { [ITEM_TYPE_ATTRIBUTE]: _type, ...order } = parse(orderItem, item);
  return order;
}

export function auditOfItem(item: Item): AuditEntry {
  const { [ITEM_TYPE_ATTRIBUTE]: _type, ...entry } = parse(auditItem, item);
  return entry;
}

function parse<T>(schema: z.ZodType<T>, item: Item): T {
  const result = schema.safeParse(item);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path ?? [];
  const value = path.reduce<unknown>(
    (inner, step) =>
      inner !== null && typeof inner === 'object'
        ? (inner as Record<PropertyKey, unknown>)[step]
        : undefined,
    item,
  );
  throw new DamagedItemError(
    `${String(item[PARTITION_KEY])} ${String(item[SORT_KEY])}`,
    path.map(String).join('.') || '(item)',
    issue?.message ?? 'readable',
    value,
  );
}

/** The document client refuses undefined values unless told otherwise. */
function withoutUndefined(item: Item): Item {
  return Object.fromEntries(
    Object.entries(item).filter(([, value]) => value !== undefined),
  );
}
