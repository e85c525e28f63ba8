/**
 * Puts many items with BatchWriteItem: 25 per request (the API's limit),
 * retrying what DynamoDB leaves in UnprocessedItems with exponential
 * backoff and full jitter, a bounded number of times. A batch is not
 * atomic and carries no conditions, so it suits append-only items (the
 * audit trail) and nothing that needs a guard.
 */
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type { Item } from './dynamo-items.ts';

export const BATCH_WRITE_LIMIT = 25;

export interface BatchRetryPolicy {
  /** Requests per chunk, the first included. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** At most 50+100+200+400+800 ms of waiting per chunk, about 1.5 s. */
export const DEFAULT_BATCH_RETRY: BatchRetryPolicy = {
  maxAttempts: 6,
  baseDelayMs: 50,
  maxDelayMs: 2000,
};

export interface BatchWriteOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly retry: BatchRetryPolicy;
  /** Defaults to a timer; tests pass one that records the delays. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** In [0, 1); defaults to Math.random. */
  readonly random?: () => number;
}

/**
 * Writes every item it can and returns those still unprocessed after the
 * last attempt (empty when all were written). A request that fails as a
 * whole throws at once: the caller does not know which chunks landed, so
 * retrying the call may write some entries twice, never lose one.
 */
export async function putInBatches(
  items: readonly Item[],
  options: BatchWriteOptions,
): Promise<Item[]> {
  const unwritten: Item[] = [];
  for (let start = 0; start < items.length; start += BATCH_WRITE_LIMIT) {
    const chunk = items.slice(start, start + BATCH_WRITE_LIMIT);
    unwritten.push(...(await putChunk(chunk, options)));
  }
  return unwritten;
}

async function putChunk(
  chunk: readonly Item[],
  options: BatchWriteOptions,
): Promise<Item[]> {
  const { client, tableName, retry } = options;
  const sleep = options.sleep ?? delay;
  const random = options.random ?? Math.random;
  let pending: Item[] = [...chunk];
  for (let attempt = 1; attempt <= retry.maxAttempts; attempt++) {
    if (attempt > 1) {
      const ceiling = Math.min(
        retry.maxDelayMs,
        retry.baseDelayMs * 2 ** (attempt - 2),
      );
      await sleep(Math.floor(random() * ceiling));
    }
    const reply = await client.send(
      new BatchWriteCommand({
        RequestItems: {
          [tableName]: pending.map((Item) => ({ PutRequest: { Item } })),
        },
      }),
    );
    pending = (reply.UnprocessedItems?.[tableName] ?? []).flatMap((request) =>
      request.PutRequest?.Item ? [request.PutRequest.Item] : [],
    );
    if (pending.length === 0) return [];
  }
  return pending;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
