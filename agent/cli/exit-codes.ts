/**
 * Exit codes, from sysexits.h, so that cron mail and systemd tell a bad
 * flag from a missing Passenger from a run that found the lock held.
 */
export const EXIT = {
  ok: 0,
  /** Something failed while running. */
  failure: 1,
  /** A bad flag, option or configuration value. */
  usage: 64,
  /** A file named by an option could not be read. */
  noInput: 66,
  /** No Passenger is running on this host. */
  unavailable: 69,
  /** Another run holds the lock; the next cron run will try again. */
  tempFail: 75,
  /** Not root nor the workers' owner: memory cannot be read. */
  noPermission: 77,
} as const;

/** An error the CLI turns into one line on stderr and an exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}
