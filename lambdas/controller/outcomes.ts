/**
 * Reads back what hosts reported for the orders sent earlier and records
 * it: a graceful step carried out opens a mark with the deadline the host
 * set; a `deadline` line (the host SIGKILLed the worker or saw it leave)
 * or a forced kill's report closes it. A command that ended is finished
 * in the store after its marks, so a tick that dies half-way leaves the
 * order open and the next tick reads it again: nothing is lost, and every
 * step is a conditional write, so nothing is recorded twice.
 */
import type { Outcome, OutcomeStatus } from '../../core/order.ts';
import {
  parseOutcomeReport,
  type OutcomeReport,
} from '../../core/outcome-report.ts';
import type { GraceRecord } from '../../core/records.ts';
import { identityKey, type WorkerIdentity } from '../../core/worker.ts';
import type { CommandResult, CommandStatus } from '../ports/commands.ts';
import { RaceLostError } from '../store/errors.ts';
import {
  OrderRaceLostError,
  type OrderRecord,
} from '../store/order-records.ts';
import type {
  AuditEntry,
  MarkOutcome,
  MarkRecord,
  RecordStore,
} from '../store/record-store.ts';
import type { ControllerLog } from './controller-ports.ts';

export const TERMINAL_STATUSES: readonly CommandStatus[] = [
  'Success',
  'DeliveryTimedOut',
  'ExecutionTimedOut',
  'Failed',
  'Cancelled',
  'Undeliverable',
  'Terminated',
];

