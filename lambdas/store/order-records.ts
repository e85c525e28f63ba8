/**
 * The controller's record of one order it sends to a host, and the rules
 * of its lifecycle, shared by every RecordStore like mark-transitions.ts.
 *
 * An order sits in a slot: one per app and host for picks, so that two
 * overlapping ticks never both send a pick to the same host-app, and one
 * per worker for its forced kill. A slot holds at most one open order.
 *
 *   claimOrder ──> claimed ──orderSent──> sent ──finishOrder──> done
 *                    │  ^                                        ^
 *                    │  └─ reclaimOrder (a kill not found; again)  │
 *                    └────────────── finishOrder ─────────────────┘
 *
 * Every step is written only if the stored order is still the one the
 * caller read (same state, order id and attempt): a tick that loses
 * gets a RaceLostError-like OrderRaceLostError and sends nothing.
 */
import type { Measure } from '../../core/measure.ts';
import type { WireGraceful } from '../../core/order-items.ts';
import type { WorkerIdentity } from '../../core/worker.ts';
import { MarkRuleError, RecordStoreError } from './errors.ts';
import { checkTime } from './mark-transitions.ts';

export const ORDER_STATES = ['claimed', 'sent', 'done'] as const;
export type OrderState = (typeof ORDER_STATES)[number];
export const ORDER_KINDS = ['pick', 'force-kill'] as const;
export type OrderKind = (typeof ORDER_KINDS)[number];

/** What a pick asks of the host, kept to read its report back. */
export interface PickRequest {
  /** Workers over the limit to act on; 0 when only orphans are asked. */
  readonly count: number;
  readonly graceful?: WireGraceful;
  readonly graceSeconds?: number;
  readonly limitKb?: number;
  /** Orphans to confirm and TERM; 0 or absent for none. */
  readonly orphanCount?: number;
  readonly orphanGraceSeconds?: number;
}

export interface NewOrder {
  readonly host: string;
  /** The app's short name. */
  readonly app: string;
  readonly kind: OrderKind;
  readonly orderId: string;
  readonly measure: Measure;
  /** Epoch ms after which the host must refuse the order. */
  readonly notAfter: number;
  /** For a pick. */
  readonly pick?: PickRequest;
  /** For a forced kill: the exact worker, and its owner when known. */
  readonly identity?: WorkerIdentity;
  readonly uid?: number;
}

export interface OrderEnding {
  /** The command's final status, or why it never went out. */
  readonly status: string;
  readonly reason: string;
  readonly at: number;
}

export interface OrderRecord extends NewOrder {
  readonly state: OrderState;
  readonly claimedAt: number;
  /** How many times it was claimed to be sent (1, then each retry). */
  readonly attempt: number;
  readonly commandId?: string;
  readonly sentAt?: number;
  readonly ending?: OrderEnding;
  readonly doneAt?: number;
}

export type OrderOperation =
  'claimOrder' | 'orderSent' | 'reclaimOrder' | 'finishOrder';

export type OrderGuard =
  | { readonly kind: 'no-open-order' }
  | {
      readonly kind: 'unchanged';
      readonly state: OrderState;
      readonly orderId: string;
      readonly attempt: number;
    };

export interface OrderTransition {
  readonly operation: OrderOperation;
  readonly next: OrderRecord;
  readonly guard: OrderGuard;
}

/** `pick#<app>` or `force-kill#<pid>#<startTime>`: unique on one host. */
export function orderSlot(order: NewOrder): string {
  if (order.kind === 'pick') return `pick#${order.app}`;
  const { pid, startTime } = order.identity ?? { pid: 0, startTime: 0 };
  return `force-kill#${pid}#${startTime}`;
}

export function isOrderOpen(order: Pick<OrderRecord, 'state'>): boolean {
  return order.state !== 'done';
}

export function claimOrderTransition(
  order: NewOrder,
  now: number,
): OrderTransition {
  const operation = 'claimOrder';
  checkNewOrder(order);
  checkTime(operation, 'now', now);
  const next: OrderRecord = {
    ...order,
    state: 'claimed',
    claimedAt: now,
    attempt: 1,
  };
  return { operation, next, guard: { kind: 'no-open-order' } };
}

