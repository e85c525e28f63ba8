import assert from 'node:assert/strict';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ImdsError, readInstanceIdentity } from '../../agent/imds.ts';

const TOKEN = 'AQAEAtest-token==';

/** How the stand-in metadata service answers; tests switch it. */
let behaviour: 'ec2' | 'v1-only' | 'silent' | 'bad-id' | 'huge' = 'ec2';
const seen: string[] = [];

function answer(req: IncomingMessage, res: ServerResponse): void {
  seen.push(
    `${req.method} ${req.url} ` +
      `ttl=${req.headers['x-aws-ec2-metadata-token-ttl-seconds'] ?? '-'} ` +
      `token=${req.headers['x-aws-ec2-metadata-token'] ?? '-'}`,
  );
  if (behaviour === 'silent') return; // never answers
  if (req.method === 'PUT' && req.url === '/latest/api/token') {
    if (behaviour === 'v1-only') {
      res.writeHead(403).end();
      return;
    }
    res.writeHead(200).end(TOKEN);
    return;
  }
  if (req.headers['x-aws-ec2-metadata-token'] !== TOKEN) {
    res.writeHead(401).end();
    return;
  }
  if (req.url === '/latest/meta-data/instance-id') {
    const id =
      behaviour === 'bad-id'
        ? 'i-0abc; rm -rf /'
        : behaviour === 'huge'
          ? 'i-'.padEnd(10_000, '0')
          : 'i-0123456789abcdef0';
    res.writeHead(200).end(id);
    return;
  }
  if (req.url === '/latest/meta-data/placement/region') {
    res.writeHead(200).end('eu-west-3');
    return;
  }
  res.writeHead(404).end();
}

describe('readInstanceIdentity', () => {
  let server: Server;
  let endpoint: string;

  before(async () => {
    server = createServer(answer);
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    const { port } = server.address() as AddressInfo;
    endpoint = `http://127.0.0.1:${port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('asks for a token, then reads id and region with it', async () => {
    behaviour = 'ec2';
    seen.length = 0;

    const identity = await readInstanceIdentity({ endpoint });

    assert.deepEqual(identity, {
      instanceId: 'i-0123456789abcdef0',
      region: 'eu-west-3',
    });
    assert.deepEqual(seen, [
      'PUT /latest/api/token ttl=60 token=-',
      `GET /latest/meta-data/instance-id ttl=- token=${TOKEN}`,
      `GET /latest/meta-data/placement/region ttl=- token=${TOKEN}`,
    ]);
  });

  it('fails clearly where only IMDSv1 would answer', async () => {
    behaviour = 'v1-only';
    await assert.rejects(
      readInstanceIdentity({ endpoint }),
      (error: unknown) =>
        error instanceof ImdsError &&
        error.message === `PUT ${endpoint}/latest/api/token: status 403`,
    );
  });

  it('gives up after the timeout when nothing answers', async () => {
    behaviour = 'silent';
    const started = Date.now();
    await assert.rejects(
      readInstanceIdentity({ endpoint, timeoutMs: 200 }),
      /PUT .*\/latest\/api\/token: no (complete )?answer within 200 ms/,
    );
    assert.ok(Date.now() - started < 2_000);
  });

  it('refuses an answer that is not an instance id', async () => {
    behaviour = 'bad-id';
    await assert.rejects(
      readInstanceIdentity({ endpoint }),
      /\/latest\/meta-data\/instance-id is not an instance id \(got "i-0abc; rm -rf \/"\)/,
    );
  });

  it('refuses an answer longer than 4 kB', async () => {
    behaviour = 'huge';
    await assert.rejects(
      readInstanceIdentity({ endpoint }),
      /instance-id: answer longer than 4096 bytes/,
    );
  });

  it('refuses a closed port at once', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) =>
      closed.listen(0, '127.0.0.1', resolve),
    );
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    await assert.rejects(
      readInstanceIdentity({ endpoint: `http://127.0.0.1:${port}` }),
      /ECONNREFUSED/,
    );
  });

  it('refuses an endpoint that is not http', async () => {
    await assert.rejects(
      readInstanceIdentity({ endpoint: 'file:///etc/passwd' }),
      /endpoint must be an http:\/\/ URL \(got "file:\/\/\/etc\/passwd"\)/,
    );
  });

  it('refuses a token lifetime IMDS would not grant', async () => {
    await assert.rejects(
      readInstanceIdentity({ endpoint, tokenTtlSeconds: 0 }),
      /tokenTtlSeconds must be a whole number from 1 to 21600 \(got 0\)/,
    );
  });
});
