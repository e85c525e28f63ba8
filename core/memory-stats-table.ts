/**
 * Reads one table of passenger-memory-stats: its header, which says which
 * value columns come before the name, and its rows, which must hold
 * exactly those values. Widths follow the data, so rows are split on
 * whitespace; the name is everything after the last value, spaces kept.
 */
import { classifyTitle } from './classify.ts';
import type { StatsProcess, StatsSection } from './memory-stats.ts';
import { quote, readPid } from './text.ts';
import type { Reading } from './text.ts';

/**
 * `ps -w` cuts its lines at 132 columns, and the pid, ppid, thread count
 * and VSZ it prints before the command take at most 52 of them (7, 7, 7
 * and 20 digits and their spaces). A name shorter than 80 characters
 * therefore cannot have been cut; a longer one may have been.
 */
export const TRUNCATION_SUSPECT_LENGTH = 80;

/** 2^64 bytes in MB: no process maps more. */
const MAX_MB = 2 ** 44;

/** The value columns after PID; the name follows the last one. */
type Column = 'ppid' | 'threads' | 'vmsize' | 'private' | 'resident';

const COLUMN_BY_HEADING = new Map<string, Column>([
  ['PPID', 'ppid'],
  ['Threads', 'threads'],
  ['VMSize', 'vmsize'],
  ['Private', 'private'],
  ['Resident', 'resident'],
]);

export interface Table {
  readonly section: StatsSection;
  readonly columns: readonly { column: Column; heading: string }[];
  readonly memoryColumn: 'private' | 'resident';
}

/** A token that belongs to the value columns, never to a name. */
const VALUE_TOKEN = /^(?:\d+(?:\.\d+)?|MB|\?)$/;
const MEGABYTES = /^\d+(?:\.\d+)?$/;

/**
 * Reads a table header such as `PID PPID VMSize Private Name`, or the
 * `## PID ...` form one old sample shows. Undefined when the line is not
 * a header at all; a reason when it is one we cannot trust.
 */
export function readHeader(
  line: string,
): Reading<Omit<Table, 'section'>> | undefined {
  const headings = line.replace(/^#+\s*/, '').split(/\s+/);
  if (headings[0] !== 'PID' || headings.at(-1) !== 'Name') return undefined;
  const columns: { column: Column; heading: string }[] = [];
  for (const heading of headings.slice(1, -1)) {
    const column = COLUMN_BY_HEADING.get(heading);
    if (column === undefined) {
      return {
        ok: false,
        reason: `table header has an unknown column ${quote(heading)}`,
      };
    }
    if (columns.some((known) => known.column === column)) {
      return {
        ok: false,
        reason: `table header repeats the column ${quote(heading)}`,
      };
    }
    columns.push({ column, heading });
  }
  const memory = columns.filter(
    ({ column }) => column === 'private' || column === 'resident',
  );
  if (memory.length !== 1 || memory[0] === undefined) {
    return {
      ok: false,
      reason: 'table header needs exactly one Private or Resident column',
    };
  }
  const memoryColumn = memory[0].column === 'private' ? 'private' : 'resident';
  return { ok: true, value: { columns, memoryColumn } };
}

interface Token {
  readonly text: string;
  readonly start: number;
}

/** One process row, with exactly the values its table's header promises. */
export function readRow(
  line: string,
  table: Table,
  lineNumber: number,
): Reading<StatsProcess> {
  const tokens: Token[] = [];
  for (const match of line.matchAll(/\S+/g)) {
    tokens.push({ text: match[0], start: match.index });
  }
  // The line is not blank, so it has a first token.
  const pid = readPid('pid', tokens[0]?.text ?? '');
  if (!pid.ok) return pid;
  let next = 1;
  const values: Partial<Record<Column, number | null>> = {};

  for (const { column, heading } of table.columns) {
    const token = tokens[next++];
    if (token === undefined) {
      return { ok: false, reason: `${heading} is missing` };
    }
    let value: Reading<number | null>;
    if (column === 'ppid') value = readPid('PPID', token.text, 0);
    else if (column === 'threads') value = readPid('Threads', token.text);
    else {
      value = readMegabytes(heading, token.text, tokens[next]?.text);
      if (value.ok && value.value !== null) next++;
    }
    if (!value.ok) return value;
    values[column] = value.value;
  }

  const nameStart = tokens[next];
  if (nameStart === undefined) return { ok: false, reason: 'Name is missing' };
  if (VALUE_TOKEN.test(nameStart.text)) {
    return {
      ok: false,
      reason:
        'Name looks like a value, columns may be shifted: ' +
        quote(line.slice(nameStart.start)),
    };
  }
  const name = line.slice(nameStart.start);
  const process: StatsProcess = {
    section: table.section,
    pid: pid.value,
    vmSizeMb: values.vmsize ?? null,
    memoryMb: values[table.memoryColumn] ?? null,
    memoryColumn: table.memoryColumn,
    name,
    classified: classifyTitle(name),
    lineNumber,
    maybeTruncated: name.length >= TRUNCATION_SUSPECT_LENGTH,
  };
  if (typeof values.ppid === 'number') process.ppid = values.ppid;
  return { ok: true, value: process };
}

/** `12.3 MB` (two tokens) or `?`; null stands for `?`. */
function readMegabytes(
  heading: string,
  amount: string,
  unit: string | undefined,
): Reading<number | null> {
  if (amount === '?') return { ok: true, value: null };
  if (!MEGABYTES.test(amount)) {
    return {
      ok: false,
      reason: `${heading} is not a number of MB or '?': ${quote(amount)}`,
    };
  }
  if (unit !== 'MB') {
    return {
      ok: false,
      reason: `${heading} ${quote(amount)} lacks its unit MB`,
    };
  }
  const value = Number(amount);
  if (!(value <= MAX_MB)) {
    return {
      ok: false,
      reason: `${heading} is larger than any process can be: ${quote(amount)}`,
    };
  }
  return { ok: true, value };
}
