/**
 * The score of a run, kept from the world's side: it knows every
 * worker's true memory and identity, so it can judge each action the
 * host side carries out, whoever ordered it.
 *
 *   wrong kill     a graceful step or SIGKILL that reached anything but a
 *                  marked (for SIGKILL), still-same, over-limit worker
 *   double action  a second graceful step on one worker
 *   latency        breach (the exact instant memory crossed the limit)
 *                  to the graceful step, for breaches after the warm-up
 *                  (a fleet just started has a backlog and no census)
 *   lateness       SIGKILL time minus the deadline the host promised
 */
import type { SimWorker, World } from './world.ts';

export type Killer = 'host' | 'controller';

export interface Violation {
  readonly host: string;
  readonly pid: number;
  readonly startTime: number;
  readonly at: number;
  readonly what: string;
}

interface Mark {
  readonly gracefulAt: number;
  readonly deadline: number;
}

export interface LedgerTotals {
  readonly gracefulSteps: number;
  readonly kills: number;
  readonly killsByHost: number;
  readonly killsByController: number;
  readonly wrongKills: number;
  readonly doubleActions: number;
  /** SIGKILLs before the promised deadline (counted apart from wrong). */
  readonly earlyKills: number;
  readonly violations: readonly Violation[];
  /** Seconds from breach to graceful step, one per worker acted on. */
  readonly breachToGracefulS: readonly number[];
  /** Seconds past the deadline, one per SIGKILL. */
  readonly forcedLatenessS: readonly number[];
}

export class Ledger {
  readonly #world: World;
  readonly #measureFrom: number;
  readonly #marks = new Map<SimWorker, Mark>();
  readonly #violations: Violation[] = [];
  readonly #latencies: number[] = [];
  readonly #lateness: number[] = [];
  #graceful = 0;
  #killsByHost = 0;
  #killsByController = 0;
  #wrong = 0;
  #double = 0;
  #early = 0;

  /** Latencies count for breaches at or after `measureFrom` only. */
  constructor(world: World, measureFrom: number) {
    this.#world = world;
    this.#measureFrom = measureFrom;
  }

  /** Call right before the world detaches the worker. */
  graceful(worker: SimWorker, at: number, graceSeconds: number): void {
    this.#graceful++;
    if (this.#marks.has(worker)) {
      this.#double++;
      this.#violate(worker, at, 'a second graceful step');
      return;
    }
    if (!this.#fairTarget(worker, at, 'graceful step')) return;
    this.#marks.set(worker, {
      gracefulAt: at,
      deadline: at + graceSeconds * 1000,
    });
    const breach = this.#world.breachAt(worker);
    if (breach !== null && breach >= this.#measureFrom) {
      this.#latencies.push((at - breach) / 1000);
    }
  }

  /** Call right before the world SIGKILLs a live worker. */
  kill(worker: SimWorker, at: number, by: Killer): void {
    if (by === 'host') this.#killsByHost++;
    else this.#killsByController++;
    const mark = this.#marks.get(worker);
    if (mark === undefined) {
      this.#wrong++;
      this.#violate(worker, at, `SIGKILL by the ${by} of an unmarked worker`);
      return;
    }
    if (!this.#fairTarget(worker, at, `SIGKILL by the ${by}`)) return;
    if (at < mark.deadline) {
      this.#early++;
      this.#violate(
        worker,
        at,
        `SIGKILL by the ${by} ${mark.deadline - at} ms before its deadline`,
      );
    }
    this.#lateness.push(Math.max(0, at - mark.deadline) / 1000);
  }

  /** The promised deadline of a worker given its graceful step. */
  deadlineOf(worker: SimWorker): number | undefined {
    return this.#marks.get(worker)?.deadline;
  }

  marked(): ReadonlyMap<SimWorker, Mark> {
    return this.#marks;
  }

  totals(): LedgerTotals {
    return {
      gracefulSteps: this.#graceful,
      kills: this.#killsByHost + this.#killsByController,
      killsByHost: this.#killsByHost,
      killsByController: this.#killsByController,
      wrongKills: this.#wrong,
      doubleActions: this.#double,
      earlyKills: this.#early,
      violations: [...this.#violations],
      breachToGracefulS: [...this.#latencies],
      forcedLatenessS: [...this.#lateness],
    };
  }

  /** Over its limit and still the process it was: anything else is wrong. */
  #fairTarget(worker: SimWorker, at: number, step: string): boolean {
    if (worker.exitedAt !== null) {
      this.#wrong++;
      this.#violate(worker, at, `${step} of a process that had exited`);
      return false;
    }
    if (!this.#world.overLimit(worker, at)) {
      this.#wrong++;
      this.#violate(worker, at, `${step} of a worker under its limit`);
      return false;
    }
    return true;
  }

  #violate(worker: SimWorker, at: number, what: string): void {
    // Enough to debug with; a broken run should not fill the memory.
    if (this.#violations.length >= 100) return;
    this.#violations.push({
      host: worker.host.id,
      pid: worker.pid,
      startTime: worker.startTime,
      at,
      what,
    });
  }
}
