/**
 * The controller's record of one worker's mark, and the port it is kept
 * behind (DynamoDB in Lambda, memory in tests and the simulator).
 *
 * Controller ticks run every minute and may overlap, so every step of a
 * mark is a claim: it is written only if the stored mark is still in the
 * state the caller read, and a tick that loses gets a RaceLostError and
 * acts on nothing.
 *
 *   claimGraceful ──> claimed ──recordOutcome──> in-grace
 *                        │   (detached, signalled)   │
 *                        │                           │ claimForceKill
 *                        │ claimForceKill            │ (deadline <= now)
 *                        └──────────────┐            v
 *                                       └──> force-kill-claimed
 *   close, from any open state ──> closed    (recordOutcome with any other
 *                                             status closes at once)
 *
 * A closed mark may be replaced by a new claim for the same worker (it
 * came back under its limit, then grew again).
 */
import type { AuditEntry as CoreAuditEntry } from '../../core/audit.ts';
import type { Outcome, OutcomeStatus } from '../../core/order.ts';
import type { GraceRecord } from '../../core/records.ts';
import type {
  NewOrder,
  OrderEnding,
  OrderOperation,
  OrderRecord,
} from './order-records.ts';

export const MARK_STATES = [
  'claimed',
  'in-grace',
  'force-kill-claimed',
  'closed',
] as const;
export type MarkState = (typeof MARK_STATES)[number];

/** How a mark ended: what the host reported, or unmarked by the policy. */
export type MarkEnd = OutcomeStatus | 'unmarked';

export interface MarkOutcome {
  readonly status: MarkEnd;
  /** One sentence: what happened, or why not. */
  readonly reason: string;
  /** Epoch ms the host finished the step, or the policy decided. */
  readonly at: number;
}

/** A grace record as the controller keeps it: the promise plus its steps. */
export interface MarkRecord extends GraceRecord {
  readonly state: MarkState;
  /**
   * The controller's id for the graceful order. It names this mark among
   * later ones of the same worker: every step is checked against it.
   */
  readonly orderId: string;
  /** Epoch ms the graceful step was claimed. */
  readonly claimedAt: number;
  /** What the host reported for the graceful step. */
  readonly gracefulOutcome?: Outcome;
  readonly forceKillClaimedAt?: number;
  /** How the mark ended; set once closed. */
  readonly outcome?: MarkOutcome;
  readonly closedAt?: number;
}

/** One line of the audit trail, with the controller's order id. */
export interface AuditEntry extends CoreAuditEntry<MarkEnd> {
  readonly orderId?: string;
}

/** The steps a mark can take, named as in error messages. */
export type MarkOperation =
  'claimGraceful' | 'recordOutcome' | 'claimForceKill' | 'close';

/** Every method of the port, for errors that name the call. */
export type StoreOperation =
  | MarkOperation
  | OrderOperation
  | 'openRecords'
  | 'dueRecords'
  | 'openOrders'
  | 'appendAudit'
  | 'recentAudit';

/**
 * Each method that changes a mark returns the mark as now stored; pass
 * that one to the next step. A lost race throws RaceLostError; a call
 * that breaks a rule (not yet due, already closed, bad input) throws
 * MarkRuleError before anything is written; anything else the backing
 * service throws is rethrown as it came.
 */
export interface RecordStore {
  /**
   * Opens a mark for the record's worker, only if it has no open mark.
   * The deadline comes from the record; the claim is its own time.
   */
  claimGraceful(
    record: GraceRecord,
    orderId: string,
    now: number,
  ): Promise<MarkRecord>;

  /**
   * Stores the host's report on the graceful step of a `claimed` mark:
   * detached or signalled leaves it in grace; any other status closes it.
   */
  recordOutcome(
    mark: MarkRecord,
    outcome: Outcome,
    now: number,
  ): Promise<MarkRecord>;

  /**
   * Claims the forced kill of a mark whose deadline has come, from the
   * state the caller read it in (`claimed` or `in-grace`), at most once.
   */
  claimForceKill(mark: MarkRecord, now: number): Promise<MarkRecord>;

  /** Ends an open mark with its outcome. */
  close(
    mark: MarkRecord,
    outcome: MarkOutcome,
    now: number,
  ): Promise<MarkRecord>;

  /** Every open mark, earliest deadline first. */
  openRecords(): Promise<MarkRecord[]>;

  /**
   * Open marks whose deadline is at or before `now`, earliest first, in
   * every open state: a `force-kill-claimed` one is still waiting for the
   * host's report, and the caller decides what to do about it.
   */
  dueRecords(now: number): Promise<MarkRecord[]>;

  /**
   * Opens an order in its slot (order-records.ts), only if the slot has
   * no open order: one pick per host-app, one forced kill per worker.
   * Loses with OrderRaceLostError.
   */
  claimOrder(order: NewOrder, now: number): Promise<OrderRecord>;

  /** A claimed order went out as this SSM command. */
  orderSent(
    order: OrderRecord,
    commandId: string,
    now: number,
  ): Promise<OrderRecord>;

  /** A claimed order that could not be sent, claimed again to retry. */
  reclaimOrder(
    order: OrderRecord,
    notAfter: number,
    now: number,
  ): Promise<OrderRecord>;

  /** Ends an open order: its command ended, or it never went out. */
  finishOrder(
    order: OrderRecord,
    ending: OrderEnding,
    now: number,
  ): Promise<OrderRecord>;

  /** Every order not yet done, oldest notAfter first. */
  openOrders(): Promise<OrderRecord[]>;

  /** Adds entries; throws AuditWriteError naming any it could not write. */
  appendAudit(entries: readonly AuditEntry[]): Promise<void>;

  /**
   * The newest `limit` entries, newest first. Entries with the same `at`
   * come back in no promised order.
   */
  recentAudit(limit: number): Promise<AuditEntry[]>;
}

export function isOpen(mark: Pick<MarkRecord, 'state'>): boolean {
  return mark.state !== 'closed';
}
