/**
 * The metrics port over CloudWatch PutMetricData.
 *
 * Retries live here, not in the SDK: build the client with
 * `maxAttempts: 1` (createCloudWatchClient does) so that one put makes
 * at most `maxAttempts` requests per batch, each bounded in time, with
 * exponential backoff and full jitter between them.
 */
import {
  CloudWatchClient,
  PutMetricDataCommand,
  type MetricDatum as WireDatum,
} from '@aws-sdk/client-cloudwatch';
import {
  METRIC_NAMESPACE,
  type MetricDatum,
} from '../../core/metric-schema.ts';
import {
  MetricsPutError,
  type MetricsPort,
  type PutOptions,
} from './metrics-port.ts';
import { putBatches } from './put-batches.ts';

export interface CloudWatchMetricsOptions {
  readonly client: CloudWatchClient;
  /** Default METRIC_NAMESPACE. */
  readonly namespace?: string;
  /**
   * Longest wait before a put that is not urgent, so that a fleet started
   * at once does not call at the same second. Default 60 s.
   */
  readonly jitterMs?: number;
  /** In [0, 1); Math.random by default. */
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Requests per batch, the first included. Default 4. */
  readonly maxAttempts?: number;
  /** First backoff ceiling, doubled at each retry. Default 500 ms. */
  readonly baseDelayMs?: number;
  /** Default 10 s. */
  readonly maxDelayMs?: number;
  /** Each request is abandoned after this. Default 10 s. */
  readonly requestTimeoutMs?: number;
}

/** What to do after a failed request. */
export type PutFailure = 'retry' | 'refused' | 'later';

/** CloudWatch's answers that blame the data; sending it again cannot help. */
const REFUSED = new Set([
  'InvalidParameterValue',
  'InvalidParameterValueException',
  'InvalidParameterCombination',
  'InvalidParameterCombinationException',
  'MissingParameter',
  'MissingRequiredParameterException',
  'ValidationError',
  'ValidationException',
]);

const THROTTLED = new Set([
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
]);

/**
 * Throttling, 5xx and failures before any answer (timeouts, resets) are
 * worth a retry now; refused data is dropped; anything else, such as
 * denied access or expired credentials, is kept for a later put.
 */
export function classifyPutFailure(error: unknown): PutFailure {
  if (!(error instanceof Error)) return 'later';
  const status = (error as { $metadata?: { httpStatusCode?: number } })
    .$metadata?.httpStatusCode;
  if (THROTTLED.has(error.name) || status === 429) return 'retry';
  if (status !== undefined && status >= 500) return 'retry';
  if (REFUSED.has(error.name)) return 'refused';
  // No answer at all: a timeout or a reset is worth another try, missing
  // credentials are not until the role's next refresh.
  if (status === undefined && error.name !== 'CredentialsProviderError') {
    return 'retry';
  }
  return 'later';
}

export class CloudWatchMetrics implements MetricsPort {
  readonly #client: CloudWatchClient;
  readonly #namespace: string;
  readonly #jitterMs: number;
  readonly #random: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #requestTimeoutMs: number;

  constructor(options: CloudWatchMetricsOptions) {
    this.#client = options.client;
    this.#namespace = options.namespace ?? METRIC_NAMESPACE;
    this.#jitterMs = options.jitterMs ?? 60_000;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? sleep;
    this.#maxAttempts = options.maxAttempts ?? 4;
    this.#baseDelayMs = options.baseDelayMs ?? 500;
    this.#maxDelayMs = options.maxDelayMs ?? 10_000;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    if (!Number.isInteger(this.#maxAttempts) || this.#maxAttempts < 1) {
      throw new RangeError(
        'maxAttempts must be a whole number of at least 1 ' +
          `(got ${this.#maxAttempts})`,
      );
    }
  }

  async put(
    data: readonly MetricDatum[],
    options: PutOptions = {},
  ): Promise<void> {
    if (data.length === 0) return;
    if (!options.urgent && this.#jitterMs > 0) {
      await this.#sleep(Math.floor(this.#random() * this.#jitterMs));
    }
    const batches = putBatches(data);
    for (const [index, batch] of batches.entries()) {
      const failure = await this.#send(batch);
      if (failure === undefined) continue;
      const undelivered = batches.slice(index).flat();
      throw new MetricsPutError(
        `PutMetricData to ${this.#namespace} failed after ` +
          `${failure.attempts} attempt(s) (${describeError(failure.error)}); ` +
          `${undelivered.length} of ${data.length} data not delivered`,
        undelivered,
        failure.kind !== 'refused',
        { cause: failure.error },
      );
    }
  }

  async #send(
    batch: readonly MetricDatum[],
  ): Promise<
    { kind: PutFailure; error: unknown; attempts: number } | undefined
  > {
    const command = new PutMetricDataCommand({
      Namespace: this.#namespace,
      MetricData: batch.map(toWire),
    });
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#client.send(command, {
          abortSignal: AbortSignal.timeout(this.#requestTimeoutMs),
        });
        return undefined;
      } catch (error) {
        const kind = classifyPutFailure(error);
        if (kind !== 'retry' || attempt >= this.#maxAttempts) {
          return { kind, error, attempts: attempt };
        }
        const ceiling = Math.min(
          this.#maxDelayMs,
          this.#baseDelayMs * 2 ** (attempt - 1),
        );
        await this.#sleep(Math.floor(this.#random() * ceiling));
      }
    }
  }
}

export interface CloudWatchClientOptions {
  readonly region: string;
  /** An emulator or a VPC endpoint; the public endpoint by default. */
  readonly endpoint?: string;
  /** For tests; on a host the instance role's credentials are used. */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** A client that leaves retrying to CloudWatchMetrics. */
export function createCloudWatchClient(
  options: CloudWatchClientOptions,
): CloudWatchClient {
  return new CloudWatchClient({
    region: options.region,
    maxAttempts: 1,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined
      ? {}
      : { credentials: options.credentials }),
  });
}

/** One value goes as Value, more as Values; resolution is one minute. */
export function toWire(datum: MetricDatum): WireDatum {
  const [only, ...more] = datum.values;
  return {
    MetricName: datum.name,
    Dimensions: datum.dimensions.map((d) => ({ Name: d.name, Value: d.value })),
    Timestamp: new Date(datum.timestamp),
    Unit: datum.unit,
    ...(more.length === 0 && only !== undefined
      ? { Value: only }
      : { Values: [...datum.values] }),
    StorageResolution: 60,
  };
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.message ? `${error.name}: ${error.message}` : error.name;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
