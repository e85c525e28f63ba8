/**
 * A lock file so that overlapping runs never act together (the cron entry
 * of passenger_monitor4 needed lockrun for this).
 *
 * The file holds the holder's pid and start time. A lock whose holder has
 * exited, or whose pid now belongs to another process, is stale and is
 * taken over with a warning; a live holder makes the caller give up.
 *
 * Written by hand rather than with proper-lockfile: that library judges
 * staleness by a modification time that its holder must keep refreshing,
 * while on Linux the pid and start time tell exactly whether the holder
 * still lives. Two runs that find the same stale lock in the same instant
 * could both take it; the re-read after writing narrows that to the
 * moment between two syscalls, and cron starts runs a minute apart.
 */
import {
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
  closeSync,
} from 'node:fs';
import type { ProcSource } from './host.ts';

export interface LockHolder {
  readonly pid: number;
  readonly startTime: number;
  readonly since: string;
}

export type LockAttempt =
  | {
      readonly ok: true;
      readonly release: () => void;
      readonly tookOver?: string;
    }
  | { readonly ok: false; readonly reason: string };

export function acquireLock(path: string, proc: ProcSource): LockAttempt {
  const me = proc.stat(process.pid);
  if (!me.ok) {
    return {
      ok: false,
      reason: `cannot read our own start time: ${me.detail}`,
    };
  }
  const holder: LockHolder = {
    pid: process.pid,
    startTime: me.value.startTime,
    since: new Date().toISOString(),
  };
  let tookOver: string | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    const created = tryCreate(path, holder);
    if (created === 'created') {
      if (!holdsLock(path, holder)) {
        return { ok: false, reason: `lock ${path} was taken by another run` };
      }
      const release = () => {
        if (holdsLock(path, holder)) unlinkSync(path);
      };
      return tookOver ? { ok: true, release, tookOver } : { ok: true, release };
    }
    if (created !== 'exists') return { ok: false, reason: created };
    const current = readHolder(path);
    const liveness = current && describeLiveHolder(current, proc);
    if (liveness) {
      return {
        ok: false,
        reason: `another run (${liveness}) holds the lock ${path}`,
      };
    }
    tookOver = current
      ? `took over the stale lock ${path} of pid ${current.pid}, which has exited`
      : `took over the unreadable lock ${path}`;
    try {
      unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        return {
          ok: false,
          reason: `cannot remove stale lock ${path}: ${String(error)}`,
        };
      }
    }
  }
  return { ok: false, reason: `lock ${path} keeps being taken; try again` };
}

function tryCreate(
  path: string,
  holder: LockHolder,
): 'created' | 'exists' | string {
  try {
    const fd = openSync(path, 'wx', 0o644);
    try {
      writeSync(fd, `${JSON.stringify(holder)}\n`);
    } finally {
      closeSync(fd);
    }
    return 'created';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return 'exists';
    return `cannot create lock ${path}: ${code ?? String(error)}`;
  }
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    if (typeof value.pid !== 'number' || typeof value.startTime !== 'number') {
      return undefined;
    }
    return {
      pid: value.pid,
      startTime: value.startTime,
      since: String(value.since),
    };
  } catch {
    return undefined;
  }
}

function holdsLock(path: string, holder: LockHolder): boolean {
  const current = readHolder(path);
  return current?.pid === holder.pid && current.startTime === holder.startTime;
}

/** A description of the holder if it is still alive, else undefined. */
function describeLiveHolder(holder: LockHolder, proc: ProcSource) {
  const stat = proc.stat(holder.pid);
  if (!stat.ok)
    return stat.failure === 'gone' ? undefined : `pid ${holder.pid}`;
  if (stat.value.startTime !== holder.startTime) return undefined;
  if (stat.value.state === 'Z' || stat.value.state === 'X') return undefined;
  return `pid ${holder.pid} since ${holder.since}`;
}
