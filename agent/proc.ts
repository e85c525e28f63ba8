/**
 * The kernel's view of processes, read from /proc.
 *
 * Every read is synchronous: each file is a few hundred bytes that the
 * kernel writes on demand, and a collector pass reads a few per process,
 * so promise overhead would cost more than the reads. The root is a
 * constructor option so that tests can point the reader at a built tree.
 *
 * A process may exit between any two reads. Each read therefore returns a
 * ProcRead instead of throwing, telling 'gone' (the process has exited)
 * apart from 'denied' (another user's process, and we are not root).
 */
import {
  closeSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
} from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import type { MemoryFigures } from '../core/worker.ts';
import type { ProcFailure, ProcRead, ProcSource, ProcStat } from './host.ts';

export interface LinuxProcOptions {
  /** Where proc is mounted. @default '/proc' */
  readonly root?: string;
  /**
   * Clock ticks per second. @default read from `<root>/self/auxv`, or 100
   * when that cannot be read (100 is USER_HZ on x86 and arm alike).
   */
  readonly clockTicks?: number;
}

const DEFAULT_CLOCK_TICKS = 100;

/** Fields after the `)` that closes comm, counted from field 3 (state). */
const STATE_INDEX = 0;
const PPID_INDEX = 1;
const PGRP_INDEX = 2;
const START_TIME_INDEX = 22 - 3;
const MINOR_FAULTS_INDEX = 10 - 3;
const MAJOR_FAULTS_INDEX = 12 - 3;
const RSS_PAGES_INDEX = 24 - 3;

/** The smaps keys we keep, each summed over every mapping listed. */
const MEMORY_KEYS = ['Private_Dirty', 'Swap', 'Rss'] as const;
type MemoryKey = (typeof MEMORY_KEYS)[number];

export class LinuxProc implements ProcSource {
  readonly clockTicks: number;
  readonly #root: string;
  #bootTime: number | undefined;

