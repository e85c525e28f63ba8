/**
 * The demo's live view of the simulated pool: one row per worker with
 * its memory, its limit and where it stands, redrawn in place on a
 * terminal, or one line per change when the output is a file or a pipe.
 *
 * Rows come from what the simulated host saw, and the grace countdown
 * from the enforcer's open records, so the view shows both sides: what
 * was decided and what happened to the process.
 */
import { renderTable } from '../cli/table.ts';
import type { DecisionLogEntry } from '../decision-log.ts';
import { describeExit, type SimProcess } from './sim-process.ts';

export type RowState =
  'ok' | 'over' | 'grace' | 'detached' | 'killed' | 'replaced';

export interface TableRow {
  readonly pid: number;
  readonly app: string;
  readonly mb: number | null;
  readonly limitMb: number | null;
  readonly state: RowState;
  /** Whole seconds to the forced kill; null when not in grace. */
  readonly graceLeftS: number | null;
  readonly note: string;
}

/** Deadlines (epoch ms) of the workers the enforcer has marked, by pid. */
export type Deadlines = ReadonlyMap<number, number>;

export function tableRows(
  processes: readonly SimProcess[],
  deadlines: Deadlines,
  now: number,
): TableRow[] {
  return processes
    .filter((p) => p.role === 'worker')
    .map((p) => rowOf(p, deadlines.get(p.pid), now))
    .sort((a, b) => a.app.localeCompare(b.app) || a.pid - b.pid);
}

function rowOf(
  worker: SimProcess,
  deadline: number | undefined,
  now: number,
): TableRow {
  const base = {
    pid: worker.pid,
    app: worker.app ?? '?',
    mb: worker.mb,
    limitMb: worker.limitMb ?? null,
    graceLeftS: null,
  };
  const origin =
    worker.replaces === undefined ? '' : `replaces ${worker.replaces}`;
  if (worker.exit) {
    const how = describeExit(worker.exit);
    const state: RowState = worker.exit.signal ? 'killed' : 'detached';
    if (worker.replacedBy !== undefined) {
      return {
        ...base,
        state: 'replaced',
        note: `${state}: ${how}; now ${worker.replacedBy}`,
      };
    }
    return { ...base, state, note: how };
  }
  if (deadline !== undefined || worker.detachedAt !== undefined) {
    const left =
      deadline === undefined
        ? null
        : Math.max(0, Math.ceil((deadline - now) / 1000));
    const busy = worker.busyUntil > now ? ', finishing a request' : '';
    const marked = worker.detachedAt === undefined ? 'marked' : 'detached';
    return { ...base, state: 'grace', graceLeftS: left, note: marked + busy };
  }
  const over =
    worker.mb !== null &&
    worker.limitMb !== undefined &&
    worker.mb > worker.limitMb;
  return { ...base, state: over ? 'over' : 'ok', note: origin };
}

const HEADERS = ['PID', 'APP', 'MB', 'LIMIT', 'STATE', 'GRACE', 'NOTE'];

export function renderRows(rows: readonly TableRow[]): string {
  return renderTable(
    HEADERS,
    rows.map((row) => [
      row.pid,
      row.app,
      row.mb === null ? '-' : row.mb.toFixed(1),
      row.limitMb === null ? '-' : String(row.limitMb),
      row.state,
      row.graceLeftS === null ? '-' : `${row.graceLeftS}s`,
      row.note,
    ]),
  );
}

/** The never-touch processes in one line: they must stay alive. */
export function renderBystanders(processes: readonly SimProcess[]): string {
  const parts = processes
    .filter((p) => p.role !== 'worker')
    .map((p) => {
      // The preloader's size matters: it is over the limit on purpose.
      const size =
        p.role === 'preloader' && p.mb !== null ? ` ${Math.round(p.mb)}MB` : '';
      const fate = p.exit ? describeExit(p.exit).toUpperCase() : 'alive';
      return `${p.role} ${p.pid}${size} ${fate}`;
    });
  return `never touched: ${parts.join(' · ')}`;
}

/** One line for a decision the enforcer logged, skips included. */
export function describeDecision(entry: DecisionLogEntry): string {
  const size =
    entry.memoryMb === null
      ? ''
      : ` ${entry.memoryMb} MB/${entry.limitMb ?? '-'} MB`;
  const action = entry.action === null ? '' : ` ${entry.action}`;
  const outcome = entry.outcome === null ? '' : ` -> ${entry.outcome}`;
  const detail = entry.detail === null ? '' : ` (${entry.detail})`;
  return (
    `${entry.decision}${action}${outcome} pid ${entry.pid}${size}: ` +
    `${entry.reason}${detail}`
  );
}

/**
 * One line per row whose state changed since the last call, for output
 * that is not a terminal. Memory alone changing is not news.
 */
export function describeChanges(
  previous: ReadonlyMap<number, TableRow>,
  rows: readonly TableRow[],
): string[] {
  const lines: string[] = [];
  for (const row of rows) {
    const before = previous.get(row.pid);
    if (before?.state === row.state) continue;
    const from = before === undefined ? 'new' : before.state;
    const size = row.mb === null ? '?' : row.mb.toFixed(1);
    const grace = row.graceLeftS === null ? '' : `, ${row.graceLeftS}s left`;
    const note = row.note === '' ? '' : ` (${row.note}${grace})`;
    lines.push(
      `${row.app} ${row.pid} ${size} MB/${row.limitMb ?? '-'} MB: ` +
        `${from} -> ${row.state}${note}`,
    );
  }
  return lines;
}
