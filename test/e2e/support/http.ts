/**
 * HTTP GET to the test bed. The address is fixed to 127.0.0.1: the test
 * bed must never send traffic anywhere else, so no caller can choose it.
 */
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';

export const LOOPBACK = '127.0.0.1';

export interface HttpReply {
  readonly status: number;
  readonly body: string;
}

export interface GetOptions {
  readonly port: number;
  /** The Host header, which picks the app's virtual host. */
  readonly hostName: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** Resolves with any status; rejects on a network error or the timeout. */
export function get(path: string, options: GetOptions): Promise<HttpReply> {
  if (!path.startsWith('/')) {
    return Promise.reject(
      new Error(`request path must start with '/', got '${path}'`),
    );
  }
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: LOOPBACK,
        port: options.port,
        path,
        method: 'GET',
        headers: { host: options.hostName, connection: 'close' },
        agent: false,
        signal: options.signal,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => {
          clearTimeout(timer);
          resolve({ status: response.statusCode ?? 0, body });
        });
        response.on('error', reject);
      },
    );
    const timer = setTimeout(() => {
      request.destroy(
        new Error(`GET ${path} got no full answer in ${options.timeoutMs} ms`),
      );
    }, options.timeoutMs);
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.end();
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() =>
        port > 0 ? resolve(port) : reject(new Error('no port assigned')),
      );
    });
  });
}
