/**
 * The /proc half of a sample: which processes are Passenger's, and for
 * each app worker the facts the kernel keeps (start time, state, memory,
 * owner, working directory).
 *
 * Every process's cmdline is read, because the title is the only way to
 * tell a worker; stat for Passenger's processes; smaps_rollup, status and
 * cwd only for app workers, so that a pass stays a few milliseconds. A
 * process that exits between two reads drops out silently.
 */
import { classifyTitle, titleFromCmdline } from '../core/classify.ts';
import type { TitleClass } from '../core/classify.ts';
import type { MemoryFigures, ProcessRole } from '../core/worker.ts';
import type { ProcRead, ProcSource, ProcStat } from './host.ts';
import { processKey, type MemoryCache } from './memory-cache.ts';

/** A Passenger or web server process that is not an app worker. */
export interface PassengerProcess {
  readonly pid: number;
  readonly startTime: number;
  readonly role: ProcessRole;
  readonly title: string;
  readonly state: string;
  readonly ppid: number;
}

/** An app worker as /proc showed it, before the pool is merged in. */
export interface SeenWorker {
  readonly pid: number;
  readonly title: string;
  readonly titleClass: TitleClass;
  readonly stat: ProcStat;
  memory: MemoryFigures;
  readonly memoryDenied: boolean;
  readonly uid?: number;
  readonly cwd?: string;
}

/** Kernel states of a process that has already exited. */
const EXITED_STATES = new Set(['Z', 'X']);

const UNKNOWN_MEMORY: MemoryFigures = {
  privateDirtyKb: null,
  swapKb: null,
  rssKb: null,
};

export interface ProcScan {
  readonly seen: SeenWorker[];
  readonly others: PassengerProcess[];
}

export function scanProc(
  proc: ProcSource,
  pids: readonly number[],
  problems: string[],
  cache?: { readonly memory: MemoryCache; readonly now: number },
): ProcScan {
  const seen: SeenWorker[] = [];
  const others: PassengerProcess[] = [];
  const candidates: Candidate[] = [];
  const hiddenCmdlines: string[] = [];

  for (const pid of pids) {
    const cmdline = proc.cmdline(pid);
    if (!cmdline.ok) {
      if (cmdline.failure !== 'gone') hiddenCmdlines.push(cmdline.detail);
      continue;
    }
    // kernel threads and zombies have an empty cmdline
    const title = titleFromCmdline(cmdline.value);
    if (title === '') continue;
    const titleClass = classifyTitle(title);
    if (titleClass.role === 'other') continue;

    const stat = proc.stat(pid);
    if (!stat.ok) {
      if (stat.failure !== 'gone') {
        problems.push(`${labelOf(pid, title)}: ${unreadable('stat', stat)}`);
      }
      continue;
    }
    if (titleClass.role !== 'app-worker') {
      const { state, ppid, startTime } = stat.value;
      others.push({
        pid,
        startTime,
        role: titleClass.role,
        title,
        state,
        ppid,
      });
      continue;
    }
    if (EXITED_STATES.has(stat.value.state)) {
      problems.push(
        `${labelOf(pid, title)} has exited but is not yet reaped ` +
          `(state ${stat.value.state}); left out`,
      );
      continue;
    }
    candidates.push({ pid, title, titleClass, stat: stat.value });
  }

  // memory last: the cache must first know which processes came and went
  cache?.memory.beginSample(
    new Set([
      ...others.map((p) => processKey(p)),
      ...candidates.map((c) => processKey(c.stat)),
    ]),
  );
  for (const candidate of candidates) {
    const worker = readWorker(proc, candidate, problems, cache);
    if (worker !== undefined) seen.push(worker);
  }

  if (hiddenCmdlines.length > 0) {
    problems.push(
      `the cmdline of ${hiddenCmdlines.length} process(es) could not be ` +
        `read, so they may be workers left out (first: ${hiddenCmdlines[0]})`,
    );
  }
  return { seen, others };
}

/** An app worker found by its title, before its memory is read. */
interface Candidate {
  readonly pid: number;
  readonly title: string;
  readonly titleClass: TitleClass;
  readonly stat: ProcStat;
}

/** Undefined when the process exited while it was being read. */
function readWorker(
  proc: ProcSource,
  { pid, title, titleClass, stat }: Candidate,
  problems: string[],
  cache?: { readonly memory: MemoryCache; readonly now: number },
): SeenWorker | undefined {
  const who = labelOf(pid, title);

  const kept = cache?.memory.lookup(stat, cache.now);
  const memory: ProcRead<MemoryFigures> = kept
    ? { ok: true, value: kept }
    : proc.memory(pid);
  if (!kept && memory.ok) cache?.memory.store(stat, memory.value, cache.now);
  if (!memory.ok && memory.failure === 'gone') return undefined;
  // denied memory is taken from passenger-memory-stats later; anything
  // else leaves the worker without figures, so the policy leaves it be
  if (!memory.ok && memory.failure === 'unreadable') {
    problems.push(`${who}: ${unreadable('memory', memory)}`);
  }

  const uid = proc.uid(pid);
  if (!uid.ok && uid.failure === 'gone') return undefined;
  if (!uid.ok) problems.push(`${who}: ${unreadable('owner', uid)}`);

  // only a worker whose title names no app needs to say where it runs
  let cwd: string | undefined;
  if (titleClass.group === undefined) {
    const read = proc.cwd(pid);
    if (!read.ok && read.failure === 'gone') return undefined;
    if (read.ok) cwd = read.value;
    else problems.push(`${who}: ${unreadable('working directory', read)}`);
  }

  return {
    pid,
    title,
    titleClass,
    stat,
    memory: memory.ok ? memory.value : UNKNOWN_MEMORY,
    memoryDenied: !memory.ok && memory.failure === 'denied',
    ...(uid.ok ? { uid: uid.value } : {}),
    ...(cwd === undefined ? {} : { cwd }),
  };
}

/** How a problem names a process. */
export function labelOf(pid: number, title: string): string {
  const shown = title.length > 80 ? `${title.slice(0, 77)}...` : title;
  return `pid ${pid} ('${shown}')`;
}

function unreadable(
  what: string,
  read: Extract<ProcRead<unknown>, { ok: false }>,
): string {
  return `its ${what} could not be read (${read.failure}: ${read.detail})`;
}
