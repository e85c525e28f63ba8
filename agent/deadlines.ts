/**
 * Holds every victim whose graceful step has run and whose grace time is
 * counting down, and SIGKILLs each one that is still there at its
 * deadline.
 *
 * passenger_monitor4 waited for one worker after another, so the tenth
 * bloated worker was killed ten grace times late. Here each victim has its
 * own timer, set for its own deadline, and one shared poll notices the
 * victims that leave by themselves:
 *
 *   watch()        poll every pollMs            deadline
 *     |---------------|-------|-------|-----------|
 *     gone at a poll: settled 'gone', no signal    still there: force-kill
 */
import type { Order, Outcome } from '../core/order.ts';
import { identityKey } from '../core/worker.ts';
import type { Executor } from './executor.ts';
import type { ProcSource } from './host.ts';
import { exitedSince } from './verify.ts';

export interface DeadlineWatcherOptions {
  readonly executor: Pick<Executor, 'carryOut'>;
  readonly proc: ProcSource;
  readonly now: () => number;
  /** Told once per victim; must not throw. */
  readonly onSettled: (order: Order, outcome: Outcome) => void;
  /** How often victims are looked at. @default 250 */
  readonly pollMs?: number;
  /**
   * Whether pending deadlines keep Node running, so that a `--once` run
   * waits for them. @default true
   */
  readonly keepAlive?: boolean;
}

interface Victim {
  readonly order: Order;
  readonly deadlineMs: number;
  timer: NodeJS.Timeout | undefined;
  /** The force-kill is under way; it can no longer be cancelled. */
  firing: boolean;
}

/** setTimeout's largest delay; longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class DeadlineWatcher {
  readonly #options: DeadlineWatcherOptions;
  readonly #pollMs: number;
  readonly #victims = new Map<string, Victim>();
  #pollTimer: NodeJS.Timeout | undefined;
  #idleWaiters: (() => void)[] = [];
  #closed = false;

  constructor(options: DeadlineWatcherOptions) {
    const pollMs = options.pollMs ?? 250;
    if (!Number.isFinite(pollMs) || pollMs <= 0) {
      throw new Error(`pollMs must be a positive number of ms, got ${pollMs}`);
    }
    this.#options = options;
    this.#pollMs = pollMs;
  }

  /** Victims being waited for or being killed. */
  get size(): number {
    return this.#victims.size;
  }

  /**
   * Starts waiting for one victim. Returns false when the same process is
   * already watched: its earlier deadline stands.
   */
  watch(order: Order, deadlineMs: number): boolean {
    const pid = order.identity.pid;
    if (this.#closed) {
      throw new Error(`DeadlineWatcher is closed; cannot watch pid ${pid}`);
    }
    if (order.action !== 'force-kill') {
      throw new Error(
        `DeadlineWatcher.watch needs order.action 'force-kill', got ` +
          `'${order.action}' for pid ${pid}`,
      );
    }
    if (!Number.isFinite(deadlineMs)) {
      throw new Error(
        `deadlineMs must be an epoch ms time, got ${deadlineMs} for pid ${pid}`,
      );
    }
    const key = identityKey(order.identity);
    if (this.#victims.has(key)) return false;
    const victim: Victim = {
      order,
      deadlineMs,
      timer: undefined,
      firing: false,
    };
    this.#victims.set(key, victim);
    this.#arm(key, victim);
    this.#startPolling();
    return true;
  }

  /** Stops waiting for a victim; false when unknown or already firing. */
  cancel(order: Order): boolean {
    const key = identityKey(order.identity);
    const victim = this.#victims.get(key);
    if (victim === undefined || victim.firing) return false;
    clearTimeout(victim.timer);
    this.#victims.delete(key);
    this.#afterRemoval();
    return true;
  }

  /** Resolves once nothing is watched. */
  settled(): Promise<void> {
    if (this.#victims.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Drops every waiting victim without settling it. A force-kill already
   * under way still finishes and is still reported: it has happened.
   */
  close(): void {
    this.#closed = true;
    for (const [key, victim] of this.#victims) {
      if (victim.firing) continue;
      clearTimeout(victim.timer);
      this.#victims.delete(key);
    }
    this.#afterRemoval();
  }

  #arm(key: string, victim: Victim): void {
    const waitMs = victim.deadlineMs - this.#options.now();
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, waitMs));
    victim.timer = this.#maybeUnref(
      setTimeout(() => this.#onDeadline(key, victim), delay),
    );
  }

  #onDeadline(key: string, victim: Victim): void {
    if (this.#victims.get(key) !== victim) return;
    // Timers may fire a little early, and long waits come in slices.
    if (this.#options.now() < victim.deadlineMs) {
      this.#arm(key, victim);
      return;
    }
    victim.firing = true;
    victim.timer = undefined;
    this.#options.executor.carryOut(victim.order).then(
      (outcome) => this.#settle(key, victim, outcome),
      (error: unknown) =>
        this.#settle(key, victim, {
          status: 'failed',
          reason:
            `force-kill of pid ${victim.order.identity.pid} failed ` +
            `unexpectedly: ${error instanceof Error ? error.message : error}`,
          at: this.#options.now(),
        }),
    );
  }

  #startPolling(): void {
    if (this.#pollTimer !== undefined) return;
    this.#pollTimer = this.#maybeUnref(
      setInterval(() => this.#poll(), this.#pollMs),
    );
  }

  /** Settles as 'gone' every waiting victim that has left by itself. */
  #poll(): void {
    for (const [key, victim] of [...this.#victims]) {
      if (victim.firing || this.#victims.get(key) !== victim) continue;
      const exited = exitedSince(this.#options.proc, victim.order.identity);
      if (exited === undefined) continue;
      clearTimeout(victim.timer);
      this.#settle(key, victim, {
        status: 'gone',
        reason: `${exited} before its deadline`,
        at: this.#options.now(),
      });
    }
  }

  #settle(key: string, victim: Victim, outcome: Outcome): void {
    if (this.#victims.get(key) === victim) this.#victims.delete(key);
    try {
      this.#options.onSettled(victim.order, outcome);
    } finally {
      this.#afterRemoval();
    }
  }

  #afterRemoval(): void {
    if (this.#victims.size > 0) return;
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #maybeUnref(timer: NodeJS.Timeout): NodeJS.Timeout {
    if (this.#options.keepAlive === false) timer.unref();
    return timer;
  }
}
