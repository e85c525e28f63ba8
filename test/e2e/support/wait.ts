/**
 * The one way the e2e tests and the bench wait for something: a check run
 * every `intervalMs`, bounded both in time and in the number of tries, so
 * that no loop can spin for ever on a host that never settles.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly intervalMs: number;
}

/**
 * Calls `check` until it returns something other than undefined and
 * returns that; throws naming `what` when the time runs out. `describe`
 * says what was seen last, for the error.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  options: WaitOptions,
  describe?: () => string | Promise<string>,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const maxTries = Math.ceil(options.timeoutMs / options.intervalMs) + 1;
  for (let attempt = 0; attempt < maxTries; attempt++) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) break;
    await sleep(Math.min(options.intervalMs, deadline - Date.now()));
  }
  const lastSeen =
    describe === undefined ? '' : `; last seen: ${await describe()}`;
  throw new Error(
    `timed out after ${options.timeoutMs} ms waiting for ${what}${lastSeen}`,
  );
}

export { sleep };
