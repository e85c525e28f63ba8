/**
 * The few /proc reads the e2e tests need to judge the enforcer from the
 * outside. Deliberately independent of agent/: a test that used the code
 * under test to check that code would be blind to its bugs.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface ProcessFacts {
  readonly pid: number;
  readonly state: string;
  readonly ppid: number;
  /** Field 22 of /proc/<pid>/stat, clock ticks since boot. */
  readonly startTime: number;
}

/** Stat fields, or undefined when the process is gone. */
export function readStat(pid: number): ProcessFacts | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may hold spaces and parentheses; only the last ')' ends it.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field N sits at index N - 3.
  return {
    pid,
    state: fields[0] ?? '?',
    ppid: Number(fields[1]),
    startTime: Number(fields[19]),
  };
}

/** A process that still runs: present and not a zombie or dead entry. */
export function isRunning(pid: number, startTime?: number): boolean {
  const facts = readStat(pid);
  if (facts === undefined) return false;
  if (facts.state === 'Z' || facts.state === 'X') return false;
  return startTime === undefined || facts.startTime === startTime;
}

/** The title a process shows, NULs turned into spaces; '' when gone. */
export function readTitle(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .replace(/\0+/g, ' ')
      .trim();
  } catch {
    return '';
  }
}

export function readCwd(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined;
  }
}

/** Private_Dirty in kB from smaps_rollup, or undefined when unreadable. */
export function readPrivateDirtyKb(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const match = /^Private_Dirty:\s+(\d+) kB$/m.exec(text);
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** VmRSS in kB from /proc/<pid>/status, or undefined when gone. */
export function readResidentKb(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(text);
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

export function listPids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .sort((a, b) => a - b);
}

/** Running processes whose title matches, with their stat facts. */
export function findProcesses(
  matches: (title: string, pid: number) => boolean,
): ProcessFacts[] {
  const found: ProcessFacts[] = [];
  for (const pid of listPids()) {
    const title = readTitle(pid);
    if (title === '' || !matches(title, pid)) continue;
    const facts = readStat(pid);
    if (facts !== undefined && facts.state !== 'Z') found.push(facts);
  }
  return found;
}
