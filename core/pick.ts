/**
 * Which workers a host acts on for a PICK order.
 *
 * The controller sees only per-app figures (no pid travels in a metric),
 * so it cannot name a worker: it says "for app A, up to N workers over L
 * kB". The host answers from its own sample: the biggest first, and only
 * workers a graceful step can help. Pure: the caller hands in the sample.
 *
 * Left out, whatever their size:
 *   - a worker whose figure is unknown (nothing proves it is over);
 *   - one Passenger is already letting go (detached);
 *   - one the pool does not list (an orphan is not restarted gracefully:
 *     Passenger would not replace it, and detach cannot reach it);
 *   - one with unknown pool membership, unless the step is a signal:
 *     detach acts through the pool, so it needs the pool to list the pid;
 *   - one already marked (a grace already runs for that identity).
 */
import { appMatches } from './app.ts';
import { measuredKb, type Measure } from './measure.ts';
import {
  identityKey,
  type Observation,
  type Worker,
  type WorkerIdentity,
} from './worker.ts';

export interface PickOptions {
  /** Identity keys (core/worker.ts identityKey) already in grace. */
  readonly marked?: ReadonlySet<string>;
  /**
   * Accept workers whose pool membership is unknown. Only for a signal
   * step; never for detach. @default false
   */
  readonly allowUnknownPool?: boolean;
}

/** A worker the pick chose, with the figure it was chosen on. */
export interface PickedWorker {
  readonly worker: Worker;
  readonly memoryKb: number;
}

/**
 * Up to `count` workers of `app` over `limitKb` by `measure`, biggest
 * first; ties go to the older process, which has had its chance.
 * `app` is any name appMatches takes: group, root, deploy dir or short
 * name (the controller knows an app by its metric dimension, the short
 * name).
 */
export function pickVictims(
  observation: Observation,
  app: string,
  limitKb: number,
  measure: Measure,
  count: number,
  options: PickOptions = {},
): PickedWorker[] {
  if (!Number.isInteger(count) || count < 1) return [];
  const marked = options.marked ?? new Set<string>();
  const candidates: PickedWorker[] = [];
  for (const worker of observation.workers) {
    if (!appMatches(app, worker.app)) continue;
    if (worker.detached === true) continue;
    if (worker.inPool === false) continue;
    if (worker.inPool === undefined && options.allowUnknownPool !== true) {
      continue;
    }
    if (marked.has(identityKey(worker.identity))) continue;
    const memoryKb = measuredKb(worker.memory, measure);
    if (memoryKb === null || memoryKb <= limitKb) continue;
    candidates.push({ worker, memoryKb });
  }
  return candidates.sort(biggestFirst).slice(0, count);
}

export interface OrphanPickOptions {
  /** Youngest a worker may be, in seconds, to be called an orphan. */
  readonly minAgeSeconds: number;
  /** Identity keys already in grace. */
  readonly marked?: ReadonlySet<string>;
}

/**
 * Up to `count` orphans of `app`, confirmed by two samples: both read the
 * whole pool, neither lists the worker, the same identity is in both, and
 * the samples lie at least `confirmSeconds` apart (Passenger lags up to
 * 5 s behind a spawn or a death). A worker of unknown age is never one.
 * Biggest first, like pickVictims.
 */
export function pickOrphans(
  first: Observation,
  second: Observation,
  app: string,
  count: number,
  confirmSeconds: number,
  options: OrphanPickOptions,
): Worker[] {
  if (!Number.isInteger(count) || count < 1) return [];
  if (!first.poolKnown || !second.poolKnown) return [];
  if (second.at - first.at < confirmSeconds * 1000) return [];
  const marked = options.marked ?? new Set<string>();
  const missingBefore = new Set(
    first.workers
      .filter((worker) => worker.inPool === false)
      .map((worker) => identityKey(worker.identity)),
  );
  const orphans: PickedWorker[] = [];
  for (const worker of second.workers) {
    const key = identityKey(worker.identity);
    if (worker.inPool !== false || !missingBefore.has(key)) continue;
    if (!appMatches(app, worker.app) || marked.has(key)) continue;
    const age =
      worker.startedAtMs === undefined
        ? undefined
        : second.at - worker.startedAtMs;
    if (age === undefined || age < options.minAgeSeconds * 1000) continue;
    orphans.push({
      worker,
      memoryKb: worker.memory.privateDirtyKb ?? 0,
    });
  }
  return orphans
    .sort(biggestFirst)
    .slice(0, count)
    .map(({ worker }) => worker);
}

function biggestFirst(a: PickedWorker, b: PickedWorker): number {
  if (a.memoryKb !== b.memoryKb) return b.memoryKb - a.memoryKb;
  return olderFirst(a.worker.identity, b.worker.identity);
}

function olderFirst(a: WorkerIdentity, b: WorkerIdentity): number {
  return a.startTime - b.startTime || a.pid - b.pid;
}