  constructor(options: LinuxProcOptions = {}) {
    this.#root = options.root ?? '/proc';
    if (options.clockTicks !== undefined) {
      if (!Number.isSafeInteger(options.clockTicks) || options.clockTicks < 1) {
        throw new RangeError(
          `clockTicks must be a positive integer, got ${options.clockTicks}`,
        );
      }
      this.clockTicks = options.clockTicks;
    } else {
      this.clockTicks = readClockTicks(this.#root) ?? DEFAULT_CLOCK_TICKS;
    }
  }

  /** Throws when the proc root itself cannot be listed: no pass can run. */
  listPids(): number[] {
    let names: string[];
    try {
      names = readdirSync(this.#root);
    } catch (error) {
      throw new Error(
        `cannot list processes in ${this.#root}: ${errnoOf(error)}`,
        { cause: error },
      );
    }
    return names
      .filter((name) => /^\d+$/.test(name))
      .map(Number)
      .sort((a, b) => a - b);
  }

  stat(pid: number): ProcRead<ProcStat> {
    const path = this.#path(pid, 'stat');
    const read = readText(path);
    if (!read.ok) return read;
    const stat = parseStat(read.value);
    if (stat === undefined) {
      return unreadable(`${path}: not a stat line: '${read.value.trim()}'`);
    }
    return { ok: true, value: stat };
  }

  cmdline(pid: number): ProcRead<string> {
    return readText(this.#path(pid, 'cmdline'));
  }

  memory(pid: number): ProcRead<MemoryFigures> {
    const rollup = readText(this.#path(pid, 'smaps_rollup'));
    // smaps_rollup exists since Linux 4.14; before that, or when it is
    // missing for another reason, summing every mapping gives the same.
    const read =
      !rollup.ok && rollup.failure === 'gone'
        ? readText(this.#path(pid, 'smaps'))
        : rollup;
    if (!read.ok) return read;
    return { ok: true, value: parseSmaps(read.value) };
  }

  cwd(pid: number): ProcRead<string> {
    const path = this.#path(pid, 'cwd');
    try {
      return { ok: true, value: readlinkSync(path) };
    } catch (error) {
      return failureOf(error, path);
    }
  }

  uid(pid: number): ProcRead<number> {
    const path = this.#path(pid, 'status');
    const read = readText(path);
    if (!read.ok) return read;
    // `Uid:` lists real, effective, saved and filesystem uids; real first.
    const match = /^Uid:\s+(\d+)/m.exec(read.value);
    if (match === null) return unreadable(`${path}: no Uid line`);
    return { ok: true, value: Number(match[1]) };
  }

  /** Throws when btime cannot be read: ages are then unknowable. */
  bootTime(): number {
    if (this.#bootTime !== undefined) return this.#bootTime;
    const path = join(this.#root, 'stat');
    const read = readText(path);
    if (!read.ok) {
      throw new Error(`cannot read boot time from ${read.detail}`);
    }
    const match = /^btime\s+(\d+)\s*$/m.exec(read.value);
    if (match === null) {
      throw new Error(`cannot read boot time: ${path} has no btime line`);
    }
    this.#bootTime = Number(match[1]);
    return this.#bootTime;
  }

  #path(pid: number, file: string): string {
    return join(this.#root, String(pid), file);
  }
}

/**
 * `pid (comm) state ppid pgrp ...`. comm may hold spaces and parentheses
 * (`Passenger NodeA`, or any name a program gives itself), so the fields
 * start after the last `)`, never at a split on spaces.
 */
export function parseStat(line: string): ProcStat | undefined {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(line.slice(0, open).trim());
  const fields = line
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const state = fields[STATE_INDEX];
  const ppid = Number(fields[PPID_INDEX]);
  const pgrp = Number(fields[PGRP_INDEX]);
  const startTime = Number(fields[START_TIME_INDEX]);
  if (state === undefined || !/^[A-Za-z]$/.test(state)) return undefined;
  if (![pid, ppid, pgrp, startTime].every(Number.isSafeInteger)) {
    return undefined;
  }
  const faults =
    Number(fields[MINOR_FAULTS_INDEX]) + Number(fields[MAJOR_FAULTS_INDEX]);
  const rssPages = Number(fields[RSS_PAGES_INDEX]);
  return {
    pid,
    comm: line.slice(open + 1, close),
    state,
    ppid,
    pgrp,
    startTime,
    ...(Number.isSafeInteger(faults) ? { faults } : {}),
    ...(Number.isSafeInteger(rssPages) ? { rssPages } : {}),
  };
}

/**
 * Sums Private_Dirty, Swap and Rss over every mapping in smaps, or takes
 * the one total of smaps_rollup. A figure never listed stays null: a
 * zombie's file is empty, and zero would read as "measured, tiny".
 */
export function parseSmaps(text: string): MemoryFigures {
  const totals = new Map<MemoryKey, number>();
  for (const match of text.matchAll(/^(\w+):\s+(\d+) kB$/gm)) {
    const key = match[1] as MemoryKey;
    if (!MEMORY_KEYS.includes(key)) continue;
    totals.set(key, (totals.get(key) ?? 0) + Number(match[2]));
  }
  return {
    privateDirtyKb: totals.get('Private_Dirty') ?? null,
    swapKb: totals.get('Swap') ?? null,
    rssKb: totals.get('Rss') ?? null,
  };
}

/** How a failed read of a /proc file is reported. */
export function failureOf(
  error: unknown,
  path: string,
): Extract<ProcRead<never>, { ok: false }> {
  const code = errnoOf(error);
  return { ok: false, failure: failureKind(code), detail: `${path}: ${code}` };
}

function failureKind(code: string): ProcFailure {
  // ESRCH comes from a file opened just before its process exited.
  if (code === 'ENOENT' || code === 'ESRCH') return 'gone';
  if (code === 'EACCES' || code === 'EPERM') return 'denied';
  return 'unreadable';
}

/**
 * One buffer for every read: /proc files claim a size of 0, so
 * readFileSync probes and grows a fresh buffer per file, which made up
 * most of a sample's user time over a few hundred processes.
 */
const SCRATCH_KEEP_BYTES = 64 * 1024;
let scratch = Buffer.allocUnsafe(SCRATCH_KEEP_BYTES);

function readText(path: string): ProcRead<string> {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    let length = 0;
    for (;;) {
      if (length === scratch.length) {
        const larger = Buffer.allocUnsafe(scratch.length * 2);
        scratch.copy(larger, 0, 0, length);
        scratch = larger;
      }
      const read = readSync(fd, scratch, length, scratch.length - length, null);
      if (read === 0) break;
      length += read;
    }
    const value = scratch.toString('utf8', 0, length);
    // A whole smaps can take megabytes; do not keep that much for ever.
    if (scratch.length > SCRATCH_KEEP_BYTES) {
      scratch = Buffer.allocUnsafe(SCRATCH_KEEP_BYTES);
    }
    return { ok: true, value };
  } catch (error) {
    return failureOf(error, path);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function unreadable(detail: string): ProcRead<never> {
  return { ok: false, failure: 'unreadable', detail };
}

function errnoOf(error: unknown): string {
  if (error instanceof Error && 'code' in error) return String(error.code);
  return String(error);
}

/** AT_CLKTCK in the ELF auxiliary vector the kernel gave this process. */
const AT_CLKTCK = 17n;
const ARCHES_WITH_64_BIT_WORDS = new Set([
  'arm64',
  'loong64',
  'mips64el',
  'ppc64',
  'riscv64',
  's390x',
  'x64',
]);

/**
 * The kernel hands every process CLK_TCK in its auxiliary vector; reading
 * it costs no child process, unlike `getconf CLK_TCK`. Undefined when the
 * vector is absent (a built tree) or the word size is not one we know.
 */
function readClockTicks(root: string): number | undefined {
  if (!ARCHES_WITH_64_BIT_WORDS.has(process.arch)) return undefined;
  let vector: Buffer;
  try {
    vector = readFileSync(join(root, 'self', 'auxv'));
  } catch {
    return undefined;
  }
  const littleEndian = endianness() === 'LE';
  for (let offset = 0; offset + 16 <= vector.length; offset += 16) {
    const type = littleEndian
      ? vector.readBigUInt64LE(offset)
      : vector.readBigUInt64BE(offset);
    if (type !== AT_CLKTCK) continue;
    const value = littleEndian
      ? vector.readBigUInt64LE(offset + 8)
      : vector.readBigUInt64BE(offset + 8);
    const ticks = Number(value);
    return ticks >= 1 && ticks <= 100_000 ? ticks : undefined;
  }
  return undefined;
}
