/**
 * How the controller's AWS clients are built. Both run the SDK's adaptive
 * retry mode: besides retrying a throttled call, it slows the client's
 * later calls down, which is what a Lambda kept warm across ticks needs.
 * Retries stay few because every call also has a time budget
 * (aws-errors.ts `withinBudget`) and the tick is one minute long.
 */

/** Requests per call, the first included. */
export const DEFAULT_MAX_ATTEMPTS = 3;

export interface AwsClientOptions {
  /** The Lambda's own region (AWS_REGION) when left out. */
  readonly region?: string;
  /** An emulator or a VPC endpoint; the public endpoint by default. */
  readonly endpoint?: string;
  /** For tests; in the Lambda the execution role's credentials are used. */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Default DEFAULT_MAX_ATTEMPTS. */
  readonly maxAttempts?: number;
}

/** The configuration both clients take, with only the keys given. */
export function clientConfig(options: AwsClientOptions): {
  retryMode: 'adaptive';
  maxAttempts: number;
  region?: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
} {
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 10) {
    throw new RangeError(
      `maxAttempts must be a whole number from 1 to 10 (got ${maxAttempts})`,
    );
  }
  return {
    retryMode: 'adaptive',
    maxAttempts,
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined
      ? {}
      : { credentials: options.credentials }),
  };
}
