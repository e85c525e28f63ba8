/**
 * Stand-ins below the SDK rather than in place of it: a request handler
 * that answers every request itself (no socket is opened), and a retry
 * strategy without waits. With them a real client runs its own
 * serialisation, error parsing and retry loop, which a mocked `send`
 * skips.
 */
import { Readable } from 'node:stream';

export interface WireAnswer {
  readonly status: number;
  readonly body: string;
  readonly headers?: Record<string, string>;
}

/** Answers request n with answers[n], the last one again after that. */
export function answeringHandler(answers: readonly WireAnswer[]) {
  const targets: string[] = [];
  const handler = {
    handle: async (request: { headers: Record<string, string> }) => {
      targets.push(request.headers['x-amz-target'] ?? '');
      const answer = answers[Math.min(targets.length, answers.length) - 1];
      if (answer === undefined) throw new Error('answeringHandler: no answer');
      return {
        response: {
          statusCode: answer.status,
          headers: {
            'content-type': 'application/x-amz-json-1.1',
            ...answer.headers,
          },
          body: Readable.from([Buffer.from(answer.body)]),
        },
      };
    },
  };
  return { handler, targets };
}

interface Token {
  getRetryCount(): number;
  getRetryDelay(): number;
}

/**
 * The SDK's retry contract (v2 strategy) with no wait: throttling and
 * transient errors are retried until `maxAttempts` requests were made.
 */
export function instantRetries(maxAttempts: number) {
  const token = (retries: number): Token => ({
    getRetryCount: () => retries,
    getRetryDelay: () => 0,
  });
  return {
    mode: 'standard',
    acquireInitialRetryToken: async () => token(0),
    refreshRetryTokenForRetry: async (
      previous: Token,
      info: { errorType: string },
    ) => {
      const retryable =
        info.errorType === 'THROTTLING' || info.errorType === 'TRANSIENT';
      if (!retryable || previous.getRetryCount() + 1 >= maxAttempts) {
        throw new Error('no retry left');
      }
      return token(previous.getRetryCount() + 1);
    },
    recordSuccess: () => {},
  };
}

/** Credentials and an endpoint that could reach nothing but a closed port. */
export const OFFLINE_CLIENT = {
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9',
  credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
} as const;