export function orderSentTransition(
  order: OrderRecord,
  commandId: string,
  now: number,
): OrderTransition {
  const operation = 'orderSent';
  checkTime(operation, 'now', now);
  requireOrderState(operation, order, ['claimed']);
  if (typeof commandId !== 'string' || commandId.trim() === '') {
    throw new MarkRuleError(
      operation,
      `commandId must be a non-empty string, got ${JSON.stringify(commandId)}`,
    );
  }
  const next: OrderRecord = { ...order, state: 'sent', commandId, sentAt: now };
  return { operation, next, guard: unchanged(order) };
}

/** A claimed order whose send failed, claimed again with a new notAfter. */
export function reclaimOrderTransition(
  order: OrderRecord,
  notAfter: number,
  now: number,
): OrderTransition {
  const operation = 'reclaimOrder';
  checkTime(operation, 'now', now);
  checkTime(operation, 'notAfter', notAfter);
  requireOrderState(operation, order, ['claimed']);
  const next: OrderRecord = {
    ...order,
    notAfter,
    claimedAt: now,
    attempt: order.attempt + 1,
  };
  return { operation, next, guard: unchanged(order) };
}

export function finishOrderTransition(
  order: OrderRecord,
  ending: OrderEnding,
  now: number,
): OrderTransition {
  const operation = 'finishOrder';
  checkTime(operation, 'now', now);
  checkTime(operation, 'ending.at', ending.at);
  requireOrderState(operation, order, ['claimed', 'sent']);
  const next: OrderRecord = { ...order, state: 'done', ending, doneAt: now };
  return { operation, next, guard: unchanged(order) };
}

export function orderGuardHolds(
  guard: OrderGuard,
  stored: OrderRecord | undefined,
): boolean {
  if (guard.kind === 'no-open-order') {
    return stored === undefined || !isOrderOpen(stored);
  }
  return (
    stored !== undefined &&
    stored.state === guard.state &&
    stored.orderId === guard.orderId &&
    stored.attempt === guard.attempt
  );
}

export function describeOrderGuard(guard: OrderGuard): string {
  if (guard.kind === 'no-open-order') return 'no open order in the slot';
  return `state ${guard.state}, order ${guard.orderId}, attempt ${guard.attempt}`;
}

/** Another tick changed the slot first; nothing was written. */
export class OrderRaceLostError extends RecordStoreError {
  readonly operation: OrderOperation;
  readonly stored: OrderRecord | undefined;

  constructor(transition: OrderTransition, stored: OrderRecord | undefined) {
    const { operation, next, guard } = transition;
    const found =
      stored === undefined
        ? 'the slot holds no order'
        : `the slot holds order ${stored.orderId} in state ${stored.state}`;
    super(
      `${operation} lost the race for slot ${orderSlot(next)} on host ` +
        `${next.host}: it requires ${describeOrderGuard(guard)}, and ${found}`,
    );
    this.name = 'OrderRaceLostError';
    this.operation = operation;
    this.stored = stored;
  }
}

function unchanged(
  order: OrderRecord,
): Extract<OrderGuard, { kind: 'unchanged' }> {
  return {
    kind: 'unchanged',
    state: order.state,
    orderId: order.orderId,
    attempt: order.attempt,
  };
}

function requireOrderState(
  operation: OrderOperation,
  order: OrderRecord,
  allowed: readonly OrderState[],
): void {
  if (allowed.includes(order.state)) return;
  throw new MarkRuleError(
    operation,
    `order ${order.orderId} is in state ${order.state}; this step needs ` +
      `state ${allowed.join(' or ')}`,
  );
}

function checkNewOrder(order: NewOrder): void {
  const operation = 'claimOrder';
  const fail = (field: string, rule: string, value: unknown): never => {
    throw new MarkRuleError(
      operation,
      `${field} must be ${rule}, got ${JSON.stringify(value) ?? String(value)}`,
    );
  };
  if (typeof order.host !== 'string' || order.host.trim() === '') {
    fail('host', 'a non-empty string', order.host);
  }
  if (typeof order.app !== 'string' || order.app === '') {
    fail('app', 'a non-empty string', order.app);
  }
  if (typeof order.orderId !== 'string' || order.orderId.trim() === '') {
    fail('orderId', 'a non-empty string', order.orderId);
  }
  checkTime(operation, 'notAfter', order.notAfter);
  if (order.kind === 'pick' && order.pick === undefined) {
    fail('pick', 'given for a pick order', order.pick);
  }
  if (order.kind === 'force-kill') {
    const pid = order.identity?.pid;
    if (order.identity?.host !== order.host || !Number.isInteger(pid)) {
      fail('identity', `a worker on host ${order.host}`, order.identity);
    }
  }
}
