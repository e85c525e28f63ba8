/**
 * The host's deadline promises, kept on disk so that they outlive the
 * process that made them. `execute` writes one file per victim whose
 * deadline it waits for and removes it once the victim is settled. If
 * `execute` dies first (the SSM Agent restarted and ended its commands,
 * the OOM killer, an operator), the agent daemon finds the file with its
 * writer gone and keeps the promise (deadline-handover.ts).
 *
 *   execute: graceful step ──> write ──> wait ──> settled ──> remove
 *                                          │
 *                                     dies here
 *                                          │
 *   agent:  each tick, orphaned() ──> adopt: same forced kill, same
 *           re-checks, same deadline (at once if it has passed) ──> remove
 *
 * The default directory is under /run, a tmpfs: a reboot, which ends the
 * workers as well, also clears their promises. Files are written to a
 * temporary name and renamed, so a reader never sees half a promise.
 */
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { MEASURES } from '../core/measure.ts';
import type { Order } from '../core/order.ts';
import type { ProcSource } from './host.ts';

export const DEFAULT_SPOOL_DIR = '/run/passenger-fleet/deadlines';

/** The process that made a promise, as /proc names it. */
export interface SpoolWriter {
  readonly pid: number;
  readonly startTime: number;
}

export interface SpooledDeadline {
  readonly order: Order;
  /** Epoch ms from which the forced kill is due. */
  readonly deadlineMs: number;
  readonly writer: SpoolWriter;
}

/** What one look at the spool found. */
export interface SpoolScan {
  /** Promises whose writer has exited: nobody keeps them. */
  readonly orphaned: readonly SpooledDeadline[];
  /** Promises a live writer still keeps. */
  readonly kept: number;
  /** Files that are not a promise; each moved aside, never acted on. */
  readonly unreadable: readonly string[];
}

const whole = z.number().int().nonnegative();
const ENTRY = z
  .object({
    order: z
      .object({
        identity: z
          .object({
            host: z.string().min(1),
            pid: whole.min(2),
            startTime: whole,
          })
          .strict(),
        app: z.string().min(1),
        action: z.literal('force-kill'),
        measure: z.enum(MEASURES).optional(),
        uid: whole.optional(),
      })
      .strict(),
    deadlineMs: whole,
    writer: z.object({ pid: whole.min(1), startTime: whole }).strict(),
  })
  .strict();

const SUFFIX = '.json';
const ASIDE = '.unreadable';
/** `<pid>-<startTime>.json.<writer pid>.tmp`, before its rename. */
const TEMPORARY = '.tmp';

export interface DeadlineSpoolOptions {
  readonly dir?: string;
  readonly proc: ProcSource;
}

export class DeadlineSpool {
  readonly dir: string;
  readonly #proc: ProcSource;

  constructor(options: DeadlineSpoolOptions) {
    this.dir = options.dir ?? DEFAULT_SPOOL_DIR;
    this.#proc = options.proc;
  }

  /** Records the promise; throws when the disk refuses it. */
  write(order: Order, deadlineMs: number, writer: SpoolWriter): void {
    if (order.action !== 'force-kill') {
      throw new Error(
        `only a forced kill is spooled; got action '${order.action}' for ` +
          `pid ${order.identity.pid}`,
      );
    }
    const entry: SpooledDeadline = {
      order: {
        identity: order.identity,
        app: order.app,
        action: 'force-kill',
        ...(order.measure && { measure: order.measure }),
        ...(order.uid !== undefined && { uid: order.uid }),
      },
      deadlineMs,
      writer,
    };
    ENTRY.parse(entry);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = this.#pathOf(order);
    const temporary = `${path}.${writer.pid}${TEMPORARY}`;
    writeFileSync(temporary, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    renameSync(temporary, path);
  }

  /** Forgets the promise for this worker; nothing if there is none. */
  remove(order: Pick<Order, 'identity'>): void {
    rmSync(this.#pathOf(order), { force: true });
  }

  /** Every promise on file, sorted by whether its writer still lives. */
  scan(): SpoolScan {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return { orphaned: [], kept: 0, unreadable: [] };
      }
      throw error;
    }
    const orphaned: SpooledDeadline[] = [];
    const unreadable: string[] = [];
    let kept = 0;
    for (const name of names.sort()) {
      if (name.endsWith(TEMPORARY)) {
        this.#dropAbandoned(name);
        continue;
      }
      if (!name.endsWith(SUFFIX)) continue;
      const path = join(this.dir, name);
      const entry = this.#read(path);
      // Settled and removed by its writer since readdir.
      if (entry === 'gone') continue;
      if (entry === undefined) {
        unreadable.push(name);
        rmSync(`${path}${ASIDE}`, { force: true });
        renameSync(path, `${path}${ASIDE}`);
        continue;
      }
      if (this.#alive(entry.writer)) kept++;
      else orphaned.push(entry);
    }
    return { orphaned, kept, unreadable };
  }

  /**
   * A temporary file whose writer died before renaming it promised
   * nothing yet; one whose writer pid is still in use is left, since the
   * name has no start time to tell a reused pid apart.
   */
  #dropAbandoned(name: string): void {
    const writerPid = Number(/\.(\d+)\.tmp$/.exec(name)?.[1]);
    if (!Number.isInteger(writerPid) || this.#proc.stat(writerPid).ok) return;
    rmSync(join(this.dir, name), { force: true });
  }

  #read(path: string): SpooledDeadline | 'gone' | undefined {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
      return undefined;
    }
    try {
      const parsed = ENTRY.safeParse(JSON.parse(text));
      return parsed.success ? (parsed.data as SpooledDeadline) : undefined;
    } catch {
      return undefined;
    }
  }

  #alive(writer: SpoolWriter): boolean {
    const stat = this.#proc.stat(writer.pid);
    return (
      stat.ok &&
      stat.value.startTime === writer.startTime &&
      stat.value.state !== 'Z'
    );
  }

  #pathOf(order: Pick<Order, 'identity'>): string {
    const { pid, startTime } = order.identity;
    return join(this.dir, `${pid}-${startTime}${SUFFIX}`);
  }
}

/** This process as a spool writer, or undefined if /proc cannot say. */
export function thisWriter(proc: ProcSource): SpoolWriter | undefined {
  const stat = proc.stat(process.pid);
  return stat.ok
    ? { pid: process.pid, startTime: stat.value.startTime }
    : undefined;
}
