/**
 * The enforcer's durable state in SQLite: open grace records (so a
 * restarted enforcer still honours every deadline it set), the policy's
 * memory between samples, and an audit trail of every decision.
 *
 * A record is written before its action is carried out and closed only
 * with an outcome; a crash between the two leaves an open record, whose
 * deadline the next run enforces after re-checking the process.
 */
import type { AuditEntry } from '../core/audit.ts';
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { GracefulAction } from '../core/actions.ts';
import type { Measure } from '../core/measure.ts';
import type { OutcomeStatus } from '../core/order.ts';
import {
  EMPTY_MEMORY,
  type GraceRecord,
  type PolicyMemory,
  type RecordCause,
} from '../core/records.ts';
import { identityKey } from '../core/worker.ts';

export type { AuditEntry };

export interface EnforcerStore {
  openRecords(host: string): GraceRecord[];
  /** Inserts; false when an open record for that process already exists. */
  openRecord(record: GraceRecord): boolean;
  closeRecord(record: GraceRecord, outcome: OutcomeStatus, at: number): void;
  /** Moves the deadline of an open record. */
  reschedule(record: GraceRecord, deadline: number): void;
  memory(host: string): PolicyMemory;
  saveMemory(host: string, memory: PolicyMemory): void;
  audit(entry: AuditEntry): void;
  recentAudit(limit: number): AuditEntry[];
  close(): void;
}

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS grace_records (
  key TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  start_time INTEGER NOT NULL,
  app TEXT NOT NULL,
  cause TEXT NOT NULL,
  action TEXT NOT NULL,
  marked_at INTEGER NOT NULL,
  deadline INTEGER NOT NULL,
  memory_kb INTEGER,
  limit_kb INTEGER,
  measure TEXT NOT NULL,
  uid INTEGER,
  closed_at INTEGER,
  outcome TEXT
);
CREATE INDEX IF NOT EXISTS open_by_host
  ON grace_records (host, deadline) WHERE closed_at IS NULL;
