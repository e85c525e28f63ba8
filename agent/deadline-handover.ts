/**
 * The agent daemon's side of the deadline spool: each tick it looks for
 * promises whose `execute` died and keeps them with its own
 * DeadlineWatcher, through the same Executor, so the forced kill re-checks
 * the process (same start time, an app worker of that app, its owner)
 * exactly as `execute` would have. A deadline already past is due at once.
 *
 * The daemon holds adopted promises only in memory and leaves their files
 * until each is settled: a daemon that restarts adopts them again.
 */
import type { Order, Outcome } from '../core/order.ts';
import { identityKey } from '../core/worker.ts';
import { DeadlineSpool } from './deadline-spool.ts';
import { DeadlineWatcher } from './deadlines.ts';
import type { EventLog } from './decision-log.ts';
import { Executor } from './executor.ts';
import type { PassengerTools, ProcSource } from './host.ts';

export interface DeadlineHandoverOptions {
  readonly spool: Pick<DeadlineSpool, 'scan' | 'remove' | 'dir'>;
  readonly watcher: Pick<DeadlineWatcher, 'watch' | 'close'>;
  readonly log: Pick<EventLog, 'info' | 'warn' | 'error'>;
}

export class DeadlineHandover {
  readonly #options: DeadlineHandoverOptions;
  /** Identity keys adopted and not yet settled. */
  readonly #adopted = new Set<string>();

  constructor(options: DeadlineHandoverOptions) {
    this.#options = options;
  }

  /** Promises adopted and not yet settled. */
  get adopted(): number {
    return this.#adopted.size;
  }

  /** Adopts the orphaned promises not yet adopted; never throws. */
  adopt(): number {
    const { spool, watcher, log } = this.#options;
    let scan;
    try {
      scan = spool.scan();
    } catch (error) {
      log.error('deadline spool unreadable; nothing adopted', {
        event: 'spool-unreadable',
        dir: spool.dir,
        error: (error as Error).message,
      });
      return 0;
    }
    for (const name of scan.unreadable) {
      log.error('spooled deadline unreadable; moved aside, not acted on', {
        event: 'spool-entry-unreadable',
        dir: spool.dir,
        file: name,
      });
    }
    let adopted = 0;
    for (const { order, deadlineMs, writer } of scan.orphaned) {
      const key = identityKey(order.identity);
      if (this.#adopted.has(key)) continue;
      if (!watcher.watch(order, deadlineMs)) continue;
      this.#adopted.add(key);
      adopted++;
      log.warn('deadline adopted: the command waiting for it is gone', {
        event: 'deadline-adopted',
        decision: 'force-kill',
        app: order.app,
        pid: order.identity.pid,
        startTime: order.identity.startTime,
        deadline: new Date(deadlineMs).toISOString(),
        writerPid: writer.pid,
      });
    }
    return adopted;
  }

  /**
   * Stops waiting. Promises not yet due stay in the spool, where the next
   * daemon adopts them.
   */
  close(): void {
    this.#options.watcher.close();
    this.#adopted.clear();
  }

  /** The watcher's onSettled for adopted promises. */
  settled(order: Order, outcome: Outcome): void {
    const { spool, log } = this.#options;
    this.#adopted.delete(identityKey(order.identity));
    log.info('adopted deadline settled', {
      event: 'deadline-settled',
      decision: 'force-kill',
      app: order.app,
      pid: order.identity.pid,
      startTime: order.identity.startTime,
      outcome: outcome.status,
      reason: outcome.reason,
    });
    try {
      spool.remove(order);
    } catch (error) {
      log.error('settled deadline not removed from the spool', {
        event: 'spool-remove-failed',
        dir: spool.dir,
        pid: order.identity.pid,
        error: (error as Error).message,
      });
    }
  }
}

/** The handover as the daemon runs it, on this host's /proc and tools. */
export function hostDeadlineHandover(options: {
  readonly host: string;
  readonly proc: ProcSource;
  readonly tools: PassengerTools;
  readonly log: Pick<EventLog, 'info' | 'warn' | 'error'>;
  /** @default DEFAULT_SPOOL_DIR */
  readonly spoolDir?: string;
  /** How often adopted victims are looked at. @default 250 */
  readonly pollMs?: number;
}): DeadlineHandover {
  const { host, proc, tools, log } = options;
  const executor = new Executor({ host, proc, tools, now: Date.now });
  const spool = new DeadlineSpool({
    proc,
    ...(options.spoolDir !== undefined && { dir: options.spoolDir }),
  });
  const watcher = new DeadlineWatcher({
    executor,
    proc,
    now: Date.now,
    onSettled: (order, outcome) => handover.settled(order, outcome),
    ...(options.pollMs !== undefined && { pollMs: options.pollMs }),
    // The daemon's own loop keeps Node running.
    keepAlive: false,
  });
  const handover = new DeadlineHandover({ spool, watcher, log });
  return handover;
}
