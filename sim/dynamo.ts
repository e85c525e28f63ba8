/**
 * The controller's record store, counted as DynamoDB on-demand bills it.
 * Wraps the in-memory twin (same transition rules as the table) and adds
 * up request units and calls, by the kind of request each method makes:
 *
 *   query     (openRecords, dueRecords, openOrders, recentAudit...) a
 *             Query on an index: eventually consistent, half a unit per
 *             4 KB read and at least half a unit per call; an item is
 *             taken as ~600 bytes
 *   batch     (appendAudit) BatchWriteItem, 25 items per call, 1 unit
 *             each
 *   write     every other method: one conditional write, 1 unit (an
 *             item stays under 1 KB), charged even when the condition
 *             fails, as DynamoDB charges it
 *
 * A Proxy rather than a class: the store's port grows as the controller
 * grows, and a method added there is counted here without a change.
 */
import { InMemoryRecordStore } from '../lambdas/store/in-memory-record-store.ts';
import type { RecordStore } from '../lambdas/store/record-store.ts';

const ITEM_BYTES = 600;
const READ_UNIT_BYTES = 4_096;
export const BATCH_WRITE_ITEMS = 25;
const QUERY_METHOD = /^(open|due|recent|list|find|get)/;
const BATCH_METHODS = new Set(['appendAudit']);

export function isQueryMethod(name: string): boolean {
  return QUERY_METHOD.test(name);
}

export function isBatchMethod(name: string): boolean {
  return BATCH_METHODS.has(name);
}

export interface StoreUsage {
  /** Items handed to the batch writes. */
  readonly auditEntries: number;
  readonly writeUnits: number;
  readonly readUnits: number;
  /** DynamoDB API calls: writes, batch writes and queries. */
  readonly calls: number;
  /** Calls per store method, for a reader who wants to see why. */
  readonly byMethod: Readonly<Record<string, number>>;
}

export interface CountedStore {
  readonly store: RecordStore;
  usage(): StoreUsage;
}

export function countingRecordStore(
  inner: RecordStore = new InMemoryRecordStore(),
): CountedStore {
  let writeUnits = 0;
  let readUnits = 0;
  let calls = 0;
  let auditEntries = 0;
  const byMethod: Record<string, number> = {};

  const counted = async (
    name: string,
    result: Promise<unknown>,
    args: unknown[],
  ) => {
    byMethod[name] = (byMethod[name] ?? 0) + 1;
    if (BATCH_METHODS.has(name)) {
      const items = Array.isArray(args[0]) ? args[0].length : 1;
      calls += Math.ceil(items / BATCH_WRITE_ITEMS);
      writeUnits += items;
      auditEntries += items;
      return result;
    }
    if (QUERY_METHOD.test(name)) {
      calls++;
      const value = await result;
      const items = Array.isArray(value) ? value.length : 1;
      readUnits +=
        Math.max(1, Math.ceil((items * ITEM_BYTES) / READ_UNIT_BYTES)) / 2;
      return value;
    }
    calls++;
    writeUnits++;
    return result;
  };

  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') {
        return value;
      }
      return (...args: unknown[]) =>
        counted(
          property,
          (value as (...a: unknown[]) => Promise<unknown>).apply(target, args),
          args,
        );
    },
  });
  return {
    store,
    usage: () => ({
      auditEntries,
      writeUnits,
      readUnits,
      calls,
      byMethod: { ...byMethod },
    }),
  };
}
