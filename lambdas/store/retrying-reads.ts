/**
 * A record store whose reads are tried again when they fail. A read
 * changes nothing, so a second try is always safe; without it, one
 * throttled query at the start of a tick ends the whole tick, and a
 * DynamoDB that throttles a share of the calls stalls the controller
 * past the deadlines it must enforce (found by test/safety/faults).
 * Writes are not retried here: a conditional write whose answer was
 * lost would lose its own race on a second try.
 */
import type { RecordStore } from './record-store.ts';

const READS = new Set<string>([
  'openRecords',
  'dueRecords',
  'openOrders',
  'recentAudit',
] satisfies (keyof RecordStore)[]);

export const READ_ATTEMPTS = 4;

export function withReadRetries(
  store: RecordStore,
  attempts = READ_ATTEMPTS,
): RecordStore {
  return new Proxy(store, {
    get(inner, property, receiver) {
      const value: unknown = Reflect.get(inner, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') {
        return value;
      }
      const method = value as (...a: unknown[]) => Promise<unknown>;
      if (!READS.has(property)) return method.bind(inner);
      return async (...args: unknown[]) => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await method.apply(inner, args);
          } catch (error) {
            if (attempt >= attempts) throw error;
          }
        }
      };
    },
  });
}
