/**
 * Errors of the record store, under one base so a caller can tell "the
 * store said no" from a network or permission failure, which is rethrown
 * as the SDK gave it.
 */
import { identityKey, type WorkerIdentity } from '../../core/worker.ts';
import type {
  AuditEntry,
  MarkOperation,
  MarkRecord,
  StoreOperation,
} from './record-store.ts';

export class RecordStoreError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RecordStoreError';
  }
}

/**
 * The one expected failure: another tick changed the mark first, so the
 * stored mark no longer matches what this step requires. Nothing was
 * written; the caller must not act on the worker.
 */
export class RaceLostError extends RecordStoreError {
  readonly operation: MarkOperation;
  readonly identity: WorkerIdentity;
  /** What the step required, in words (e.g. "state in-grace, order o-1"). */
  readonly required: string;
  /**
   * The mark as read right after the failed write, or undefined when
   * there was none or it could not be read (see `storedReadError`).
   */
  readonly stored: MarkRecord | undefined;
  readonly storedReadError: unknown;

  constructor(details: {
    operation: MarkOperation;
    identity: WorkerIdentity;
    required: string;
    stored: MarkRecord | undefined;
    storedReadError?: unknown;
    cause?: unknown;
  }) {
    const found =
      details.storedReadError !== undefined
        ? 'the stored mark could not be read'
        : details.stored === undefined
          ? 'the table holds no mark'
          : `the table holds state ${details.stored.state}, ` +
            `order ${details.stored.orderId}`;
    super(
      `${details.operation} lost the race for worker ` +
        `${identityKey(details.identity)}: it requires ` +
        `${details.required}, and ${found}`,
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.name = 'RaceLostError';
    this.operation = details.operation;
    this.identity = details.identity;
    this.required = details.required;
    this.stored = details.stored;
    this.storedReadError = details.storedReadError;
  }
}

/** A step that breaks a rule whatever is stored; nothing was written. */
export class MarkRuleError extends RecordStoreError {
  readonly operation: StoreOperation;

  constructor(operation: StoreOperation, message: string) {
    super(`${operation}: ${message}`);
    this.name = 'MarkRuleError';
    this.operation = operation;
  }
}

/** Audit entries still unwritten after every retry; the rest were written. */
export class AuditWriteError extends RecordStoreError {
  readonly unwritten: readonly AuditEntry[];
  readonly attempts: number;

  constructor(unwritten: readonly AuditEntry[], attempts: number) {
    super(
      `appendAudit could not write ${unwritten.length} audit ` +
        `entr${unwritten.length === 1 ? 'y' : 'ies'} after ${attempts} ` +
        'attempts (BatchWriteItem left them unprocessed); write them again',
    );
    this.name = 'AuditWriteError';
    this.unwritten = unwritten;
    this.attempts = attempts;
  }
}

/** A stored item that does not read as a mark or an audit entry. */
export class DamagedItemError extends RecordStoreError {
  readonly key: string;

  constructor(key: string, field: string, problem: string, value: unknown) {
    super(
      `item ${key} in the record table is damaged: field ${field} is ` +
        `invalid (${problem}), found ${JSON.stringify(value) ?? String(value)}`,
    );
    this.name = 'DamagedItemError';
    this.key = key;
  }
}
