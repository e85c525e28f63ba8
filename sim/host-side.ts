/**
 * The host's side of one order command, played in virtual time the way
 * `passenger-fleet execute` plays it on a real host: decode and check
 * the parameters (the real codec), refuse everything past `notAfter` or
 * for another instance, carry out exact orders after re-checking the
 * process, choose PICK victims with the real `pickVictims`, print one
 * PF-OUTCOME line per step (the real format), then wait for each
 * victim's deadline and SIGKILL whoever is still the same process.
 *
 * Each victim waited for is spooled (sim/deadline-spool.ts), as `execute`
 * spools it: when a restart ends the run, the agent adopts it.
 *
 * Only `detach` is played as a graceful step: it is what the simulated
 * Passenger (6.x) is configured with. A signal step is refused here
 * rather than played wrongly.
 */
import { appMatches } from '../core/app.ts';
import {
  decodeOrderParameters,
  type OrderBatch,
  type OrderParameters,
  type WireOrder,
  type WirePick,
} from '../core/order-codec.ts';
import type { OutcomeStatus } from '../core/order.ts';
import {
  formatDoneLine,
  formatOutcomeLine,
  formatRejectedLine,
  type ReportStep,
} from '../core/outcome-report.ts';
import { pickVictims } from '../core/pick.ts';
import { identityKey } from '../core/worker.ts';
import type { Scheduler } from './clock.ts';
import { SimDeadlineSpool } from './deadline-spool.ts';
import type { Ledger } from './ledger.ts';
import type { SimHost, SimWorker, World } from './world.ts';

/** `passenger-config detach-process` takes about this long. */
const DETACH_MS = 200;
/** The deadline watcher's poll for victims that leave by themselves. */
const POLL_MS = 250;

export type RunEnd = 'Success' | 'Failed';

export interface HostRun {
  /** Everything printed so far. */
  readonly stdout: string[];
  /** Set once the script exits. */
  end?: RunEnd;
  /** Cut short (the agent was restarted): nothing more is printed. */
  killed: boolean;
}

interface Victim {
  readonly worker: SimWorker;
  readonly deadline: number;
}

export interface HostSideHooks {
  /** After a graceful step: where the run aims its faults. */
  detached?(worker: SimWorker, graceSeconds: number): void;
}

export class HostSide {
  readonly #world: World;
  readonly #scheduler: Scheduler;
  readonly #ledger: Ledger;
  /** Per host: identity keys this host's commands are waiting on. */
  readonly #watched = new Map<string, Set<string>>();
  /** Per host: the runs still under way, to cut short on a restart. */
  readonly #running = new Map<string, Set<HostRun>>();
  readonly spool: SimDeadlineSpool;

  readonly #hooks: HostSideHooks;

  constructor(
    world: World,
    scheduler: Scheduler,
    ledger: Ledger,
    hooks: HostSideHooks = {},
  ) {
    this.#world = world;
    this.#scheduler = scheduler;
    this.#ledger = ledger;
    this.#hooks = hooks;
    this.spool = new SimDeadlineSpool(world, scheduler, ledger);
  }

  /** Starts the script on the host; the run fills in as time passes. */
  start(host: SimHost, parameters: OrderParameters): HostRun {
    const run: HostRun = { stdout: [], killed: false };
    const now = this.#scheduler.clock.now();
    const print = (line: string) => {
      if (!run.killed) run.stdout.push(line);
    };
    const decoded = decodeOrderParameters(parameters, now);
    if (!decoded.ok) {
      for (const problem of decoded.problems) {
        print(formatRejectedLine(problem));
      }
      print(
        formatDoneLine({
          orders: 0,
          outcomes: 0,
          rejections: decoded.problems.length,
        }),
      );
      run.end = 'Failed';
      return run;
    }
    this.#runningOn(host).add(run);
    void this.#carryOut(host, decoded.batch, run, print);
    return run;
  }

  /** The agent and its commands die together (see sim/run.ts). */
  killRuns(host: SimHost): void {
    for (const run of this.#runningOn(host)) {
      run.killed = true;
      run.end = 'Failed';
    }
    this.#runningOn(host).clear();
    this.#watched.get(host.id)?.clear();
  }

