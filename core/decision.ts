/**
 * What the policy decides, one entry per worker it has something to say
 * about. Each carries a reason in plain words; the enforcer and the
 * controller log one line per decision with it.
 */
import type { GracefulAction } from './actions.ts';
import type { GraceRecord } from './records.ts';
import type { Worker } from './worker.ts';

export type SkipCause =
  | 'dry-run'
  | 'budget'
  | 'floor'
  | 'not-sustained'
  | 'no-graceful-action'
  | 'orphan-unconfirmed'
  | 'orphan-too-young';

interface Base {
  readonly reason: string;
}

/** Send the graceful action and open a grace record. */
export interface GracefulDecision extends Base {
  readonly type: 'graceful';
  readonly worker: Worker;
  readonly record: GraceRecord;
}

/** TERM an orphan that Passenger no longer knows, and open a record. */
export interface OrphanDecision extends Base {
  readonly type: 'orphan';
  readonly worker: Worker;
  readonly record: GraceRecord;
}

/** The deadline has come: SIGKILL, if the host still finds the process. */
export interface ForceKillDecision extends Base {
  readonly type: 'force-kill';
  readonly record: GraceRecord;
  /** Absent when the host was not observed this time. */
  readonly worker?: Worker;
}

/** The marked worker is no longer there: close its record. */
export interface GoneDecision extends Base {
  readonly type: 'gone';
  readonly record: GraceRecord;
}

/** The marked worker came back under its limit and the option says so. */
export interface UnmarkDecision extends Base {
  readonly type: 'unmark';
  readonly record: GraceRecord;
  readonly worker: Worker;
}

/** A worker that would be acted on, and why it is not, this time. */
export interface SkipDecision extends Base {
  readonly type: 'skip';
  readonly cause: SkipCause;
  readonly worker: Worker;
  readonly wouldBe: 'graceful' | 'orphan' | 'force-kill';
  readonly limitKb?: number;
  readonly memoryKb?: number;
  readonly action?: GracefulAction;
}

export type Decision =
  | GracefulDecision
  | OrphanDecision
  | ForceKillDecision
  | GoneDecision
  | UnmarkDecision
  | SkipDecision;
