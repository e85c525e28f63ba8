import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { FleetConfigCache } from '../../agent/fleet-config-cache.ts';
import { InMemoryParameterSource } from '../../agent/parameters/in-memory-parameter-source.ts';
import { SsmParameterSource } from '../../agent/parameters/ssm-parameter-source.ts';

const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);
const MIN = 60_000;
const ROOT = '/passenger-fleet/prod';

function recordingLog() {
  const lines: { level: string; message: string; fields: unknown }[] = [];
  const line =
    (level: string) => (message: string, fields?: Record<string, unknown>) =>
      void lines.push({ level, message, fields });
  return { lines, info: line('info'), warn: line('warn') };
}

/**
 * A cache over parameters in memory, a clock the test moves, and a
 * random of 0.5, which makes every jittered wait exactly its nominal one.
 */
function setUp(parameters: Record<string, string>) {
  let now = T0;
  const source = new InMemoryParameterSource(parameters);
  const log = recordingLog();
  const cache = new FleetConfigCache({
    source,
    fleet: 'prod',
    clock: () => now,
    random: () => 0.5,
    log,
  });
  const at = (ms: number) => {
    now = T0 + ms;
  };
  return { source, log, cache, at };
}

describe('FleetConfigCache', () => {
  describe('current', () => {
    it('reads once, then serves the cache for 15 minutes', async () => {
      const { source, cache, at, log } = setUp({
        [`${ROOT}/defaults/limitMb`]: '300',
      });

      assert.equal((await cache.current())?.defaults.limitMb, 300);
      at(14 * MIN);
      await cache.current();
      assert.equal(source.reads, 1);

      source.set(`${ROOT}/defaults/limitMb`, '350');
      at(15 * MIN);
      assert.equal((await cache.current())?.defaults.limitMb, 350);
      assert.equal(source.reads, 2);
      assert.deepEqual(
        log.lines.map((l) => l.message),
        [
          `fleet config loaded from ${ROOT}`,
          `fleet config loaded from ${ROOT}`,
        ],
      );
    });

    it('jitters the cache time by up to a fifth either way', async () => {
      const waits: number[] = [];
      for (const random of [0, 0.999999]) {
        const now = T0;
        const cache = new FleetConfigCache({
          source: new InMemoryParameterSource(),
          fleet: 'prod',
          clock: () => now,
          random: () => random,
          log: recordingLog(),
        });
        await cache.current();
        waits.push(cache.status().nextReadAt - now);
      }
      assert.deepEqual(waits, [12 * MIN, 18 * MIN]);
    });

    it('shares one read between callers that ask at once', async () => {
      const { source, cache } = setUp({});
      await Promise.all([cache.current(), cache.current(), cache.current()]);
      assert.equal(source.reads, 1);
    });

    it('keeps the last good config when a read fails, and backs off', async () => {
      const { source, cache, at, log } = setUp({
        [`${ROOT}/defaults/limitMb`]: '300',
      });
      await cache.current();
      source.failWith(new Error('ThrottlingException: Rate exceeded'));

      at(15 * MIN);
      assert.equal((await cache.current())?.defaults.limitMb, 300);
      at(16 * MIN - 1);
      await cache.current();
      at(16 * MIN);
      await cache.current();
      at(18 * MIN);
      await cache.current();

      assert.equal(source.reads, 4);
      assert.equal(cache.status().failuresInARow, 3);
      assert.equal(cache.status().nextReadAt, T0 + 22 * MIN);
      const warning = log.lines.find((l) => l.level === 'warn');
      assert.equal(
        warning?.message,
        `could not read ${ROOT}: ThrottlingException: Rate exceeded; ` +
          'keeping the config read at 2026-12-03T12:00:00.000Z',
      );
    });

    it('keeps the last good config when a value is refused, naming it', async () => {
      const { source, cache, at, log } = setUp({
        [`${ROOT}/apps/shop/limitMb`]: '400',
      });
      await cache.current();
      source.set(`${ROOT}/apps/shop/limitMb`, '-4');

      at(15 * MIN);
      const config = await cache.current();

      assert.equal(config?.apps.shop?.limitMb, 400);
      const refusal = log.lines.find(
        (l) => (l.fields as { event?: string })?.event === 'config-rejected',
      );
      assert.deepEqual(refusal, {
        level: 'warn',
        message:
          `fleet config refused: ${ROOT}/apps/shop/limitMb: ` +
          'apps.shop.limitMb must be greater than 0 (got -4)',
        fields: {
          event: 'config-rejected',
          parameter: `${ROOT}/apps/shop/limitMb`,
          field: 'apps.shop.limitMb',
          rule: 'must be greater than 0',
        },
      });
      assert.equal(cache.status().refusedReads, 1);

      source.set(`${ROOT}/apps/shop/limitMb`, '450');
      at(16 * MIN);
      assert.equal((await cache.current())?.apps.shop?.limitMb, 450);
      assert.equal(cache.status().failuresInARow, 0);
    });

    it('has no config before a first good read', async () => {
      const { source, cache, log } = setUp({});
      source.failWith(new Error('connect ETIMEDOUT'));
      assert.equal(await cache.current(), undefined);
      assert.match(
        log.lines[0]?.message ?? '',
        /; no config yet, so no limits are known$/,
      );
    });

    it('refuses a fleet name that cannot be a parameter path', () => {
      assert.throws(
        () =>
          new FleetConfigCache({
            source: new InMemoryParameterSource(),
            fleet: '../other',
            clock: () => T0,
            log: recordingLog(),
          }),
        /fleet must be 1 to 64 letters/,
      );
    });
  });
});

