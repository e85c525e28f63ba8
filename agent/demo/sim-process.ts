/**
 * The processes of the simulated host as it sees them, and the judge of
 * their deaths: a never-touch process (preloader, core, watchdog) that
 * dies, or a worker that dies while within its limit, is a wrong kill.
 */
import type { MemoryFigures } from '../../core/worker.ts';
import type { ScenarioApp, WorkerPart } from './scenario.ts';

/** The Passenger the simulated host pretends to run. */
export const SIMULATED_PASSENGER_VERSION = '6.0.17';

export type SimRole = 'worker' | 'preloader' | 'core' | 'watchdog';

export interface SimExit {
  /** Epoch ms the host saw the exit. */
  readonly at: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One child of the simulated host, as the host last saw it. */
export interface SimProcess {
  readonly pid: number;
  readonly title: string;
  readonly role: SimRole;
  /** The app's short name, for workers and the preloader. */
  readonly app?: string;
  readonly part?: WorkerPart | 'replacement';
  readonly limitMb?: number;
  /** Epoch ms. */
  readonly startedAt: number;
  /** Latest reading by the scenario's measure; null before the first. */
  readonly mb: number | null;
  /** The latest figures behind `mb`, in kB. */
  readonly memory?: MemoryFigures;
  /** Epoch ms Passenger was asked to detach it. */
  readonly detachedAt?: number;
  /** The reading taken at the moment of the detach. */
  readonly mbAtDetach?: number | null;
  /** Epoch ms its current request ends; in the past when idle. */
  readonly busyUntil: number;
  readonly exit?: SimExit;
  /** The pid of the worker this one replaced, or of its replacement. */
  readonly replaces?: number;
  readonly replacedBy?: number;
}

export interface WrongKill {
  readonly process: SimProcess;
  readonly reason: string;
}

/** Passenger's group name for an app: its root and environment. */
export function groupNameOf(app: ScenarioApp): string {
  return `${app.root} (production)`;
}

export function workerTitle(app: ScenarioApp): string {
  return `Passenger RubyApp: ${groupNameOf(app)}`;
}

/**
 * Why a death the host saw was a wrong kill, or undefined when it was
 * deserved: only a worker over its limit (when detached, and when last
 * read) may die while the host runs.
 */
export function wrongKillReason(sim: SimProcess): string | undefined {
  const how = describeExit(sim.exit);
  if (sim.role !== 'worker') {
    return `the ${sim.role} must never be touched, yet it ${how}`;
  }
  if (sim.limitMb === undefined) return `a worker with no limit ${how}`;
  const readings =
    sim.detachedAt === undefined ? [sim.mb] : [sim.mbAtDetach ?? null, sim.mb];
  for (const mb of readings) {
    if (mb === null) return `its memory was never read, yet it ${how}`;
    if (mb <= sim.limitMb) {
      return (
        `it was at ${mb} MB, within its ${sim.limitMb} MB limit, ` +
        `yet it ${how}`
      );
    }
  }
  return undefined;
}

export function describeExit(exit: SimExit | undefined): string {
  if (exit === undefined) return 'is still running';
  if (exit.signal !== null) return `was killed by ${exit.signal}`;
  return `exited with code ${exit.code}`;
}
