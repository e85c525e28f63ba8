/**
 * The stores the record-store contract runs against, and a helper that
 * runs one step from several callers at once, as overlapping controller
 * ticks would.
 */
import { DynamoRecordStore } from '../../../lambdas/store/dynamo-record-store.ts';
import { InMemoryRecordStore } from '../../../lambdas/store/in-memory-record-store.ts';
import type {
  MarkRecord,
  RecordStore,
} from '../../../lambdas/store/record-store.ts';
import { startLocalDynamo, type LocalDynamo } from './local-table.ts';

export interface StoreSubject {
  readonly name: string;
  start(): Promise<void>;
  /** A store over empty state. */
  fresh(): Promise<RecordStore>;
  stop(): Promise<void>;
}

const inMemory: StoreSubject = {
  name: 'InMemoryRecordStore',
  start: async () => {},
  fresh: async () => new InMemoryRecordStore(),
  stop: async () => {},
};

/** One dynalite for the suite; a new table for every test. */
function onDynalite(): StoreSubject {
  let local: LocalDynamo | undefined;
  return {
    name: 'DynamoRecordStore on dynalite',
    start: async () => {
      local = await startLocalDynamo();
    },
    fresh: async () => {
      if (local === undefined) throw new Error('dynalite is not started');
      const tableName = await local.createTable();
      return new DynamoRecordStore({ tableName, client: local.client });
    },
    stop: async () => {
      await local?.stop();
      local = undefined;
    },
  };
}

export const STORE_SUBJECTS: readonly StoreSubject[] = [inMemory, onDynalite()];

export const CONTENDERS = 8;

/** Runs a step CONTENDERS times at once; sorts out winners and losers. */
export async function race(
  step: (contender: number) => Promise<MarkRecord>,
): Promise<{ won: MarkRecord[]; lost: unknown[] }> {
  const settled = await Promise.allSettled(
    Array.from({ length: CONTENDERS }, (_, contender) => step(contender)),
  );
  return {
    won: settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])),
    lost: settled.flatMap((s) => (s.status === 'rejected' ? [s.reason] : [])),
  };
}
