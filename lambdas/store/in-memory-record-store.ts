/**
 * The record store in memory, for unit tests and the fleet simulator.
 * Same rules as the DynamoDB store (mark-transitions.ts): each write
 * checks its guard and stores the next mark in one synchronous step, so
 * overlapping async callers race exactly as they would on the table.
 */
import { identityKey } from '../../core/worker.ts';
import { checkAuditEntries, checkAuditLimit } from './audit-rules.ts';
import { RaceLostError } from './errors.ts';
import { TransitionStore } from './transition-store.ts';
import {
  checkTime,
  describeGuard,
  guardHolds,
  type MarkTransition,
} from './mark-transitions.ts';
import {
  isOrderOpen,
  orderGuardHolds,
  OrderRaceLostError,
  orderSlot,
  type OrderRecord,
  type OrderTransition,
} from './order-records.ts';
import { isOpen, type AuditEntry, type MarkRecord } from './record-store.ts';

export class InMemoryRecordStore extends TransitionStore {
  readonly #marks = new Map<string, MarkRecord>();
  /** Keyed by host and slot, as the table keys them. */
  readonly #orders = new Map<string, OrderRecord>();
  /** In append order; entries are never changed once written. */
  readonly #audit: AuditEntry[] = [];

  async openRecords(): Promise<MarkRecord[]> {
    return this.#open(Number.POSITIVE_INFINITY);
  }

  async dueRecords(now: number): Promise<MarkRecord[]> {
    checkTime('dueRecords', 'now', now);
    return this.#open(now);
  }

  async openOrders(): Promise<OrderRecord[]> {
    return [...this.#orders.values()]
      .filter(isOrderOpen)
      .sort((a, b) => a.notAfter - b.notAfter);
  }

  async appendAudit(entries: readonly AuditEntry[]): Promise<void> {
    checkAuditEntries(entries);
    this.#audit.push(...entries.map((entry) => ({ ...entry })));
  }

  async recentAudit(limit: number): Promise<AuditEntry[]> {
    checkAuditLimit(limit);
    // A stable sort keeps same-time entries in append order; callers may
    // not rely on that, since the table promises no order for them.
    return [...this.#audit].sort((a, b) => b.at - a.at).slice(0, limit);
  }

  /** No await between the check and the write: this is the atomic step. */
  protected override async applyMark(
    transition: MarkTransition,
  ): Promise<MarkRecord> {
    const key = identityKey(transition.next.identity);
    const stored = this.#marks.get(key);
    if (!guardHolds(transition.guard, stored)) {
      throw new RaceLostError({
        operation: transition.operation,
        identity: transition.next.identity,
        required: describeGuard(transition.guard),
        stored,
      });
    }
    this.#marks.set(key, transition.next);
    return transition.next;
  }

  protected override async applyOrder(
    transition: OrderTransition,
  ): Promise<OrderRecord> {
    const key = `${transition.next.host}\n${orderSlot(transition.next)}`;
    const stored = this.#orders.get(key);
    if (!orderGuardHolds(transition.guard, stored)) {
      throw new OrderRaceLostError(transition, stored);
    }
    this.#orders.set(key, transition.next);
    return transition.next;
  }

  #open(deadlineAtMost: number): MarkRecord[] {
    return [...this.#marks.values()]
      .filter((mark) => isOpen(mark) && mark.deadline <= deadlineAtMost)
      .sort((a, b) => a.deadline - b.deadline);
  }
}