export function isTerminal(status: CommandStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** What reading outcomes did this tick, for the report and the metrics. */
export interface OutcomeTally {
  marksOpened: number;
  marksClosed: number;
  gracefulActions: number;
  forcedKills: number;
  refusals: number;
  racesLost: number;
  readonly audit: AuditEntry[];
}

export function emptyTally(): OutcomeTally {
  return {
    marksOpened: 0,
    marksClosed: 0,
    gracefulActions: 0,
    forcedKills: 0,
    refusals: 0,
    racesLost: 0,
    audit: [],
  };
}

export interface OutcomeContext {
  readonly store: RecordStore;
  readonly log: ControllerLog;
  /** Open marks by identityKey; kept current as marks open and close. */
  readonly openMarks: Map<string, MarkRecord>;
  readonly tally: OutcomeTally;
  readonly now: number;
}

/** Records one command's result; finishes its order once it has ended. */
export async function applyResult(
  context: OutcomeContext,
  order: OrderRecord,
  result: CommandResult,
): Promise<void> {
  const { log, tally } = context;
  const where = { host: order.host, app: order.app, orderId: order.orderId };
  const report = parseOutcomeReport(result.stdout);
  for (const line of report.malformed) {
    log.warn('outcome line unreadable', { ...where, ...line });
  }
  for (const problem of report.rejections) {
    tally.refusals++;
    log.error('host rejected the order', { ...where, ...problem });
  }
  const steps = report.outcomes.filter((line) => line.step !== 'deadline');
  for (const line of steps) {
    if (order.kind === 'pick') await recordPickStep(context, order, line);
    else await closeFromLine(context, order, line, 'force-kill');
  }
  for (const line of report.outcomes) {
    if (line.step === 'deadline') {
      await closeFromLine(context, order, line, 'deadline');
    }
  }
  if (!isTerminal(result.status)) return;
  if (order.kind === 'force-kill' && order.identity !== undefined) {
    await closeUnreported(context, order, order.identity, result.status);
  }
  try {
    await context.store.finishOrder(
      order,
      {
        status: result.status,
        reason:
          `command ${result.commandId} ended ${result.status}; ` +
          `${report.outcomes.length} outcome line(s), report ` +
          (report.complete ? 'complete' : 'incomplete'),
        at: context.now,
      },
      context.now,
    );
  } catch (error) {
    if (!(error instanceof OrderRaceLostError)) throw error;
    tally.racesLost++;
  }
}

/** A graceful or orphan step the host carried out on a worker it chose. */
async function recordPickStep(
  context: OutcomeContext,
  order: OrderRecord,
  line: OutcomeReport,
): Promise<void> {
  const { store, log, tally, openMarks, now } = context;
  const identity = {
    host: order.host,
    pid: line.pid,
    startTime: line.startTime,
  };
  const key = identityKey(identity);
  const fields = lineFields(order, line);
  const carriedOut = line.status === 'detached' || line.status === 'signalled';
  if (!carriedOut || line.deadline === undefined) {
    if (line.status === 'refused' || line.status === 'failed') {
      tally.refusals++;
    }
    log.info('outcome', fields);
    tally.audit.push(auditOf(order, identity, line, line.status));
    return;
  }
  const known = openMarks.get(key);
  if (known?.orderId === order.orderId) return;
  if (known !== undefined) {
    log.warn('outcome for a worker marked by another order; not recorded', {
      ...fields,
      markedBy: known.orderId,
    });
    return;
  }
  const record: GraceRecord = {
    identity,
    app: order.app,
    cause: line.step === 'orphan-term' ? 'orphan' : 'memory',
    action:
      line.step === 'orphan-term'
        ? { type: 'signal', signal: 'TERM' }
        : (order.pick?.graceful ?? { type: 'detach' }),
    markedAt: Math.min(line.at, line.deadline),
    deadline: line.deadline,
    memoryKb: null,
    limitKb: line.step === 'orphan-term' ? null : (order.pick?.limitKb ?? null),
    measure: order.measure,
  };
  const outcome: Outcome = {
    status: line.status,
    reason: line.reason,
    at: line.at,
  };
  try {
    const claimed = await store.claimGraceful(record, order.orderId, now);
    const inGrace = await store.recordOutcome(claimed, outcome, now);
    openMarks.set(key, inGrace);
  } catch (error) {
    if (!(error instanceof RaceLostError)) throw error;
    // Another tick read the same report first and recorded it.
    tally.racesLost++;
    return;
  }
  tally.marksOpened++;
  tally.gracefulActions++;
  log.info('outcome', { ...fields, deadline: line.deadline });
  tally.audit.push(auditOf(order, identity, line, line.status));
}

/** A `deadline` line of a pick, or the report of a forced kill. */
async function closeFromLine(
  context: OutcomeContext,
  order: OrderRecord,
  line: OutcomeReport,
  step: 'deadline' | 'force-kill',
): Promise<void> {
  const identity = {
    host: order.host,
    pid: line.pid,
    startTime: line.startTime,
  };
  const fields = lineFields(order, line);
  const mark = context.openMarks.get(identityKey(identity));
  const ours =
    mark !== undefined &&
    (step === 'force-kill'
      ? order.identity !== undefined &&
        identityKey(order.identity) === identityKey(identity)
      : mark.orderId === order.orderId);
  if (line.step !== step || !ours) {
    context.log.info('outcome with no open mark to close', fields);
    return;
  }
  const closed = await closeMark(context, mark, {
    status: line.status,
    reason: line.reason,
    at: line.at,
  });
  if (!closed) return;
  if (line.status === 'killed') context.tally.forcedKills++;
  if (line.status === 'refused' || line.status === 'failed') {
    context.tally.refusals++;
  }
  context.log.info('outcome', fields);
  context.tally.audit.push(auditOf(order, identity, line, line.status));
}

/** A forced kill whose command ended without a line for its worker. */
async function closeUnreported(
  context: OutcomeContext,
  order: OrderRecord,
  identity: WorkerIdentity,
  status: CommandStatus,
): Promise<void> {
  const mark = context.openMarks.get(identityKey(identity));
  if (mark === undefined || mark.state !== 'force-kill-claimed') return;
  const reason =
    `force-kill order ${order.orderId} ended ${status} without a report ` +
    'for the worker; it is picked again if still over its limit';
  const closed = await closeMark(context, mark, {
    status: 'failed',
    reason,
    at: context.now,
  });
  if (!closed) return;
  context.tally.refusals++;
  context.log.warn('outcome', {
    host: order.host,
    app: order.app,
    orderId: order.orderId,
    decision: 'force-kill',
    pid: identity.pid,
    startTime: identity.startTime,
    outcome: 'failed',
    reason,
  });
}

async function closeMark(
  context: OutcomeContext,
  mark: MarkRecord,
  outcome: MarkOutcome,
): Promise<boolean> {
  try {
    await context.store.close(mark, outcome, context.now);
  } catch (error) {
    if (!(error instanceof RaceLostError)) throw error;
    context.tally.racesLost++;
    return false;
  } finally {
    context.openMarks.delete(identityKey(mark.identity));
  }
  context.tally.marksClosed++;
  return true;
}

function lineFields(order: OrderRecord, line: OutcomeReport) {
  return {
    host: order.host,
    app: order.app,
    decision: order.kind,
    orderId: order.orderId,
    pid: line.pid,
    startTime: line.startTime,
    step: line.step,
    outcome: line.status,
    reason: line.reason,
  };
}

function auditOf(
  order: OrderRecord,
  identity: WorkerIdentity,
  line: OutcomeReport,
  outcome: OutcomeStatus,
): AuditEntry {
  return {
    at: line.at,
    host: identity.host,
    app: order.app,
    pid: identity.pid,
    startTime: identity.startTime,
    decision: line.step,
    action: order.kind,
    reason: line.reason,
    outcome,
    memoryKb: null,
    limitKb: order.pick?.limitKb ?? null,
    orderId: order.orderId,
  };
}
