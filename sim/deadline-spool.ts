/**
 * The deadline spool in the simulator, as agent/deadline-spool.ts and
 * agent/deadline-handover.ts keep it on a real host: each victim a run
 * waits for is on file until settled; when a restart ends the run, the
 * agent adopts the victim once it is back and kills it at its deadline,
 * or at once if that has passed, if it is still there and the same agent
 * is still up by then.
 */
import type { Scheduler } from './clock.ts';
import type { HostRun } from './host-side.ts';
import type { Ledger } from './ledger.ts';
import type { SimHost, SimWorker, World } from './world.ts';

/** The host's agent daemon, as adoption needs to see it. */
export interface DaemonState {
  readonly up: boolean;
  /** Changes at every restart: an adoption dies with its daemon. */
  readonly epoch: number;
}

interface Spooled {
  readonly deadline: number;
  /** The run that waits for the victim. */
  readonly run: HostRun;
  /** The agent's epoch when it adopted the victim. */
  adoptedBy?: number;
}

export class SimDeadlineSpool {
  readonly #world: World;
  readonly #scheduler: Scheduler;
  readonly #ledger: Ledger;
  readonly #entries = new Map<SimWorker, Spooled>();

  constructor(world: World, scheduler: Scheduler, ledger: Ledger) {
    this.#world = world;
    this.#scheduler = scheduler;
    this.#ledger = ledger;
  }

  write(worker: SimWorker, deadline: number, run: HostRun): void {
    this.#entries.set(worker, { deadline, run });
  }

  settled(worker: SimWorker): void {
    this.#entries.delete(worker);
  }

  /** The agent's look at the spool; returns how many it adopted. */
  adoptOrphans(host: SimHost, daemon: () => DaemonState): number {
    const state = daemon();
    if (!state.up) return 0;
    let adopted = 0;
    for (const [worker, entry] of this.#entries) {
      if (worker.host !== host || !entry.run.killed) continue;
      if (entry.adoptedBy === state.epoch) continue;
      entry.adoptedBy = state.epoch;
      adopted++;
      const due = Math.max(this.#scheduler.clock.now(), entry.deadline);
      this.#scheduler.at(due, () => {
        const current = daemon();
        if (!current.up || current.epoch !== state.epoch) return;
        if (this.#entries.get(worker) !== entry) return;
        this.#entries.delete(worker);
        if (worker.exitedAt !== null) return;
        this.#ledger.kill(worker, this.#scheduler.clock.now(), 'host');
        this.#world.kill(worker);
      });
    }
    return adopted;
  }
}
