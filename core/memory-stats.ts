/**
 * Reads the output of `passenger-memory-stats`, from Passenger 2 to 6.
 *
 * The output is made for people: section titles whose dashes follow the
 * data, column widths that follow the widest value, colour codes on a
 * terminal, warnings in the middle, and documentation copies with prompts
 * and `...` elisions. So every line is read on its own, split on
 * whitespace, and becomes a process only inside a table whose header was
 * seen, with exactly the values that header promises. Everything else is
 * decoration, a warning, or a skipped line with a reason; nothing throws.
 *
 * Lines are numbered from 1, counting `\n` only; a trailing CR is
 * dropped, and a CR inside a line makes it unreadable (a terminal would
 * have overwritten part of it).
 */
import type { TitleClass } from './classify.ts';
import { readHeader, readRow } from './memory-stats-table.ts';
import type { Table } from './memory-stats-table.ts';
import {
  findControlCharacter,
  stripColourCodes,
  trimTrailingCarriageReturns,
} from './text.ts';

export type StatsSection = 'apache' | 'nginx' | 'passenger';

export interface StatsProcess {
  section: StatsSection;
  pid: number;
  ppid?: number;
  vmSizeMb: number | null;
  /** null for `?`: the tool could not read the process's smaps. */
  memoryMb: number | null;
  memoryColumn: 'private' | 'resident';
  /** The title, as printed. */
  name: string;
  classified: TitleClass;
  /** 1-based in the input. */
  lineNumber: number;
  /**
   * The name may have been cut by `ps -w` at 132 columns. A cut title can
   * name another app (`/data/shop2/...` cut to `/data/shop`), so callers
   * must re-read the whole title from /proc/<pid>/cmdline before acting
   * on any process, and must never act on the printed name when true.
   */
  maybeTruncated: boolean;
}

export interface SkippedLine {
  lineNumber: number;
  text: string;
  reason: string;
}

export interface MemoryStatsReport {
  version?: string;
  date?: string;
  processes: StatsProcess[];
  skipped: SkippedLine[];
  /** `*** WARNING` texts (sudo, Apache not found) and `ps:` errors. */
  warnings: string[];
}

/** Enough to diagnose any real output, bounded for hostile input. */
const MAX_LISTED = 1000;
const MAX_TEXT = 500;

const SECTION_TITLE = /^-+\s*(Apache|Nginx|Passenger) processes\s*-*$/;
const RULE = /^-+$/;
const TOTALS = /^#{2,}\s*(?:Processes|Total [^:]*):/;
const VERSION = /^Version\s*:\s*(\S.*)$/;
const DATE = /^Date\s*:\s*(\S.*)$/;
const WARNING = /^\*\*\* ?WARNING\b/;
const PS_ERROR = /^ps: /;
const PS_USAGE = /^usage: ps\b/;
const PROMPT = /^\S*[$#%>] +(?:sudo +)?(?:\S*\/)?passenger-memory-stats\b/;
const ELISION = /^(?:\.{3,}|…)$/;

export function parseMemoryStats(text: string): MemoryStatsReport {
  const out = new ReportCollector();
  if (typeof text !== 'string') {
    out.warn(`input is not text but ${typeof text}`);
    return out.finish();
  }
  let section: StatsSection | undefined;
  let table: Table | undefined;
  let afterTotals = false;
  let openWarning = false;
  let inPsUsage = false;

  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    const raw = trimTrailingCarriageReturns(
      stripColourCodes(lines[index] ?? ''),
    );
    const line = raw.trim();
    const continuesUsage = inPsUsage && /^\s/.test(raw);
    inPsUsage = false;
    if (line === '') {
      openWarning = false;
      continue;
    }
    const control = findControlCharacter(line);
    if (control !== undefined) {
      out.skip(lineNumber, line, `line holds control character ${control}`);
      continue;
    }

    const title = SECTION_TITLE.exec(line)?.[1];
    if (title !== undefined) {
      section = title.toLowerCase() as StatsSection;
      table = undefined;
      afterTotals = false;
      openWarning = false;
      continue;
    }
    const header = readHeader(line);
    if (header !== undefined) {
      openWarning = false;
      table = undefined;
      if (!header.ok) out.skip(lineNumber, line, header.reason);
      else if (section === undefined) {
        out.skip(lineNumber, line, 'table header before any section title');
      } else {
        table = { section, ...header.value };
        afterTotals = false;
      }
      continue;
    }
    if (RULE.test(line) || ELISION.test(line) || PROMPT.test(line)) continue;
    if (TOTALS.test(line)) {
      table = undefined;
      afterTotals = true;
      openWarning = false;
      continue;
    }
    const version = VERSION.exec(line)?.[1];
    if (version !== undefined) {
      out.report.version ??= version;
      continue;
    }
    const date = DATE.exec(line)?.[1];
    if (date !== undefined) {
      out.report.date ??= date;
      continue;
    }
    if (WARNING.test(line) || PS_ERROR.test(line)) {
      out.warn(line);
      openWarning = WARNING.test(line);
      continue;
    }
    if (PS_USAGE.test(line) || continuesUsage) {
      inPsUsage = true;
      out.skip(lineNumber, line, 'usage text printed by ps');
      continue;
    }
    if (openWarning && table === undefined) {
      // The Apache-not-found warning runs on over a second line.
      out.continueWarning(line);
      continue;
    }
    if (table === undefined) {
      const reason = afterTotals
        ? "line follows the section's totals"
        : 'no table header seen yet';
      out.skip(lineNumber, line, reason);
      continue;
    }
    const row = readRow(line, table, lineNumber);
    if (row.ok) out.report.processes.push(row.value);
    else out.skip(lineNumber, line, row.reason);
  }
  return out.finish();
}

/**
 * Holds the report and keeps its lists bounded: real outputs skip a few
 * lines at most, but ten megabytes of garbage must not cost gigabytes.
 */
class ReportCollector {
  readonly report: MemoryStatsReport = {
    processes: [],
    skipped: [],
    warnings: [],
  };
  private unlistedSkips = 0;
  private unlistedWarnings = 0;

  skip(lineNumber: number, line: string, reason: string): void {
    if (this.report.skipped.length >= MAX_LISTED) {
      this.unlistedSkips++;
      return;
    }
    const text = line.slice(0, MAX_TEXT);
    this.report.skipped.push({ lineNumber, text, reason });
  }

  warn(text: string): void {
    if (this.report.warnings.length >= MAX_LISTED) {
      this.unlistedWarnings++;
      return;
    }
    this.report.warnings.push(text.slice(0, MAX_TEXT));
  }

  continueWarning(text: string): void {
    const { warnings } = this.report;
    const last = warnings.length - 1;
    if (this.unlistedWarnings > 0 || last < 0) return;
    warnings[last] = `${warnings[last]} ${text}`.slice(0, MAX_TEXT);
  }

  finish(): MemoryStatsReport {
    const { warnings } = this.report;
    if (this.unlistedSkips > 0) {
      warnings.push(`${this.unlistedSkips} more skipped lines not listed`);
    }
    if (this.unlistedWarnings > 0) {
      warnings.push(`${this.unlistedWarnings} more warnings not listed`);
    }
    return this.report;
  }
}
