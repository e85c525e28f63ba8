/**
 * The instance's id and region from the EC2 instance metadata service,
 * version 2 only: a PUT for a session token, then GETs that carry it.
 * Every request has a short timeout (the service answers in milliseconds
 * on EC2, and not at all elsewhere), every answer is size-bounded and
 * checked against the shape an id or a region has.
 */
import { request } from 'node:http';

export const IMDS_ENDPOINT = 'http://169.254.169.254';
const TOKEN_PATH = '/latest/api/token';
const INSTANCE_ID_PATH = '/latest/meta-data/instance-id';
const REGION_PATH = '/latest/meta-data/placement/region';
const MAX_ANSWER_BYTES = 4_096;

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;

export interface ImdsOptions {
  /** Default IMDS_ENDPOINT; tests point it at 127.0.0.1. */
  readonly endpoint?: string;
  /** Per request. Default 1 s. */
  readonly timeoutMs?: number;
  /** Lifetime asked for the session token. Default 60 s: used at once. */
  readonly tokenTtlSeconds?: number;
}

export interface InstanceIdentity {
  readonly instanceId: string;
  readonly region: string;
}

export class ImdsError extends Error {
  override readonly name = 'ImdsError';
}

export async function readInstanceIdentity(
  options: ImdsOptions = {},
): Promise<InstanceIdentity> {
  const endpoint = new URL(options.endpoint ?? IMDS_ENDPOINT);
  if (endpoint.protocol !== 'http:') {
    throw new ImdsError(
      'endpoint must be an http:// URL ' +
        `(got ${JSON.stringify(options.endpoint)})`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 1_000;
  const ttl = options.tokenTtlSeconds ?? 60;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21_600) {
    throw new ImdsError(
      `tokenTtlSeconds must be a whole number from 1 to 21600 (got ${ttl})`,
    );
  }

  const token = await call(endpoint, 'PUT', TOKEN_PATH, timeoutMs, {
    'X-aws-ec2-metadata-token-ttl-seconds': String(ttl),
  });
  const withToken = { 'X-aws-ec2-metadata-token': token };
  const instanceId = await call(
    endpoint,
    'GET',
    INSTANCE_ID_PATH,
    timeoutMs,
    withToken,
  );
  const region = await call(endpoint, 'GET', REGION_PATH, timeoutMs, withToken);
  if (!INSTANCE_ID.test(instanceId)) {
    throw new ImdsError(
      `${INSTANCE_ID_PATH} is not an instance id ` +
        `(got ${JSON.stringify(instanceId.slice(0, 64))})`,
    );
  }
  if (!REGION.test(region)) {
    throw new ImdsError(
      `${REGION_PATH} is not a region name ` +
        `(got ${JSON.stringify(region.slice(0, 64))})`,
    );
  }
  return { instanceId, region };
}

function call(
  endpoint: URL,
  method: 'GET' | 'PUT',
  path: string,
  timeoutMs: number,
  headers: Record<string, string>,
): Promise<string> {
  const where = `${method} ${new URL(path, endpoint).href}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      outcome();
    };
    const fail = (why: string) => {
      req.destroy();
      settle(() => reject(new ImdsError(`${where}: ${why}`)));
    };
    const req = request(
      new URL(path, endpoint),
      { method, headers, agent: false, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            fail(`answer longer than ${MAX_ANSWER_BYTES} bytes`);
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (error) => fail(error.message));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8').trim();
          if (res.statusCode !== 200) {
            fail(`status ${res.statusCode ?? 'none'}`);
          } else if (body === '') {
            fail('empty answer');
          } else {
            settle(() => resolve(body));
          }
        });
      },
    );
    // `timeout` alone only notices a silent socket; this bounds the whole
    // exchange, a slow trickle included.
    const deadline = setTimeout(
      () => fail(`no complete answer within ${timeoutMs} ms`),
      timeoutMs,
    );
    req.on('timeout', () => fail(`no answer within ${timeoutMs} ms`));
    req.on('error', (error) => fail(error.message));
    req.end();
  });
}
