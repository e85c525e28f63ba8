/**
 * Errors of the controller's AWS adapters, under one base so the
 * controller can log and count them by kind and never act on a read that
 * failed half-way; SendCommand's refusal is the port's own
 * CommandNotSentError instead, since the controller acts on it (the order
 * surely was not sent). Anything not translated here is rethrown as the
 * SDK gave it.
 */
import { CommandNotSentError } from '../ports/commands.ts';

export type AwsService = 'CloudWatch' | 'SSM';

export class AwsAdapterError extends Error {
  readonly service: AwsService;
  readonly operation: string;

  constructor(
    service: AwsService,
    operation: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${service} ${operation}: ${message}`, options);
    this.name = 'AwsAdapterError';
    this.service = service;
    this.operation = operation;
  }
}

/**
 * The service still said "slow down" after the SDK's own retries (the
 * clients run in adaptive mode, which also paces later calls). Nothing
 * read in the same call may be used; the next tick tries again.
 */
export class ThrottledError extends AwsAdapterError {
  /** Requests the SDK made, the first included, as it reported them. */
  readonly attempts: number;

  constructor(
    service: AwsService,
    operation: string,
    error: unknown,
    attempts: number = attemptsOf(error),
  ) {
    super(
      service,
      operation,
      `throttled after ${attempts} attempt(s) (${describeError(error)}); ` +
        'nothing from this call is used, the next tick reads again',
      { cause: error },
    );
    this.name = 'ThrottledError';
    this.attempts = attempts;
  }
}

/** A call ran past its time budget, retries included. */
export class CallTimedOutError extends AwsAdapterError {
  readonly budgetMs: number;

  constructor(
    service: AwsService,
    operation: string,
    budgetMs: number,
    error: unknown,
  ) {
    super(
      service,
      operation,
      `no answer within the ${budgetMs} ms budget (${describeError(error)})`,
      { cause: error },
    );
    this.name = 'CallTimedOutError';
    this.budgetMs = budgetMs;
  }
}

/**
 * An answer that cannot be trusted as a whole: a series the service could
 * not compute, a query it did not answer, more pages than allowed.
 */
export class DoubtfulDataError extends AwsAdapterError {
  constructor(service: AwsService, operation: string, message: string) {
    super(service, operation, message);
    this.name = 'DoubtfulDataError';
  }
}

/** The SDK's own test, so that both sides agree on what throttling is. */
const THROTTLING_NAMES = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'LimitExceededException',
]);

export function isThrottling(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const details = error as {
    $metadata?: { httpStatusCode?: number };
    $retryable?: { throttling?: boolean };
  };
  return (
    THROTTLING_NAMES.has(error.name) ||
    details.$metadata?.httpStatusCode === 429 ||
    details.$retryable?.throttling === true
  );
}

/** An abort from the time budget's signal, or from the SDK's own. */
export function isTimeout(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'AbortError' || error.name === 'TimeoutError')
  );
}

/** The SDK writes the attempts it made on the error it finally throws. */
export function attemptsOf(error: unknown): number {
  const attempts = (error as { $metadata?: { attempts?: number } } | null)
    ?.$metadata?.attempts;
  return typeof attempts === 'number' && attempts >= 1 ? attempts : 1;
}

export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.message ? `${error.name}: ${error.message}` : error.name;
}

/**
 * Runs one SDK call within `budgetMs` (the SDK's retries and their waits
 * included: its retry loop gives up when the signal fires) and turns
 * throttling and timeouts into the errors above.
 */
export async function withinBudget<T>(
  service: AwsService,
  operation: string,
  budgetMs: number,
  call: (abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  try {
    return await call(AbortSignal.timeout(budgetMs));
  } catch (error) {
    if (isThrottling(error))
      throw new ThrottledError(service, operation, error);
    if (isTimeout(error)) {
      throw new CallTimedOutError(service, operation, budgetMs, error);
    }
    throw error;
  }
}

/**
 * SendCommand refused the command; nothing was sent and sending the same
 * again cannot help. `InvalidInstanceId` is the usual one: the instance
 * is gone, stopped, or its SSM Agent is not registered.
 */
export class CommandRejectedError extends CommandNotSentError {
  readonly code: string;

  constructor(host: string, error: Error) {
    super(
      host,
      `SSM SendCommand: refused the command for ${host} ` +
        `(${describeError(error)}); nothing was sent`,
      { cause: error },
    );
    this.name = 'CommandRejectedError';
    this.code = error.name;
  }
}

/**
 * SendCommand failed in a way that does not say whether SSM took the
 * command (a lost answer, a reset, a 5xx). It is not sent again: a second
 * copy could act twice. The host may still run it before `notAfter`.
 */
export class CommandOutcomeUnknownError extends AwsAdapterError {
  readonly host: string;

  constructor(host: string, error: unknown) {
    super(
      'SSM',
      'SendCommand',
      `may or may not have sent the command for ${host} ` +
        `(${describeError(error)}); it is not sent again, and the host ` +
        'may still run it until its notAfter',
      { cause: error },
    );
    this.name = 'CommandOutcomeUnknownError';
    this.host = host;
  }
}
