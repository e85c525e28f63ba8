/** Grace records, outcomes and audit entries at pinned times. */
import type { Outcome } from '../../../core/order.ts';
import type { GraceRecord } from '../../../core/records.ts';
import type {
  AuditEntry,
  MarkOutcome,
} from '../../../lambdas/store/record-store.ts';

/** 2026-12-03 13:00:00 UTC: every test time is an offset from here. */
export const T0 = Date.UTC(2026, 11, 3, 13, 0, 0);
export const GRACE_MS = 30_000;
export const HOST = 'i-0a1b2c3d4e5f60718';

export function graceRecord(
  pid: number,
  changes: Partial<GraceRecord> = {},
): GraceRecord {
  return {
    identity: { host: HOST, pid, startTime: 9_000 + pid },
    app: '/data/fleetapp/current',
    cause: 'memory',
    action: { type: 'detach' },
    markedAt: T0,
    deadline: T0 + GRACE_MS,
    memoryKb: 350 * 1024,
    limitKb: 300 * 1024,
    measure: 'private',
    uid: 1000,
    ...changes,
  };
}

export function hostReport(
  status: Outcome['status'],
  at: number,
  reason = `host says ${status}`,
): Outcome {
  return { status, reason, at };
}

export function ending(
  status: MarkOutcome['status'],
  at: number,
  reason = `closed as ${status}`,
): MarkOutcome {
  return { status, reason, at };
}

export function auditEntry(at: number, pid = 4242): AuditEntry {
  return {
    at,
    host: HOST,
    app: '/data/fleetapp/current',
    pid,
    startTime: 9_000 + pid,
    decision: 'graceful',
    action: 'detach',
    reason: `entry at ${at}`,
    outcome: 'detached',
    memoryKb: 350 * 1024,
    limitKb: 300 * 1024,
    orderId: `order-${at}`,
  };
}
