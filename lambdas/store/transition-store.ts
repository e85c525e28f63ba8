/**
 * The rules of every write, once for both stores: each step of a mark or
 * an order is a transition (mark-transitions.ts, order-records.ts) that
 * names the next record and the guard the stored one must meet. A store
 * only says how to apply a transition atomically, and how to read.
 * The methods are async so that a broken rule (MarkRuleError, thrown
 * while the transition is built) rejects, as a failed write does.
 */
import type { Outcome } from '../../core/order.ts';
import type { GraceRecord } from '../../core/records.ts';
import {
  claimForceKillTransition,
  claimGracefulTransition,
  closeTransition,
  recordOutcomeTransition,
  type MarkTransition,
} from './mark-transitions.ts';
import {
  claimOrderTransition,
  finishOrderTransition,
  orderSentTransition,
  reclaimOrderTransition,
  type NewOrder,
  type OrderEnding,
  type OrderRecord,
  type OrderTransition,
} from './order-records.ts';
import type {
  AuditEntry,
  MarkOutcome,
  MarkRecord,
  RecordStore,
} from './record-store.ts';

export abstract class TransitionStore implements RecordStore {
  /** Writes `next` if the guard holds, else throws RaceLostError. */
  protected abstract applyMark(transition: MarkTransition): Promise<MarkRecord>;
  /** Writes `next` if the guard holds, else throws OrderRaceLostError. */
  protected abstract applyOrder(
    transition: OrderTransition,
  ): Promise<OrderRecord>;

  abstract openRecords(): Promise<MarkRecord[]>;
  abstract dueRecords(now: number): Promise<MarkRecord[]>;
  abstract openOrders(): Promise<OrderRecord[]>;
  abstract appendAudit(entries: readonly AuditEntry[]): Promise<void>;
  abstract recentAudit(limit: number): Promise<AuditEntry[]>;

  async claimGraceful(
    record: GraceRecord,
    orderId: string,
    now: number,
  ): Promise<MarkRecord> {
    return this.applyMark(claimGracefulTransition(record, orderId, now));
  }

  async recordOutcome(
    mark: MarkRecord,
    outcome: Outcome,
    now: number,
  ): Promise<MarkRecord> {
    return this.applyMark(recordOutcomeTransition(mark, outcome, now));
  }

  async claimForceKill(mark: MarkRecord, now: number): Promise<MarkRecord> {
    return this.applyMark(claimForceKillTransition(mark, now));
  }

  async close(
    mark: MarkRecord,
    outcome: MarkOutcome,
    now: number,
  ): Promise<MarkRecord> {
    return this.applyMark(closeTransition(mark, outcome, now));
  }

  async claimOrder(order: NewOrder, now: number): Promise<OrderRecord> {
    return this.applyOrder(claimOrderTransition(order, now));
  }

  async orderSent(
    order: OrderRecord,
    commandId: string,
    now: number,
  ): Promise<OrderRecord> {
    return this.applyOrder(orderSentTransition(order, commandId, now));
  }

  async reclaimOrder(
    order: OrderRecord,
    notAfter: number,
    now: number,
  ): Promise<OrderRecord> {
    return this.applyOrder(reclaimOrderTransition(order, notAfter, now));
  }

  async finishOrder(
    order: OrderRecord,
    ending: OrderEnding,
    now: number,
  ): Promise<OrderRecord> {
    return this.applyOrder(finishOrderTransition(order, ending, now));
  }
}
