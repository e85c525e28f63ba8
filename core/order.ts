/**
 * An order is what a decision asks a host to do to one exact process, and
 * an outcome is what the host says it did. The host never trusts an
 * order: it re-checks the process right before every signal.
 */
import type { GracefulAction } from './actions.ts';
import type { Measure } from './measure.ts';
import type { WorkerIdentity } from './worker.ts';

export const ORDER_ACTIONS = ['graceful', 'force-kill', 'orphan-term'] as const;
export type OrderAction = (typeof ORDER_ACTIONS)[number];

export interface Order {
  readonly identity: WorkerIdentity;
  /** The app group the worker belonged to when it was observed. */
  readonly app: string;
  readonly action: OrderAction;
  /** For `graceful`: how. */
  readonly graceful?: GracefulAction;
  /**
   * For `graceful`: the worker must still be over this many kB by this
   * measure, or the order is refused (it may have shrunk meanwhile).
   */
  readonly limitKb?: number;
  readonly measure?: Measure;
  /** Owner uid seen when observed; the process must still have it. */
  readonly uid?: number;
  /** Epoch ms after which the order must not be carried out. */
  readonly notAfter?: number;
}

export const OUTCOME_STATUSES = [
  'detached',
  'signalled',
  'killed',
  'gone',
  'refused',
  'failed',
] as const;
export type OutcomeStatus = (typeof OUTCOME_STATUSES)[number];

export interface Outcome {
  readonly status: OutcomeStatus;
  /** One sentence: why refused or failed, or what was done. */
  readonly reason: string;
  /** Epoch ms when the host finished the step. */
  readonly at: number;
}