CREATE TABLE IF NOT EXISTS policy_memory (
  host TEXT PRIMARY KEY,
  memory TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  host TEXT NOT NULL,
  app TEXT NOT NULL,
  pid INTEGER NOT NULL,
  start_time INTEGER NOT NULL,
  decision TEXT NOT NULL,
  action TEXT,
  reason TEXT NOT NULL,
  outcome TEXT,
  memory_kb INTEGER,
  limit_kb INTEGER
);
`;

interface RecordRow {
  key: string;
  host: string;
  pid: number;
  start_time: number;
  app: string;
  cause: string;
  action: string;
  marked_at: number;
  deadline: number;
  memory_kb: number | null;
  limit_kb: number | null;
  measure: string;
  uid: number | null;
}

/** Opens (creating if needed) the store at a path, or `:memory:`. */
export function openStore(path: string): EnforcerStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { timeout: 5000 });
  db.pragma('journal_mode = WAL');
  // Records are promises about deadlines: make each write durable.
  db.pragma('synchronous = FULL');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    db.close();
    throw new Error(
      `state file ${path} has schema version ${version}, newer than this ` +
        `passenger-fleet understands (${SCHEMA_VERSION}); upgrade it`,
    );
  }
  db.exec(SCHEMA);
  db.pragma(`user_version = ${SCHEMA_VERSION}`);

  const insertRecord = db.prepare(`
    INSERT INTO grace_records (key, host, pid, start_time, app, cause,
      action, marked_at, deadline, memory_kb, limit_kb, measure, uid)
    VALUES (@key, @host, @pid, @start_time, @app, @cause, @action,
      @marked_at, @deadline, @memory_kb, @limit_kb, @measure, @uid)
    ON CONFLICT (key) DO UPDATE SET
      cause = excluded.cause, action = excluded.action,
      marked_at = excluded.marked_at, deadline = excluded.deadline,
      memory_kb = excluded.memory_kb, limit_kb = excluded.limit_kb,
      measure = excluded.measure, uid = excluded.uid,
      closed_at = NULL, outcome = NULL
    WHERE grace_records.closed_at IS NOT NULL`);
  const selectOpen = db.prepare(
    `SELECT * FROM grace_records WHERE host = ? AND closed_at IS NULL
     ORDER BY deadline`,
  );
  const closeOne = db.prepare(
    `UPDATE grace_records SET closed_at = ?, outcome = ?
     WHERE key = ? AND closed_at IS NULL`,
  );
  const moveDeadline = db.prepare(
    `UPDATE grace_records SET deadline = ?
     WHERE key = ? AND closed_at IS NULL`,
  );
  const selectMemory = db.prepare(
    'SELECT memory FROM policy_memory WHERE host = ?',
  );
  const upsertMemory = db.prepare(
    `INSERT INTO policy_memory (host, memory) VALUES (?, ?)
     ON CONFLICT (host) DO UPDATE SET memory = excluded.memory`,
  );
  const insertAudit = db.prepare(`
    INSERT INTO decisions (at, host, app, pid, start_time, decision, action,
      reason, outcome, memory_kb, limit_kb)
    VALUES (@at, @host, @app, @pid, @startTime, @decision, @action,
      @reason, @outcome, @memoryKb, @limitKb)`);
  const selectAudit = db.prepare(
    'SELECT * FROM decisions ORDER BY id DESC LIMIT ?',
  );

  return {
    openRecords: (host) =>
      (selectOpen.all(host) as RecordRow[]).map(recordFromRow),
    openRecord: (record) => insertRecord.run(rowFromRecord(record)).changes > 0,
    closeRecord: (record, outcome, at) => {
      closeOne.run(at, outcome, identityKey(record.identity));
    },
    reschedule: (record, deadline) => {
      moveDeadline.run(deadline, identityKey(record.identity));
    },
    memory: (host) => {
      const row = selectMemory.get(host) as { memory: string } | undefined;
      return row ? parseMemory(row.memory) : EMPTY_MEMORY;
    },
    saveMemory: (host, memory) => {
      upsertMemory.run(host, JSON.stringify(memory));
    },
    audit: (entry) => {
      insertAudit.run(entry);
    },
    recentAudit: (limit) =>
      (selectAudit.all(limit) as Record<string, unknown>[]).map(auditFromRow),
    close: () => db.close(),
  };
}

function rowFromRecord(record: GraceRecord): RecordRow {
  return {
    key: identityKey(record.identity),
    host: record.identity.host,
    pid: record.identity.pid,
    start_time: record.identity.startTime,
    app: record.app,
    cause: record.cause,
    action: JSON.stringify(record.action),
    marked_at: record.markedAt,
    deadline: record.deadline,
    memory_kb: record.memoryKb,
    limit_kb: record.limitKb,
    measure: record.measure,
    uid: record.uid ?? null,
  };
}

function recordFromRow(row: RecordRow): GraceRecord {
  return {
    identity: { host: row.host, pid: row.pid, startTime: row.start_time },
    app: row.app,
    cause: row.cause as RecordCause,
    action: JSON.parse(row.action) as GracefulAction,
    markedAt: row.marked_at,
    deadline: row.deadline,
    memoryKb: row.memory_kb,
    limitKb: row.limit_kb,
    measure: row.measure as Measure,
    ...(row.uid === null ? {} : { uid: row.uid }),
  };
}

function auditFromRow(row: Record<string, unknown>): AuditEntry {
  return {
    at: row.at as number,
    host: row.host as string,
    app: row.app as string,
    pid: row.pid as number,
    startTime: row.start_time as number,
    decision: row.decision as string,
    action: row.action as string | null,
    reason: row.reason as string,
    outcome: row.outcome as OutcomeStatus | null,
    memoryKb: row.memory_kb as number | null,
    limitKb: row.limit_kb as number | null,
  };
}

/** A damaged memory row costs a few samples of streaks, never a crash. */
function parseMemory(text: string): PolicyMemory {
  try {
    const value = JSON.parse(text) as Partial<PolicyMemory>;
    return {
      overLimitStreaks: value.overLimitStreaks ?? {},
      orphanSuspects: value.orphanSuspects ?? {},
    };
  } catch {
    return EMPTY_MEMORY;
  }
}
