/**
 * `passenger-fleet workers`: what the collector sees on this host, or what
 * the parser finds in a saved passenger-memory-stats output, so a user can
 * check what the tool would act on before letting it act.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseMemoryStats } from '../../core/memory-stats.ts';
import { kbToMbRounded } from '../../core/worker.ts';
import { collectSample } from '../collector.ts';
import { LinuxProc } from '../proc.ts';
import { PassengerCommandTools } from '../tools.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { renderTable } from './table.ts';

export interface WorkersFlags {
  readonly json?: boolean;
  readonly statsFile?: string;
  readonly host?: string;
  readonly toolTimeout?: string;
  /** Where proc is mounted; tests point it at a built tree. */
  readonly procRoot?: string;
}

export interface WorkerRow {
  readonly pid: number;
  readonly startTime: number | null;
  readonly app: string | null;
  readonly kind: string;
  readonly privateMb: number | null;
  readonly swapMb: number | null;
  readonly role: string;
  readonly inPool: boolean | null;
}

export async function runWorkers(flags: WorkersFlags): Promise<number> {
  const rows = flags.statsFile
    ? rowsFromStatsFile(flags.statsFile)
    : await rowsFromHost(flags);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return EXIT.ok;
  }
  const table = renderTable(
    ['PID', 'START', 'APP', 'KIND', 'PRIVATE MB', 'SWAP MB', 'ROLE', 'POOL'],
    rows.map((row) => [
      row.pid,
      row.startTime ?? '-',
      row.app ?? '-',
      row.kind,
      row.privateMb ?? '?',
      row.swapMb ?? '-',
      row.role,
      row.inPool === null ? '?' : row.inPool ? 'yes' : 'NO',
    ]),
  );
  process.stdout.write(`${table}\n`);
  return EXIT.ok;
}

function rowsFromStatsFile(path: string): WorkerRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new CliError(
      `--stats-file: cannot read ${path} (${code})`,
      EXIT.noInput,
    );
  }
  const report = parseMemoryStats(text);
  for (const skipped of report.skipped) {
    process.stderr.write(
      `${path}:${skipped.lineNumber}: skipped: ${skipped.reason}\n`,
    );
  }
  return report.processes.map((p) => ({
    pid: p.pid,
    startTime: null,
    app: p.classified.group ?? null,
    kind: p.classified.kind,
    privateMb: p.memoryMb,
    swapMb: null,
    role: p.classified.role,
    inPool: null,
  }));
}

async function rowsFromHost(flags: WorkersFlags): Promise<WorkerRow[]> {
  const timeoutMs = Number(flags.toolTimeout ?? 10) * 1000;
  const sample = await collectSample({
    host: flags.host ?? hostname(),
    proc: new LinuxProc(flags.procRoot ? { root: flags.procRoot } : {}),
    tools: new PassengerCommandTools({ timeoutMs }),
    now: Date.now,
  });
  for (const problem of sample.problems) {
    process.stderr.write(`passenger-fleet: ${problem}\n`);
  }
  const mb = (kb: number | null) => (kb === null ? null : kbToMbRounded(kb));
  const workers: WorkerRow[] = sample.observation.workers.map((w) => ({
    pid: w.identity.pid,
    startTime: w.identity.startTime,
    app: w.app.group,
    kind: w.kind,
    privateMb: mb(w.memory.privateDirtyKb),
    swapMb: mb(w.memory.swapKb),
    role: 'app-worker',
    inPool: sample.observation.poolKnown ? (w.inPool ?? null) : null,
  }));
  const others: WorkerRow[] = sample.others.map((p) => ({
    pid: p.pid,
    startTime: p.startTime,
    app: null,
    kind: 'unknown',
    privateMb: null,
    swapMb: null,
    role: p.role,
    inPool: null,
  }));
  return [...workers, ...others].sort((a, b) => a.pid - b.pid);
}
