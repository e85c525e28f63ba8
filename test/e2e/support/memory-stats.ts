/**
 * The Private column of `passenger-memory-stats`'s Passenger table, read
 * on its own (not with the agent's parser): the e2e tests and the bench
 * hold the collector's figures against what Passenger's tool prints.
 */
import { runCommand } from './command.ts';

export interface MemoryStatsRow {
  readonly pid: number;
  /** MB with one decimal as printed, or null for `?`. */
  readonly privateMb: number | null;
  readonly name: string;
}

const ANSI_ESCAPE = new RegExp(String.raw`\u001b\[[0-9;]*m`, 'g');
const ROW = /^(\d+)\s+[\d.]+ MB\s+(?:([\d.]+) MB|\?)\s+(.+)$/;
const TIMEOUT_MS = 30_000;

export async function runMemoryStats(): Promise<MemoryStatsRow[]> {
  const result = await runCommand('passenger-memory-stats', [], {
    timeoutMs: TIMEOUT_MS,
    env: { ...process.env, LC_ALL: 'C', COLUMNS: undefined },
  });
  if (result.missing || result.timedOut || result.exitCode !== 0) {
    throw new Error(
      `passenger-memory-stats failed (exit ${result.exitCode}, ` +
        `timed out: ${result.timedOut}): ${result.stderr.trim().slice(0, 300)}`,
    );
  }
  return parsePassengerTable(result.stdout);
}

/** Rows of the Passenger section only; Apache and Nginx rows are skipped. */
export function parsePassengerTable(text: string): MemoryStatsRow[] {
  const lines = text.replace(ANSI_ESCAPE, '').split(/\r?\n/);
  const start = lines.findIndex((line) => /-+ Passenger processes/.test(line));
  if (start < 0) return [];
  const rows: MemoryStatsRow[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('###')) break;
    const match = ROW.exec(line.trim());
    if (match === null) continue;
    rows.push({
      pid: Number(match[1]),
      privateMb: match[2] === undefined ? null : Number(match[2]),
      name: (match[3] ?? '').trim(),
    });
  }
  return rows;
}
