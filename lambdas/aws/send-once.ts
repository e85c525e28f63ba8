/**
 * Keeps the SDK from sending a SendCommand twice when the first copy may
 * have reached SSM. SendCommand has no idempotency token, and a second
 * copy of a pick order would pick again; so only a refusal (throttling or
 * any other 4xx answer) may be retried. No answer at all, or a 5xx,
 * leaves the command's fate open: that is UnknownFate, which the SDK
 * takes for a client error and does not retry.
 */
import type { SendCommandCommand } from '@aws-sdk/client-ssm';
import { describeError, isThrottling } from './aws-errors.ts';

/**
 * Carries the original error aside, not as `cause`: the SDK looks
 * through `cause` when it decides whether to retry.
 */
export class UnknownFate extends Error {
  readonly original: unknown;

  constructor(original: unknown) {
    super(`SendCommand outcome unknown: ${describeError(original)}`);
    this.name = 'SendCommandOutcomeUnknown';
    this.original = original;
  }
}

/** Adds the guard inside the SDK's retry loop, for this command only. */
export function sendOnce(command: SendCommandCommand): SendCommandCommand {
  command.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        throw refusedOrUnknown(error);
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'sendOnce' },
  );
  return command;
}

function refusedOrUnknown(error: unknown): unknown {
  if (isThrottling(error)) return error;
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)
    ?.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 400 && status < 500) return error;
  return new UnknownFate(error);
}
