/**
 * A DynamoDB table on dynalite, in this process, on 127.0.0.1 only. The
 * table is built from the same design the CDK stack uses; TTL cannot be
 * switched on (dynalite has no UpdateTimeToLive), which changes nothing
 * here since nothing waits for TTL.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createTableInput } from '../../../lambdas/store/table-design.ts';

interface DynaliteOptions {
  /** How long a new table stays CREATING; 0 makes it ACTIVE at once. */
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}

// dynalite ships no types; this is the one function we call.
const dynalite = createRequire(import.meta.url)('dynalite') as (
  options: DynaliteOptions,
) => Server;

export interface LocalDynamo {
  readonly client: DynamoDBDocumentClient;
  readonly endpoint: string;
  /** Creates a fresh, empty table and returns its name. */
  createTable(): Promise<string>;
  stop(): Promise<void>;
}

export async function startLocalDynamo(): Promise<LocalDynamo> {
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const base = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    // A failure must show at once, not after the SDK's retries.
    maxAttempts: 1,
  });
  const client = DynamoDBDocumentClient.from(base);
  let tables = 0;

  return {
    client,
    endpoint,
    async createTable() {
      tables += 1;
      const name = `passenger-fleet-test-${tables}`;
      await base.send(new CreateTableCommand(createTableInput(name)));
      const { Table } = await base.send(
        new DescribeTableCommand({ TableName: name }),
      );
      if (Table?.TableStatus !== 'ACTIVE') {
        throw new Error(`local table ${name} is ${Table?.TableStatus}`);
      }
      return name;
    },
    async stop() {
      client.destroy();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}
