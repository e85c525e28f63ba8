/**
 * The worker model shared by every part of passenger-fleet.
 *
 * A pid alone names nothing for long: the kernel hands it to the next
 * process once the old one exits. So a worker is named by its host, its
 * pid and its start time (field 22 of /proc/<pid>/stat, in clock ticks
 * since boot); two observations are the same process only when all three
 * agree.
 */

import type { TitleEra } from './classify.ts';

/** What kind of program a Passenger worker runs. */
export type WorkerKind = 'ruby' | 'node' | 'python' | 'meteor' | 'unknown';

/**
 * The part a process plays. Only `app-worker` may ever be acted on; every
 * other role is listed so that a refusal can say what the process was.
 */
export type ProcessRole =
  | 'app-worker'
  | 'preloader'
  | 'core'
  | 'watchdog'
  | 'agent'
  | 'spawner'
  | 'web-server'
  | 'other';

export interface WorkerIdentity {
  readonly host: string;
  readonly pid: number;
  /** Clock ticks since boot; field 22 of /proc/<pid>/stat. */
  readonly startTime: number;
}

export interface AppRef {
  /**
   * Passenger's app group name: the text after `: ` in a worker's title.
   * Usually the app root, sometimes a custom PassengerAppGroupName.
   */
  readonly group: string;
  /** The app root, where known (passenger-status, or the process cwd). */
  readonly root?: string;
}

/** Memory figures in kB; null where the kernel would not tell us. */
export interface MemoryFigures {
  readonly privateDirtyKb: number | null;
  readonly swapKb: number | null;
  readonly rssKb: number | null;
}

export interface Worker {
  readonly identity: WorkerIdentity;
  readonly app: AppRef;
  readonly kind: WorkerKind;
  /** e.g. "6.0.17", where passenger-status or the title era tells us. */
  readonly passengerVersion?: string;
  readonly memory: MemoryFigures;
  /** Owner uid, where /proc told us. */
  readonly uid?: number;
  /** Single-letter state from /proc/<pid>/stat (R, S, D, Z, T...). */
  readonly state?: string;
  /**
   * Whether Passenger's pool lists this pid right now. Undefined when the
   * pool could not be read: then nothing can be called an orphan.
   */
  readonly inPool?: boolean;
  /** Passenger has detached it and it is finishing its last requests. */
  readonly detached?: boolean;
  /** Requests it is serving now, from passenger-status. */
  readonly sessions?: number;
  /** Epoch ms the process started, from its start time and boot time. */
  readonly startedAtMs?: number;
  /** Title era, which dates the Passenger that spawned it. */
  readonly era?: TitleEra;
}

/** One look at one host: its app workers and whether the pool answered. */
export interface Observation {
  readonly host: string;
  /** Epoch ms of the sample. */
  readonly at: number;
  /** App workers only; preloaders, core and the rest are never here. */
  readonly workers: readonly Worker[];
  /** passenger-status answered, so `inPool` on each worker is known. */
  readonly poolKnown: boolean;
  readonly passengerVersion?: string;
}

export function identityKey(id: WorkerIdentity): string {
  return `${id.host}/${id.pid}/${id.startTime}`;
}

export function sameProcess(a: WorkerIdentity, b: WorkerIdentity): boolean {
  return a.host === b.host && a.pid === b.pid && a.startTime === b.startTime;
}

export const KB_PER_MB = 1024;

export function kbToMb(kb: number): number {
  return kb / KB_PER_MB;
}

/** MB rounded to one decimal, the way passenger-memory-stats prints it. */
export function kbToMbRounded(kb: number): number {
  return Math.round((kb / KB_PER_MB) * 10) / 10;
}
