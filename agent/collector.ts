/**
 * One look at a host: its Passenger app workers, with identity, app and
 * memory, and the other Passenger and web server processes beside them.
 *
 * This runs every few seconds, so it must stay far cheaper than the
 * ~250 ms of CPU that passenger-memory-stats costs: /proc is read by
 * proc-scan.ts (a few ms), and the only command run is passenger-status,
 * while /proc is being read. Only when /proc will not show a worker's
 * memory (the agent is not root) does it fall back on
 * passenger-memory-stats.
 *
 * A process may exit at any moment during a pass: it then simply drops out
 * of the sample. Anything else that could not be read becomes one sentence
 * in `problems`, and its worker has no figure rather than a guessed one.
 */
import type { AppRef, Observation, Worker } from '../core/worker.ts';
import type { PassengerTools, ProcSource } from './host.ts';
import type { MemoryCache } from './memory-cache.ts';
import { memoryFromStats } from './memory-fallback.ts';
import {
  appOfTitled,
  appOfUntitled,
  poolFactsOf,
  readPool,
  UNREAD_POOL,
  type PoolReading,
} from './pool-merge.ts';
import {
  labelOf,
  scanProc,
  type PassengerProcess,
  type SeenWorker,
} from './proc-scan.ts';

export type { PassengerProcess } from './proc-scan.ts';

export interface CollectorOptions {
  readonly host: string;
  readonly proc: ProcSource;
  readonly tools: PassengerTools;
  /** Epoch ms. */
  readonly now: () => number;
  /** Run passenger-status. @default true */
  readonly readPool?: boolean;
  /**
   * Keeps memory figures between samples while they cannot have changed;
   * give the same one to every sample of a long-running process.
   */
  readonly memoryCache?: MemoryCache;
}

export interface Sample {
  readonly observation: Observation;
  /** Preloaders, core, watchdog, web servers...: never to be touched. */
  readonly others: PassengerProcess[];
  /** Where the memory figures came from. */
  readonly source: 'proc' | 'memory-stats';
  /** One sentence each: what could not be read and why. */
  readonly problems: string[];
  readonly elapsedMs: number;
}

export async function collectSample(
  options: CollectorOptions,
): Promise<Sample> {
  const { host, proc, tools, now } = options;
  const at = now();
  const problems: string[] = [];

  // listing throws only when /proc itself is unreadable: nothing to do
  const pids = proc.listPids();
  // passenger-status takes 100-200 ms; let it run while /proc is read
  const poolRead = options.readPool === false ? undefined : readPool(tools);
  const { seen, others } = scanProc(
    proc,
    pids,
    problems,
    options.memoryCache && { memory: options.memoryCache, now: at },
  );
  const pool = poolRead === undefined ? undefined : await poolRead;
  problems.push(...(pool?.problems ?? []));

  // only when /proc refused: the fallback costs a passenger-memory-stats run
  let source: Sample['source'] = 'proc';
  let statsVersion: string | undefined;
  const denied = seen.filter((worker) => worker.memoryDenied);
  if (denied.length > 0) {
    const fallback = await memoryFromStats(
      proc,
      tools,
      denied.map(({ pid, title, stat }) => ({
        pid,
        startTime: stat.startTime,
        label: labelOf(pid, title),
      })),
    );
    problems.push(...fallback.problems);
    for (const worker of denied) {
      const figures = fallback.figures.get(worker.pid);
      if (figures === undefined) continue;
      worker.memory = figures;
      if (figures.privateDirtyKb !== null) source = 'memory-stats';
    }
    statsVersion = fallback.passengerVersion;
  }

  const passengerVersion = pool?.passengerVersion ?? statsVersion;
  const startOf = startTimeConverter(proc, problems);
  const workers: Worker[] = [];
  for (const worker of seen) {
    const built = toWorker(worker, host, pool, problems);
    if (built === undefined) continue;
    const startedAtMs = startOf(worker.stat.startTime);
    workers.push({
      ...built,
      ...(passengerVersion === undefined ? {} : { passengerVersion }),
      ...(startedAtMs === undefined ? {} : { startedAtMs }),
    });
  }

  const observation: Observation = {
    host,
    at,
    workers,
    poolKnown: pool?.complete ?? false,
    ...(passengerVersion === undefined ? {} : { passengerVersion }),
  };
  return { observation, others, source, problems, elapsedMs: now() - at };
}

/** Undefined when the worker's app cannot be told. */
function toWorker(
  seen: SeenWorker,
  host: string,
  pool: PoolReading | undefined,
  problems: string[],
): Worker | undefined {
  const { pid, titleClass, stat } = seen;
  const reading = pool ?? UNREAD_POOL;
  const app: AppRef | undefined =
    titleClass.group === undefined
      ? appOfUntitled(pid, seen.cwd, reading)
      : appOfTitled(pid, titleClass.group, reading);
  if (app === undefined) {
    problems.push(
      `${labelOf(pid, seen.title)}: its app is unknown (no group in its ` +
        "title, not in Passenger's pool, working directory unreadable); " +
        'left out',
    );
    return undefined;
  }
  return {
    identity: { host, pid, startTime: stat.startTime },
    app,
    kind: titleClass.kind,
    memory: seen.memory,
    state: stat.state,
    era: titleClass.era,
    ...(seen.uid === undefined ? {} : { uid: seen.uid }),
    ...(pool === undefined ? {} : poolFactsOf(pid, pool)),
  };
}

/**
 * Start times are clock ticks since boot; ages need epoch ms. Without a
 * boot time every age stays unknown, and one sentence says so.
 */
function startTimeConverter(
  proc: ProcSource,
  problems: string[],
): (startTime: number) => number | undefined {
  let bootSeconds: number;
  try {
    bootSeconds = proc.bootTime();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    problems.push(`worker ages are unknown: ${message}`);
    return () => undefined;
  }
  return (startTime) =>
    Math.round((bootSeconds + startTime / proc.clockTicks) * 1000);
}
