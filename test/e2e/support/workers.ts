/**
 * Steps the e2e scenarios share: make a worker bloated (idle, busy or
 * frozen), find which pid it is, wait for the pool to settle and for a
 * process to vanish. Every wait is bounded.
 */
import type { AppName, Testbed } from '../testbed.ts';
import { runChecked } from './command.ts';
import { isRunning, readPrivateDirtyKb, readStat } from './procfs.ts';
import { waitFor } from './wait.ts';

export interface Target {
  readonly pid: number;
  readonly startTime: number;
}

/** A request left running in the background, and how to end it. */
export interface HeldRequest {
  readonly target: Target;
  /** The reply, or the error the request ended with. */
  readonly settled: Promise<
    | { readonly status: number; readonly body: string; readonly at: number }
    | { readonly error: Error; readonly at: number }
  >;
  abort(): void;
}

const KB_PER_MB = 1024;

/** Makes the next idle worker hoard `mb` MB and returns which one it is. */
export async function bloatIdleWorker(
  testbed: Testbed,
  mb: number,
  app: AppName = 'fleetapp',
): Promise<Target> {
  const reply = await testbed.request(`/bloat?mb=${mb}`, {
    app,
    timeoutMs: 30_000,
  });
  if (reply.status !== 200) {
    throw new Error(`/bloat?mb=${mb} answered ${reply.status}: ${reply.body}`);
  }
  const pid = Number(reply.body.trim());
  return targetOf(pid, mb);
}

/**
 * Sends a request that keeps its worker busy (or frozen) and returns once
 * the worker holding it is known: the one Passenger counts a session for,
 * whose hoard has reached `mb`.
 */
export async function holdRequest(
  testbed: Testbed,
  path: string,
  mb: number,
  app: AppName = 'fleetapp',
): Promise<HeldRequest> {
  const before = new Set(
    (await testbed.pool(app)).filter((p) => p.sessions > 0).map((p) => p.pid),
  );
  const controller = new AbortController();
  const settled = testbed
    .request(path, { app, timeoutMs: 120_000, signal: controller.signal })
    .then(
      (reply) => ({ ...reply, at: Date.now() }),
      (error: Error) => ({ error, at: Date.now() }),
    );
  const pid = await waitFor(
    `a ${app} worker to take ${path}`,
    async () => {
      const busy = (await testbed.pool(app)).find(
        (p) => p.sessions > 0 && !before.has(p.pid),
      );
      const kb = busy === undefined ? undefined : readPrivateDirtyKb(busy.pid);
      return kb !== undefined && kb >= mb * KB_PER_MB ? busy?.pid : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
  return {
    target: targetOf(pid, mb),
    settled,
    abort: () => controller.abort(),
  };
}

function targetOf(pid: number, mb: number): Target {
  const facts = readStat(pid);
  if (!Number.isInteger(pid) || facts === undefined) {
    throw new Error(`worker ${pid} that took the request is not running`);
  }
  const kb = readPrivateDirtyKb(pid) ?? 0;
  if (kb < mb * KB_PER_MB) {
    throw new Error(`worker ${pid} holds ${kb} kB, expected ${mb} MB or more`);
  }
  return { pid, startTime: facts.startTime };
}

/**
 * Waits until the app has exactly `count` workers, all serving, and
 * nothing detached or shutting down is left in its pool.
 */
export async function waitForSteadyPool(
  testbed: Testbed,
  app: AppName,
  count: number,
  timeoutMs = 30_000,
): Promise<number[]> {
  let last = '';
  return waitFor(
    `${app} to have ${count} serving workers and nothing else`,
    async () => {
      const pool = await testbed.pool(app);
      last = pool
        .map((p) => `${p.pid} ${p.lifeStatus}/${p.enabled}`)
        .join(', ');
      const steady =
        pool.length === count &&
        pool.every(
          (p) =>
            p.lifeStatus === 'ALIVE' &&
            p.enabled === 'ENABLED' &&
            isRunning(p.pid),
        );
      return steady ? pool.map((p) => p.pid).sort((a, b) => a - b) : undefined;
    },
    { timeoutMs, intervalMs: 250 },
    () => last,
  );
}

/**
 * Polls /proc every `intervalMs` until the process is gone (or a zombie,
 * or its pid reused) and returns when that was first seen.
 */
export async function watchUntilGone(
  target: Target,
  timeoutMs: number,
  intervalMs = 50,
): Promise<number> {
  return waitFor(
    `pid ${target.pid} to exit`,
    () => (isRunning(target.pid, target.startTime) ? undefined : Date.now()),
    { timeoutMs, intervalMs },
  );
}

/** Detaches a worker with Passenger's own tool, to clean up after a test. */
export async function detachWorker(target: Target): Promise<void> {
  if (!isRunning(target.pid, target.startTime)) return;
  await runChecked('passenger-config', ['detach-process', String(target.pid)], {
    timeoutMs: 15_000,
  });
}

/**
 * Waits until the workers' Private_Dirty holds still between two reads
 * `intervalMs` apart: a worker just spawned or just served may still be
 * growing or collecting garbage for a moment.
 */
export async function waitForQuietMemory(
  pids: readonly number[],
  timeoutMs = 15_000,
  intervalMs = 700,
): Promise<void> {
  let previous = '';
  await waitFor(
    `the memory of pids ${pids.join(', ')} to hold still`,
    () => {
      const current = pids.map((pid) => readPrivateDirtyKb(pid)).join(',');
      const quiet = current === previous;
      previous = current;
      return quiet ? true : undefined;
    },
    { timeoutMs, intervalMs },
    () => previous,
  );
}
