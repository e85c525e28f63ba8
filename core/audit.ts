/**
 * One line of an audit trail: a decision about one process and, once
 * known, what the host did. The enforcer's SQLite store and the
 * controller's DynamoDB table keep the same shape.
 */
import type { OutcomeStatus } from './order.ts';

export interface AuditEntry<Ending extends string = OutcomeStatus> {
  /** Epoch ms, a whole number. */
  readonly at: number;
  readonly host: string;
  readonly app: string;
  readonly pid: number;
  readonly startTime: number;
  readonly decision: string;
  readonly action: string | null;
  readonly reason: string;
  readonly outcome: Ending | null;
  readonly memoryKb: number | null;
  readonly limitKb: number | null;
}
