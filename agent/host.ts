/**
 * The host as the agent sees it: the kernel's /proc and Passenger's own
 * tools. Both sit behind these interfaces so that the collector and the
 * executor can be tested on a built /proc tree and on stand-in tools, and
 * so that the demo can run the real enforcer without a Passenger.
 */
import type { MemoryFigures } from '../core/worker.ts';

/** Why a /proc read gave nothing. */
export type ProcFailure = 'gone' | 'denied' | 'unreadable';

export type ProcRead<T> =
  | { readonly ok: true; readonly value: T }
  | {
      readonly ok: false;
      readonly failure: ProcFailure;
      readonly detail: string;
    };

/** The fields of /proc/<pid>/stat that we use. */
export interface ProcStat {
  readonly pid: number;
  /** `comm`, at most 15 bytes; may hold spaces and parentheses. */
  readonly comm: string;
  /** R, S, D, Z, T, t, X, I... */
  readonly state: string;
  readonly ppid: number;
  readonly pgrp: number;
  /** Field 22: clock ticks since boot. */
  readonly startTime: number;
  /**
   * Page faults so far, minor and major (fields 10 and 12). Every new
   * private dirty page of a process costs it a fault.
   */
  readonly faults?: number;
  /** Resident pages (field 24). */
  readonly rssPages?: number;
}

export interface ProcSource {
  /** Every numeric entry of /proc, in ascending order. */
  listPids(): number[];
  stat(pid: number): ProcRead<ProcStat>;
  /** Raw cmdline, NULs kept. */
  cmdline(pid: number): ProcRead<string>;
  /** Private_Dirty, Swap and Rss from smaps_rollup (smaps as fallback). */
  memory(pid: number): ProcRead<MemoryFigures>;
  /** Where /proc/<pid>/cwd points. */
  cwd(pid: number): ProcRead<string>;
  /** Real uid from /proc/<pid>/status. */
  uid(pid: number): ProcRead<number>;
  /** Clock ticks per second (CLK_TCK), to turn start times into ages. */
  readonly clockTicks: number;
  /** Boot time in epoch seconds (btime in /proc/stat). */
  bootTime(): number;
}

/** What running one external command gave. */
export interface ToolResult {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  /** The program was not found (ENOENT) or could not be started. */
  readonly missing: boolean;
  readonly elapsedMs: number;
}

/**
 * Passenger's command-line tools. Every call has a timeout and never goes
 * through a shell.
 */
export interface PassengerTools {
  /** `passenger-status --show=xml` */
  poolXml(): Promise<ToolResult>;
  /** `passenger-memory-stats` */
  memoryStats(): Promise<ToolResult>;
  /** `passenger-config detach-process <pid>` */
  detach(pid: number): Promise<ToolResult>;
  /** A user's own graceful command, argv already holding the pid. */
  run(argv: readonly string[]): Promise<ToolResult>;
}

/** Sends signals; the real one is process.kill. */
export interface Signaller {
  /** Throws with code ESRCH when the process is gone. */
  kill(pid: number, signal: NodeJS.Signals): void;
}