describe('SsmParameterSource', () => {
  const client = new SSMClient({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
  });
  const ssm = mockClient(client);

  beforeEach(() => {
    ssm.reset();
  });

  describe('parametersUnder', () => {
    it('follows every page of a recursive GetParametersByPath', async () => {
      ssm
        .on(GetParametersByPathCommand)
        .resolvesOnce({
          Parameters: [
            { Name: `${ROOT}/defaults/limitMb`, Value: '300' },
            { Name: `${ROOT}/apps/shop/limitMb`, Value: '400' },
          ],
          NextToken: 'page-2',
        })
        .resolvesOnce({
          Parameters: [{ Name: `${ROOT}/unlistedApps`, Value: 'ignore' }],
        });
      const source = new SsmParameterSource({ client });

      const parameters = await source.parametersUnder(`${ROOT}/`);

      assert.deepEqual(
        ssm
          .commandCalls(GetParametersByPathCommand)
          .map((call) => call.args[0].input),
        [
          {
            Path: ROOT,
            Recursive: true,
            WithDecryption: false,
            MaxResults: 10,
          },
          {
            Path: ROOT,
            Recursive: true,
            WithDecryption: false,
            MaxResults: 10,
            NextToken: 'page-2',
          },
        ],
      );
      assert.deepEqual(parameters, [
        { name: `${ROOT}/defaults/limitMb`, value: '300' },
        { name: `${ROOT}/apps/shop/limitMb`, value: '400' },
        { name: `${ROOT}/unlistedApps`, value: 'ignore' },
      ]);
    });

    it('stops when a token comes back twice', async () => {
      ssm
        .on(GetParametersByPathCommand)
        .resolves({ Parameters: [], NextToken: 'again' });
      const source = new SsmParameterSource({ client });

      await assert.rejects(
        source.parametersUnder(ROOT),
        /returned the same NextToken twice \(page 2\); stopped/,
      );
      assert.equal(ssm.commandCalls(GetParametersByPathCommand).length, 2);
    });

    it('stops after maxPages', async () => {
      let page = 0;
      ssm
        .on(GetParametersByPathCommand)
        .callsFake(() => ({ Parameters: [], NextToken: `t${++page}` }));
      const source = new SsmParameterSource({ client, maxPages: 3 });

      await assert.rejects(
        source.parametersUnder(ROOT),
        /still had more after 3 pages \(maxPages\); stopped/,
      );
      assert.equal(ssm.commandCalls(GetParametersByPathCommand).length, 3);
    });

    it('lets a failed read through for the cache to handle', async () => {
      ssm
        .on(GetParametersByPathCommand)
        .rejects(new Error('AccessDeniedException: not allowed'));
      const source = new SsmParameterSource({ client });
      await assert.rejects(source.parametersUnder(ROOT), /AccessDenied/);
    });
  });
});
