/**
 * The rules of a mark's lifecycle, shared by every RecordStore: each step
 * is computed here as the next mark plus a guard (what the stored mark
 * must still look like), and a store only has to write the next mark if
 * the guard holds, atomically. The in-memory store checks the guard with
 * `guardHolds`; the DynamoDB store turns it into a condition expression.
 */
import type { Outcome } from '../../core/order.ts';
import type { GraceRecord } from '../../core/records.ts';
import { MarkRuleError } from './errors.ts';
import {
  isOpen,
  type MarkOperation,
  type MarkOutcome,
  type MarkRecord,
  type MarkState,
  type StoreOperation,
} from './record-store.ts';

export type MarkGuard =
  /**
   * No mark for the worker, or only a closed one that another order
   * made: a report read again after its mark closed (the command still
   * running, or a tick that read it late) must not open it again.
   */
  | { readonly kind: 'no-open-mark'; readonly orderId: string }
  /** The stored mark is the caller's: same order, same state. */
  | {
      readonly kind: 'unchanged';
      readonly state: MarkState;
      readonly orderId: string;
      /** Also require the stored deadline to be at or before this time. */
      readonly dueBy?: number;
    };

export interface MarkTransition {
  readonly operation: MarkOperation;
  readonly next: MarkRecord;
  readonly guard: MarkGuard;
}

const MAX_ORDER_ID_LENGTH = 128;
/** States from which the forced kill may be claimed. */
const FORCE_KILL_FROM: readonly MarkState[] = ['claimed', 'in-grace'];

export function claimGracefulTransition(
  record: GraceRecord,
  orderId: string,
  now: number,
): MarkTransition {
  const operation = 'claimGraceful';
  checkRecord(operation, record);
  checkOrderId(operation, orderId);
  checkTime(operation, 'now', now);
  const next: MarkRecord = {
    ...record,
    state: 'claimed',
    orderId,
    claimedAt: now,
  };
  return { operation, next, guard: { kind: 'no-open-mark', orderId } };
}

/** Only detached and signalled leave the worker on its way out in grace. */
export function recordOutcomeTransition(
  mark: MarkRecord,
  outcome: Outcome,
  now: number,
): MarkTransition {
  const operation = 'recordOutcome';
  checkTime(operation, 'now', now);
  checkTime(operation, 'outcome.at', outcome.at);
  requireState(operation, mark, ['claimed']);
  const base = { ...mark, gracefulOutcome: outcome };
  const next: MarkRecord =
    outcome.status === 'detached' || outcome.status === 'signalled'
      ? { ...base, state: 'in-grace' }
      : { ...base, state: 'closed', outcome, closedAt: now };
  return { operation, next, guard: unchanged(mark) };
}

/**
 *   claimedAt                                deadline
 *   |----------------- grace -----------------|
 *   claimForceKill refused (MarkRuleError)     allowed from here, once
 */
export function claimForceKillTransition(
  mark: MarkRecord,
  now: number,
): MarkTransition {
  const operation = 'claimForceKill';
  checkTime(operation, 'now', now);
  requireState(operation, mark, FORCE_KILL_FROM);
  if (now < mark.deadline) {
    throw new MarkRuleError(
      operation,
      `the deadline ${mark.deadline} of order ${mark.orderId} is ` +
        `${mark.deadline - now} ms after now (${now}); a forced kill may ` +
        'only be claimed at or after the deadline',
    );
  }
  const next: MarkRecord = {
    ...mark,
    state: 'force-kill-claimed',
    forceKillClaimedAt: now,
  };
  return { operation, next, guard: { ...unchanged(mark), dueBy: now } };
}

export function closeTransition(
  mark: MarkRecord,
  outcome: MarkOutcome,
  now: number,
): MarkTransition {
  const operation = 'close';
  checkTime(operation, 'now', now);
  checkTime(operation, 'outcome.at', outcome.at);
  if (!isOpen(mark)) {
    throw new MarkRuleError(
      operation,
      `order ${mark.orderId} is already closed (${mark.outcome?.status}); ` +
        'only an open mark can be closed',
    );
  }
  const next: MarkRecord = { ...mark, state: 'closed', outcome, closedAt: now };
  return { operation, next, guard: unchanged(mark) };
}

/** Whether a stored mark (undefined: none) lets a transition through. */
export function guardHolds(
  guard: MarkGuard,
  stored: MarkRecord | undefined,
): boolean {
  if (guard.kind === 'no-open-mark') {
    return (
      stored === undefined ||
      (!isOpen(stored) && stored.orderId !== guard.orderId)
    );
  }
  return (
    stored !== undefined &&
    stored.state === guard.state &&
    stored.orderId === guard.orderId &&
    (guard.dueBy === undefined || stored.deadline <= guard.dueBy)
  );
}

/** The guard in words, for RaceLostError. */
export function describeGuard(guard: MarkGuard): string {
  if (guard.kind === 'no-open-mark') {
    return `no open mark for the worker, and none closed of order ${guard.orderId}`;
  }
  const due =
    guard.dueBy === undefined ? '' : `, deadline at or before ${guard.dueBy}`;
  return `state ${guard.state}, order ${guard.orderId}${due}`;
}

function unchanged(
  mark: MarkRecord,
): Extract<MarkGuard, { kind: 'unchanged' }> {
  return { kind: 'unchanged', state: mark.state, orderId: mark.orderId };
}

function requireState(
  operation: MarkOperation,
  mark: MarkRecord,
  allowed: readonly MarkState[],
): void {
  if (allowed.includes(mark.state)) return;
  throw new MarkRuleError(
    operation,
    `order ${mark.orderId} is in state ${mark.state}; this step needs ` +
      `state ${allowed.join(' or ')}`,
  );
}

function checkRecord(operation: MarkOperation, record: GraceRecord): void {
  const { host, pid, startTime } = record.identity;
  if (typeof host !== 'string' || host.trim() === '') {
    fail(operation, 'identity.host', 'a non-empty string', host);
  }
  if (!Number.isInteger(pid) || pid <= 0) {
    fail(operation, 'identity.pid', 'a positive whole number', pid);
  }
  if (!Number.isInteger(startTime) || startTime < 0) {
    fail(operation, 'identity.startTime', 'a whole number >= 0', startTime);
  }
  if (typeof record.app !== 'string' || record.app === '') {
    fail(operation, 'app', 'a non-empty string', record.app);
  }
  checkTime(operation, 'markedAt', record.markedAt);
  checkTime(operation, 'deadline', record.deadline);
  if (record.deadline < record.markedAt) {
    fail(
      operation,
      'deadline',
      `at or after markedAt (${record.markedAt})`,
      record.deadline,
    );
  }
}

function checkOrderId(operation: MarkOperation, orderId: string): void {
  if (
    typeof orderId !== 'string' ||
    orderId.trim() === '' ||
    orderId.length > MAX_ORDER_ID_LENGTH
  ) {
    fail(
      operation,
      'orderId',
      `a non-empty string of at most ${MAX_ORDER_ID_LENGTH} characters`,
      orderId,
    );
  }
}

/** Epoch ms: whole and not negative. */
export function checkTime(
  operation: StoreOperation,
  field: string,
  value: number,
): void {
  if (!Number.isInteger(value) || value < 0) {
    fail(operation, field, 'a whole number of epoch ms >= 0', value);
  }
}

function fail(
  operation: StoreOperation,
  field: string,
  rule: string,
  value: unknown,
): never {
  throw new MarkRuleError(
    operation,
    `${field} must be ${rule}, got ${JSON.stringify(value) ?? String(value)}`,
  );
}