  async #carryOut(
    host: SimHost,
    batch: OrderBatch,
    run: HostRun,
    print: (line: string) => void,
  ): Promise<void> {
    let lines = 0;
    let orders = batch.orders.length;
    const report = (
      worker: { pid: number; startTime: number },
      step: ReportStep,
      status: OutcomeStatus,
      reason: string,
      deadline?: number,
    ) => {
      print(
        formatOutcomeLine({
          pid: worker.pid,
          startTime: worker.startTime,
          step,
          status,
          reason,
          at: this.#scheduler.clock.now(),
          ...(deadline !== undefined && { deadline, hostWaits: true }),
        }),
      );
      lines++;
    };
    const victims: Victim[] = [];
    const refusal = this.#refusal(host, batch);

    for (const order of batch.orders) {
      if (run.killed) return;
      if (refusal !== undefined) {
        report(order, order.action, 'refused', refusal);
        continue;
      }
      const victim = await this.#exact(host, batch, order, report, run);
      if (victim !== undefined) victims.push(victim);
    }
    if (refusal === undefined) {
      for (const pick of batch.picks ?? []) {
        if (run.killed) return;
        const picked = await this.#pick(host, batch, pick, report, run);
        orders += picked.length;
        victims.push(...picked);
      }
    }
    await this.#waitForDeadlines(host, victims, run, report);
    if (run.killed) return;
    print(formatDoneLine({ orders, outcomes: lines, rejections: 0 }));
    run.end = 'Success';
    this.#runningOn(host).delete(run);
  }

  #refusal(host: SimHost, batch: OrderBatch): string | undefined {
    const now = this.#scheduler.clock.now();
    if (now > batch.notAfter * 1000) {
      return `the command's notAfter ${batch.notAfter} has passed`;
    }
    if (batch.instanceId !== host.id) {
      return `instanceId must be this instance '${host.id}'`;
    }
    return undefined;
  }

  async #exact(
    host: SimHost,
    batch: OrderBatch,
    order: WireOrder,
    report: Reporter,
    run: HostRun,
  ): Promise<Victim | undefined> {
    // The re-check: same pid, same start time, a worker of this app.
    const worker = this.#world.find(host, order.pid, order.startTime);
    if (worker === undefined) {
      report(order, order.action, 'gone', 'no process with that start time');
      return undefined;
    }
    if (!appMatches(batch.app, appRef(worker))) {
      report(order, order.action, 'refused', 'a worker of another app');
      return undefined;
    }
    if (order.action === 'force-kill') {
      this.#ledger.kill(worker, this.#scheduler.clock.now(), 'controller');
      this.#world.kill(worker);
      report(order, 'force-kill', 'killed', 'SIGKILL sent');
      return undefined;
    }
    if (order.action === 'graceful' && order.graceSeconds !== undefined) {
      const limitKb = order.limitKb ?? Infinity;
      const now = this.#scheduler.clock.now();
      if (this.#world.memoryKb(worker, now) <= limitKb) {
        report(order, 'graceful', 'refused', 'no longer over the limit');
        return undefined;
      }
      return this.#detach(worker, order.graceSeconds, report, run);
    }
    report(order, order.action, 'refused', 'not played by the simulator');
    return undefined;
  }

  async #pick(
    host: SimHost,
    batch: OrderBatch,
    pick: WirePick,
    report: Reporter,
    run: HostRun,
  ): Promise<Victim[]> {
    if (pick.kind !== 'pick' || pick.graceful.type !== 'detach') return [];
    const now = this.#scheduler.clock.now();
    const chosen = pickVictims(
      this.#world.observation(host, now),
      batch.app,
      pick.limitKb,
      batch.measure,
      pick.count,
      { marked: this.#watchedOn(host) },
    );
    const victims: Victim[] = [];
    for (const { worker } of chosen) {
      const { pid, startTime } = worker.identity;
      const live = this.#world.find(host, pid, startTime);
      if (live === undefined) {
        report(worker.identity, 'graceful', 'gone', 'left before its step');
        continue;
      }
      const victim = await this.#detach(live, pick.graceSeconds, report, run);
      if (victim !== undefined) victims.push(victim);
    }
    return victims;
  }

  async #detach(
    worker: SimWorker,
    graceSeconds: number,
    report: Reporter,
    run: HostRun,
  ): Promise<Victim | undefined> {
    await this.#sleep(DETACH_MS);
    if (worker.exitedAt !== null) {
      report(worker, 'graceful', 'gone', 'left before its step');
      return undefined;
    }
    const now = this.#scheduler.clock.now();
    this.#ledger.graceful(worker, now, graceSeconds);
    this.#world.detach(worker);
    const deadline = now + graceSeconds * 1000;
    report(worker, 'graceful', 'detached', 'detached', deadline);
    this.#watchedOn(worker.host).add(keyOf(worker));
    this.spool.write(worker, deadline, run);
    this.#hooks.detached?.(worker, graceSeconds);
    return { worker, deadline };
  }

  /** One poll loop per command, as the DeadlineWatcher keeps one. */
  async #waitForDeadlines(
    host: SimHost,
    victims: Victim[],
    run: HostRun,
    report: Reporter,
  ): Promise<void> {
    const waiting = new Set(victims);
    while (waiting.size > 0 && !run.killed) {
      const next = Math.min(...[...waiting].map((v) => v.deadline));
      const now = this.#scheduler.clock.now();
      await this.#sleep(Math.min(POLL_MS, Math.max(0, next - now)));
      if (run.killed) return;
      const at = this.#scheduler.clock.now();
      for (const victim of [...waiting]) {
        const { worker, deadline } = victim;
        if (worker.exitedAt !== null) {
          report(worker, 'deadline', 'gone', 'left within its grace time');
        } else if (at >= deadline) {
          this.#ledger.kill(worker, at, 'host');
          this.#world.kill(worker);
          report(worker, 'deadline', 'killed', 'SIGKILL at the deadline');
        } else {
          continue;
        }
        waiting.delete(victim);
        this.#watchedOn(host).delete(keyOf(worker));
        this.spool.settled(worker);
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#scheduler.after(ms, resolve));
  }

  #watchedOn(host: SimHost): Set<string> {
    return setOf(this.#watched, host);
  }

  #runningOn(host: SimHost): Set<HostRun> {
    return setOf(this.#running, host);
  }
}

type Reporter = (
  worker: { pid: number; startTime: number },
  step: ReportStep,
  status: OutcomeStatus,
  reason: string,
  deadline?: number,
) => void;

function appRef(worker: SimWorker) {
  const root = `/data/${worker.app.name}/current`;
  return { group: root, root };
}

/** The host's set in a per-host map, made empty on first use. */
function setOf<T>(map: Map<string, Set<T>>, host: SimHost): Set<T> {
  let set = map.get(host.id);
  if (set === undefined) {
    set = new Set();
    map.set(host.id, set);
  }
  return set;
}

function keyOf(worker: SimWorker): string {
  return identityKey({
    host: worker.host.id,
    pid: worker.pid,
    startTime: worker.startTime,
  });
}
