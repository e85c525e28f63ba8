/**
 * GetCommandInvocation's two status fields, read as the port's one
 * CommandStatus. `StatusDetails` is the finer of the two (it tells a
 * delivery timeout from an execution timeout), so it wins when it names
 * a status the port knows.
 */
import type { CommandStatus } from '../ports/commands.ts';

const BY_DETAILS: Readonly<Record<string, CommandStatus>> = {
  Pending: 'Pending',
  InProgress: 'InProgress',
  Delayed: 'Delayed',
  Success: 'Success',
  DeliveryTimedOut: 'DeliveryTimedOut',
  ExecutionTimedOut: 'ExecutionTimedOut',
  Failed: 'Failed',
  Canceled: 'Cancelled',
  Cancelled: 'Cancelled',
  // A cancel was asked for; the script may still be running.
  Cancelling: 'InProgress',
  Undeliverable: 'Undeliverable',
  Terminated: 'Terminated',
  // The script never ran on this host.
  InvalidPlatform: 'Undeliverable',
  AccessDenied: 'Failed',
};

const BY_STATUS: Readonly<Record<string, CommandStatus>> = {
  Pending: 'Pending',
  InProgress: 'InProgress',
  Delayed: 'Delayed',
  Success: 'Success',
  Failed: 'Failed',
  Cancelled: 'Cancelled',
  Cancelling: 'InProgress',
};

/**
 * `started` says whether the invocation has an execution start time: a
 * bare `TimedOut` without it never reached the script.
 * Unknown words read as InProgress: not final, so nothing is concluded
 * from them, and the deadlines stay the controller's to enforce.
 */
export function commandStatusOf(
  status: string | undefined,
  details: string | undefined,
  started: boolean,
): { status: CommandStatus; known: boolean } {
  const fromDetails = details === undefined ? undefined : BY_DETAILS[details];
  if (fromDetails !== undefined) return { status: fromDetails, known: true };
  if (status === 'TimedOut') {
    return {
      status: started ? 'ExecutionTimedOut' : 'DeliveryTimedOut',
      known: true,
    };
  }
  const fromStatus = status === undefined ? undefined : BY_STATUS[status];
  if (fromStatus !== undefined) return { status: fromStatus, known: true };
  return { status: 'InProgress', known: false };
}
