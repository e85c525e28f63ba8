/**
 * One test bed per host: the test bed takes over the machine's Apache, so
 * a second one (the bench started while the e2e tests run, say) would
 * pull it from under the first. A lock file holds the owner's pid; a
 * second test bed waits, bounded, for the first to finish, and a lock
 * whose owner has exited is cleared.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';

import { isRunning } from './procfs.ts';
import { waitFor } from './wait.ts';

const LOCK_FILE = '/run/passenger-fleet-testbed.lock';
const DEFAULT_WAIT_MS = 120_000;

export async function acquireTestbedLock(
  waitMs = DEFAULT_WAIT_MS,
): Promise<void> {
  let owner: number | undefined;
  await waitFor(
    `the test bed of another process to finish (lock ${LOCK_FILE})`,
    async () => {
      owner = await tryLock();
      return owner === undefined ? true : undefined;
    },
    { timeoutMs: waitMs, intervalMs: 1_000 },
    () => `held by pid ${owner}`,
  );
}

/** Undefined when we hold the lock now; else the live owner's pid. */
async function tryLock(): Promise<number | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(LOCK_FILE, `${process.pid}\n`, { flag: 'wx' });
      return undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const text = await readFile(LOCK_FILE, 'utf8').catch(() => '');
    const owner = Number(text.trim());
    if (owner === process.pid) return undefined;
    if (Number.isInteger(owner) && owner > 0 && isRunning(owner)) return owner;
    // the owner has exited without releasing it: clear it and try again
    await unlink(LOCK_FILE).catch(() => undefined);
  }
  // another process took the cleared lock first: wait for it like any owner
  const text = await readFile(LOCK_FILE, 'utf8').catch(() => '');
  return Number(text.trim()) || -1;
}

export async function releaseTestbedLock(): Promise<void> {
  const owner = await readFile(LOCK_FILE, 'utf8').catch(() => '');
  if (Number(owner.trim()) === process.pid) {
    await unlink(LOCK_FILE).catch(() => undefined);
  }
}
