/**
 * Where the demo's output goes, in one of three manners:
 *
 * - `tty`: the table redrawn in place, with the latest decisions below;
 * - `lines`: for a pipe or a file, one line per change and per decision;
 * - `json`: one JSON object per line (start, decisions, summary), the
 *   summary always last, for scripts and tests.
 */
import type { DecisionLogEntry } from '../decision-log.ts';
import {
  describeChanges,
  describeDecision,
  renderBystanders,
  renderRows,
  tableRows,
  type Deadlines,
  type TableRow,
} from './live-table.ts';
import type { SimProcess } from './sim-process.ts';
import { renderSummary, type DemoSummary } from './summary.ts';

export type ScreenMode = 'tty' | 'lines' | 'json';

export interface Frame {
  readonly processes: readonly SimProcess[];
  readonly deadlines: Deadlines;
  /** Epoch ms. */
  readonly now: number;
  readonly elapsedMs: number;
  readonly durationMs: number;
}

/** Decisions kept under the table on a terminal. */
const RECENT_DECISIONS = 6;
const DEFAULT_COLUMNS = 80;

export class DemoScreen {
  readonly mode: ScreenMode;
  readonly #write: (text: string) => void;
  readonly #recent: string[] = [];
  /** Skips repeat every tick; each pid's last one is not printed again. */
  readonly #lastSkip = new Map<number, string>();
  /** Terminal width: longer lines are cut so that none wraps. */
  readonly #columns: number;
  #rows = new Map<number, TableRow>();
  #drawnLines = 0;

  constructor(
    mode: ScreenMode,
    write: (text: string) => void,
    columns = DEFAULT_COLUMNS,
  ) {
    this.mode = mode;
    this.#write = write;
    this.#columns = Math.max(20, columns);
  }

  start(facts: Readonly<Record<string, unknown>>, lines: readonly string[]) {
    if (this.mode === 'json') {
      this.#json({ event: 'start', ...facts });
      return;
    }
    this.#write(`${lines.join('\n')}\n\n`);
  }

  decision(entry: DecisionLogEntry): void {
    if (this.mode === 'json') {
      this.#json({ event: 'decision', ...entry });
      return;
    }
    if (entry.decision === 'skip') {
      const cause = entry.reason.split('; ').slice(1).join('; ');
      if (this.#lastSkip.get(entry.pid) === cause) return;
      this.#lastSkip.set(entry.pid, cause);
    }
    const line = `${clock(Date.now())} ${describeDecision(entry)}`;
    if (this.mode === 'lines') {
      this.#write(`${line}\n`);
      return;
    }
    this.#recent.push(line);
    this.#recent.splice(0, this.#recent.length - RECENT_DECISIONS);
  }

  frame(frame: Frame): void {
    if (this.mode === 'json') return;
    const rows = tableRows(frame.processes, frame.deadlines, frame.now);
    if (this.mode === 'lines') {
      for (const change of describeChanges(this.#rows, rows)) {
        this.#write(`${clock(frame.now)} ${change}\n`);
      }
    } else {
      this.#redraw(frame, rows);
    }
    this.#rows = new Map(rows.map((row) => [row.pid, row]));
  }

  /** A sentence about the run itself (a failed tick, the end...). */
  note(message: string): void {
    if (this.mode === 'json') {
      this.#json({ event: 'note', message });
      return;
    }
    this.#write(`${message}\n`);
    // What was just written sits below the table; keep it on screen.
    this.#drawnLines = 0;
  }

  summary(summary: DemoSummary): void {
    if (this.mode === 'json') {
      this.#json({ event: 'summary', ...summary });
      return;
    }
    this.#write(`\n${renderSummary(summary)}\n`);
  }

  #redraw(frame: Frame, rows: readonly TableRow[]): void {
    const elapsed = Math.min(frame.elapsedMs, frame.durationMs);
    const text = [
      `${Math.round(elapsed / 1000)} s of ${frame.durationMs / 1000} s` +
        (frame.elapsedMs > frame.durationMs ? ', waiting for deadlines' : ''),
      renderRows(rows),
      renderBystanders(frame.processes),
      '',
      'latest decisions:',
      ...this.#recent.map((line) => `  ${line}`),
    ]
      .join('\n')
      .split('\n')
      // A wrapped line would make the rewind below miss the top.
      .map((line) => line.slice(0, this.#columns - 1))
      .join('\n');
    // Cursor up over the last frame, then clear to the end of the screen.
    const rewind =
      this.#drawnLines > 0 ? `\x1b[${this.#drawnLines}A\r\x1b[J` : '';
    this.#write(`${rewind}${text}\n`);
    this.#drawnLines = text.split('\n').length;
  }

  #json(value: Readonly<Record<string, unknown>>): void {
    this.#write(`${JSON.stringify(value)}\n`);
  }
}

function clock(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(11, 19);
}
