/**
 * A grace record: the promise, made when a worker got its graceful action,
 * that it will be gone by its deadline. The enforcer keeps records in
 * SQLite and the controller in DynamoDB; both hand the open ones to the
 * same policy.
 *
 *   marked (graceful action sent)          deadline
 *   |------------- grace seconds ------------|
 *   the worker may leave by itself here      at or after this: SIGKILL if
 *   (record closes as `gone`)                still the same process
 */
import type { GracefulAction } from './actions.ts';
import type { Measure } from './measure.ts';
import type { WorkerIdentity } from './worker.ts';

/** Why the worker was marked: over its memory limit, or an orphan. */
export type RecordCause = 'memory' | 'orphan';

export interface GraceRecord {
  readonly identity: WorkerIdentity;
  /** The app group the worker belonged to when marked. */
  readonly app: string;
  readonly cause: RecordCause;
  /** What was sent: a graceful action, or TERM for an orphan. */
  readonly action: GracefulAction;
  /** Epoch ms the graceful step was decided. */
  readonly markedAt: number;
  /** Epoch ms from which the forced kill is due. */
  readonly deadline: number;
  readonly memoryKb: number | null;
  readonly limitKb: number | null;
  readonly measure: Measure;
  /** Owner uid when marked; the forced kill checks it again. */
  readonly uid?: number;
}

/**
 * What the policy remembers between samples besides grace records:
 * consecutive samples over the limit, and when a worker was first seen
 * missing from Passenger's pool. Keys are `identityKey`s.
 */
export interface PolicyMemory {
  readonly overLimitStreaks: Readonly<Record<string, number>>;
  readonly orphanSuspects: Readonly<Record<string, number>>;
}

export const EMPTY_MEMORY: PolicyMemory = {
  overLimitStreaks: {},
  orphanSuspects: {},
};
