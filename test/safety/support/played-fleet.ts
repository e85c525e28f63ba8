/**
 * A small fleet of hosts played honestly in virtual time, for the
 * concurrency suite: the controller's metrics come from the workers, and
 * its commands reach hosts that act the way `passenger-fleet execute`
 * does. A pick makes the host choose, with the real pickVictims, workers
 * over the limit that Passenger still pools and that it is not already
 * watching; each is detached and reported in the real outcome format with
 * its deadline. A forced kill re-checks pid and start time first.
 *
 * Hosts come in three kinds:
 *   waits     the host watches each victim to its deadline and reports
 *             a `deadline` line: `gone` if it left, else its own SIGKILL
 *   restarts  the agent restarts during the grace; the command ends
 *             Failed with what it printed so far, so the controller has
 *             to send the forced kill of every victim it did not see go
 *   stalls    the first command hangs during the grace and stays
 *             InProgress past the deadline and the controller's slack,
 *             so the controller steps in; then it resumes, finds its
 *             victims gone or SIGKILLs them, and ends
 *
 * Frozen workers never leave by themselves; leaving ones exit within the
 * grace. Whoever exits is replaced by Passenger, on some hosts under the
 * same pid, so only pid and start time together name a worker.
 *
 * The fleet counts what the hosts did: graceful steps and kills per
 * worker, and picks running at once per host-app.
 */
import {
  decodeOrderParameters,
  type OrderBatch,
} from '../../../core/order-codec.ts';
import type { OutcomeStatus } from '../../../core/order.ts';
import {
  formatDoneLine,
  formatOutcomeLine,
  formatRejectedLine,
  type ReportStep,
} from '../../../core/outcome-report.ts';
import { pickVictims } from '../../../core/pick.ts';
import {
  identityKey,
  type Observation,
  type Worker,
  type WorkerIdentity,
} from '../../../core/worker.ts';
import type { CommandStatus } from '../../../lambdas/ports/commands.ts';
import {
  InMemoryCommandPort,
  InMemoryFleetMetrics,
  type DeliveredCommand,
  type HostReply,
} from '../../../lambdas/controller/in-memory-ports.ts';
import { SeededRandom } from '../../../sim/random.ts';

export const APP = 'shop';
export const LIMIT_MB = 300;
const HOST_KINDS = ['waits', 'restarts', 'stalls'] as const;
/** Every host kind with one, two and three workers over the limit. */
export const HOST_COUNT = 9;
const WORKERS_PER_HOST = 5;
const APP_ROOT = `/data/${APP}/current`;
/** A fresh worker, well under the limit. */
const REPLACEMENT_MB = 120;
/** The agent of a `restarts` host dies this long after a command starts. */
export const RESTART_AFTER_MS = 20_000;
/**
 * On a `stalls` host, from this long after the fleet starts until this
 * long, a Passenger tool call does not answer and the execute process
 * waiting on it hangs: SSM shows its command InProgress all the while,
 * and it prints nothing. Commands sent later run normally.
 */
export const STALL_FROM_MS = 5_000;
export const STALL_UNTIL_MS = 270_000;

export type HostKind = (typeof HOST_KINDS)[number];
export type Fate = 'frozen' | 'leaves';

export interface PlayedWorker {
  readonly identity: WorkerIdentity;
  readonly memoryMb: number;
  /** Over the limit when the run began: it must get its graceful step. */
  readonly overAtStart: boolean;
  readonly fate: Fate;
  /** For `leaves`: from its detach to its exit. */
  readonly leaveAfterMs: number;
  readonly bornAt: number;
  detachedAt: number | null;
  goneAt: number | null;
}

interface PlayedHost {
  readonly id: string;
  readonly kind: HostKind;
  readonly workers: PlayedWorker[];
  /** Identity keys this host's agent is waiting on; lost on a restart. */
  readonly watched: Set<string>;
  nextPid: number;
}

interface Victim {
  readonly worker: PlayedWorker;
  readonly deadline: number;
  reported: boolean;
}

interface HostRun {
  readonly commandId: string;
  readonly host: PlayedHost;
  readonly app: string;
  readonly startedAt: number;
  readonly isPick: boolean;
  readonly victims: Victim[];
  readonly lines: string[];
  orders: number;
  status: CommandStatus;
}

export class PlayedFleet {
  readonly metrics = new InMemoryFleetMetrics();
  readonly commands: InMemoryCommandPort;
  readonly hosts: readonly PlayedHost[];
  /** Per worker identity key: graceful steps the hosts carried out. */
  readonly gracefulSteps = new Map<string, number>();
  /** Per worker identity key: SIGKILLs that hit it, and by whom. */
  readonly kills = new Map<string, ('host' | 'controller')[]>();
  /** Per host-app: the most pick commands its host ran at once. */
  readonly picksAtOnce = new Map<string, number>();
  /** Commands the host rejected as malformed: a controller bug. */
  rejectedCommands = 0;
  /** `deadline` lines saying a victim left by itself in its grace. */
  leftInGrace = 0;
  now: number;
  readonly #runs: HostRun[] = [];
  readonly #start: number;

  constructor(seed: number, start: number) {
    this.now = start;
    this.#start = start;
    this.commands = new InMemoryCommandPort({
      play: (command) => this.#play(command),
      clock: () => this.now,
    });
    const random = new SeededRandom(seed);
    const leaveTimes = random.fork(1);
    let leavers = 0;
    this.hosts = Array.from({ length: HOST_COUNT }, (_, index) => {
      const sizes = random.fork(100 + index);
      const host: PlayedHost = {
        id: `i-${(0xa0 + index).toString(16).padStart(17, '0')}`,
        kind: HOST_KINDS[index % HOST_KINDS.length] ?? 'waits',
        workers: [],
        watched: new Set(),
        nextPid: 2_000 + sizes.integer(0, 500),
      };
      const over = 1 + (Math.floor(index / HOST_KINDS.length) % 3);
      for (let slot = 0; slot < WORKERS_PER_HOST; slot++) {
        const isOver = slot < over;
        const fate: Fate = (index + slot) % 2 === 0 ? 'frozen' : 'leaves';
        // Alternate exits before and after a `restarts` agent dies, so
        // both the host's `gone` line and the controller's kill of a
        // worker already gone are played.
        const early = isOver && fate === 'leaves' && leavers++ % 2 === 0;
        host.workers.push({
          identity: {
            host: host.id,
            pid: host.nextPid++,
            startTime: 100_000 + sizes.integer(0, 50_000),
          },
          memoryMb: isOver
            ? sizes.integer(LIMIT_MB + 20, 700)
            : sizes.integer(100, LIMIT_MB - 20),
          overAtStart: isOver,
          fate,
          leaveAfterMs: early
            ? leaveTimes.integer(3_000, RESTART_AFTER_MS - 5_000)
            : leaveTimes.integer(RESTART_AFTER_MS + 5_000, 70_000),
          bornAt: start - 3_600_000,
          detachedAt: null,
          goneAt: null,
        });
      }
      return host;
    });
    this.#publish();
  }

  /** Every worker that ever ran, replacements included. */
  allWorkers(): PlayedWorker[] {
    return this.hosts.flatMap((host) => host.workers);
  }

  kindOf(worker: PlayedWorker): HostKind {
    const host = this.hosts.find((h) => h.id === worker.identity.host);
    if (host === undefined) throw new Error(`no host ${worker.identity.host}`);
    return host.kind;
  }

  /** Nothing left to do: no command running, no live worker over. */
  settled(): boolean {
    const running = this.#runs.some((run) => !ended(run));
    const over = this.hosts.some((host) =>
      host.workers.some((w) => this.#alive(w) && w.memoryMb > LIMIT_MB),
    );
    return !running && !over;
  }

  /** Moves time on to `at` (never back) and publishes fresh metrics. */
  advanceTo(at: number): void {
    if (at <= this.now) return;
    this.now = at;
    for (const run of this.#runs) {
      if (!ended(run)) this.#runWatchUntil(run, at);
    }
    this.#publish();
  }

  #publish(): void {
    const trouble = [];
    let workers = 0;
    for (const host of this.hosts) {
      const live = host.workers.filter((w) => this.#alive(w));
      workers += live.length;
      // The agent samples /proc: a detached worker still running counts.
      const over = live.filter((w) => w.memoryMb > LIMIT_MB);
      this.metrics.heartbeats.set(host.id, this.now);
      if (over.length === 0) continue;
      trouble.push({
        host: host.id,
        app: APP,
        workersOverLimit: over.length,
        orphanSuspects: 0,
        maxWorkerMb: Math.max(...over.map((w) => w.memoryMb)),
        at: this.now,
      });
    }
    this.metrics.trouble = trouble;
    this.metrics.census = {
      apps: [{ app: APP, hosts: this.hosts.length, workers }],
      agents: this.hosts.length,
      at: this.now,
    };
  }

  #play(command: DeliveredCommand): HostReply {
    const host = this.hosts.find((h) => h.id === command.host);
    const decoded = decodeOrderParameters(command.parameters, this.now);
    if (host === undefined || !decoded.ok) {
      this.rejectedCommands++;
      const problems = decoded.ok
        ? [{ field: 'instanceId', rule: 'a host of the fleet', value: '' }]
        : decoded.problems;
      return {
        status: 'Failed',
        stdout: [
          ...problems.map(formatRejectedLine),
          formatDoneLine({
            orders: 0,
            outcomes: 0,
            rejections: problems.length,
          }),
        ].join('\n'),
      };
    }
    const { batch } = decoded;
    const run: HostRun = {
      commandId: command.commandId,
      host,
      app: batch.app,
      startedAt: this.now,
      isPick: (batch.picks ?? []).some((p) => p.kind === 'pick'),
      victims: [],
      lines: [],
      orders: batch.orders.length,
      status: 'InProgress',
    };
    if (run.isPick) this.#countPickRunning(run);
    this.#runs.push(run);
    this.#carryOut(run, batch);
    if (run.victims.length === 0) this.#end(run, 'Success');
    return replyOf(run);
  }

  #countPickRunning(run: HostRun): void {
    const key = `${run.host.id} ${run.app}`;
    const running = this.#runs.filter(
      (other) =>
        other.isPick &&
        !ended(other) &&
        other.host === run.host &&
        other.app === run.app,
    ).length;
    this.picksAtOnce.set(
      key,
      Math.max(this.picksAtOnce.get(key) ?? 0, running + 1),
    );
  }

  #carryOut(run: HostRun, batch: OrderBatch): void {
    const { host } = run;
    if (this.now > batch.notAfter * 1000) {
      for (const order of batch.orders) {
        this.#print(run, order, order.action, 'refused', 'notAfter passed');
      }
      return;
    }
    for (const order of batch.orders) {
      // The re-check: same pid and same start time, still running.
      const worker = host.workers.find(
        (w) =>
          w.identity.pid === order.pid &&
          w.identity.startTime === order.startTime &&
          this.#alive(w),
      );
      if (worker === undefined) {
        this.#print(run, order, order.action, 'gone', 'no such process');
      } else if (order.action === 'force-kill') {
        this.#kill(worker, 'controller', this.now);
        this.#print(run, order, 'force-kill', 'killed', 'SIGKILL sent');
      } else {
        this.#print(run, order, order.action, 'refused', 'not played here');
      }
    }
    for (const pick of batch.picks ?? []) {
      if (pick.kind !== 'pick') continue;
      const chosen = pickVictims(
        this.#observe(host),
        batch.app,
        pick.limitKb,
        batch.measure,
        pick.count,
        { marked: host.watched },
      );
      for (const { worker } of chosen) {
        const played = host.workers.find(
          (w) => identityKey(w.identity) === identityKey(worker.identity),
        );
        if (played === undefined) continue;
        this.#detach(run, played, pick.graceSeconds);
      }
    }
  }

  #detach(run: HostRun, worker: PlayedWorker, graceSeconds: number): void {
    const key = identityKey(worker.identity);
    this.gracefulSteps.set(key, (this.gracefulSteps.get(key) ?? 0) + 1);
    worker.detachedAt = this.now;
    if (worker.fate === 'leaves') {
      this.#gone(worker, this.now + worker.leaveAfterMs);
    }
    const deadline = this.now + graceSeconds * 1000;
    run.host.watched.add(key);
    run.victims.push({ worker, deadline, reported: false });
    run.orders++;
    run.lines.push(
      formatOutcomeLine({
        ...pidOf(worker),
        step: 'graceful',
        status: 'detached',
        reason: 'detached from the pool',
        at: this.now,
        deadline,
        hostWaits: true,
      }),
    );
  }

  /** The host's deadline watcher, its stall or its restart, up to `at`. */
  #runWatchUntil(run: HostRun, at: number): void {
    const { kind } = run.host;
    const restartAt =
      kind === 'restarts' ? run.startedAt + RESTART_AFTER_MS : Infinity;
    const stallFrom =
      kind === 'stalls' ? this.#start + STALL_FROM_MS : Infinity;
    const stallUntil = this.#start + STALL_UNTIL_MS;
    // When the watcher sees a victim leave or reach its deadline; a
    // stalled one sees nothing until the stall ends.
    const seenAt = (victim: Victim) => {
      const due = Math.min(victim.worker.goneAt ?? Infinity, victim.deadline);
      return due >= stallFrom && due < stallUntil ? stallUntil : due;
    };
    // Each pass reports one victim or ends the run: bounded by both.
    for (let pass = 0; pass <= run.victims.length && !ended(run); pass++) {
      const waiting = run.victims.filter((v) => !v.reported);
      if (waiting.length === 0) {
        this.#end(run, 'Success');
        break;
      }
      const next = waiting.reduce((a, b) => (seenAt(b) < seenAt(a) ? b : a));
      const nextAt = seenAt(next);
      if (restartAt <= Math.min(nextAt, at)) {
        this.#restartAgent(run.host);
        break;
      }
      if (nextAt > at) break;
      next.reported = true;
      const { worker } = next;
      run.host.watched.delete(identityKey(worker.identity));
      if (worker.goneAt !== null && worker.goneAt <= nextAt) {
        if (!this.kills.has(identityKey(worker.identity))) this.leftInGrace++;
        this.#deadlineLine(run, worker, nextAt, 'gone', 'left in its grace');
      } else {
        this.#kill(worker, 'host', nextAt);
        this.#deadlineLine(
          run,
          worker,
          nextAt,
          'killed',
          'SIGKILL at deadline',
        );
      }
    }
  }

  /** The agent dies with every command it runs; its memory goes too. */
  #restartAgent(host: PlayedHost): void {
    for (const run of this.#runs) {
      if (run.host === host && !ended(run)) this.#end(run, 'Failed');
    }
    host.watched.clear();
  }

  #deadlineLine(
    run: HostRun,
    worker: PlayedWorker,
    at: number,
    status: OutcomeStatus,
    reason: string,
  ): void {
    run.lines.push(
      formatOutcomeLine({
        ...pidOf(worker),
        step: 'deadline',
        status,
        reason,
        at,
      }),
    );
    this.#answer(run);
  }

  /** What the host has printed so far, for the controller's next read. */
  #answer(run: HostRun): void {
    // Inside #play the port takes the returned reply instead.
    if (!this.commands.sent.some((c) => c.commandId === run.commandId)) return;
    this.commands.reply(run.commandId, replyOf(run));
  }

  #print(
    run: HostRun,
    target: { pid: number; startTime: number },
    step: ReportStep,
    status: OutcomeStatus,
    reason: string,
  ): void {
    run.lines.push(
      formatOutcomeLine({ ...target, step, status, reason, at: this.now }),
    );
  }

  #end(run: HostRun, status: 'Success' | 'Failed'): void {
    run.status = status;
    // A killed agent prints no summary; a finished one always does.
    if (status === 'Success') {
      run.lines.push(
        formatDoneLine({
          orders: run.orders,
          outcomes: run.lines.length,
          rejections: 0,
        }),
      );
    }
    this.#answer(run);
  }

  #kill(worker: PlayedWorker, by: 'host' | 'controller', at: number): void {
    const key = identityKey(worker.identity);
    this.kills.set(key, [...(this.kills.get(key) ?? []), by]);
    this.#gone(worker, at);
  }

  /** The worker exits at `at`; Passenger spawns its replacement then. */
  #gone(worker: PlayedWorker, at: number): void {
    worker.goneAt = at;
    const host = this.hosts.find((h) => h.id === worker.identity.host);
    if (host === undefined) return;
    // Where the controller sends forced kills, the replacement takes the
    // pid: a kill that names the pid alone would hit it.
    const reuse = host.kind !== 'waits';
    host.workers.push({
      identity: {
        host: host.id,
        pid: reuse ? worker.identity.pid : host.nextPid++,
        startTime: worker.identity.startTime + 60_000 + host.workers.length,
      },
      memoryMb: REPLACEMENT_MB,
      overAtStart: false,
      fate: 'leaves',
      leaveAfterMs: 10_000,
      bornAt: at,
      detachedAt: null,
      goneAt: null,
    });
  }

  #alive(worker: PlayedWorker): boolean {
    return (
      worker.bornAt <= this.now &&
      (worker.goneAt === null || worker.goneAt > this.now)
    );
  }

  #observe(host: PlayedHost): Observation {
    const workers: Worker[] = host.workers
      .filter((w) => this.#alive(w))
      .map((w) => ({
        identity: w.identity,
        app: { group: APP_ROOT, root: APP_ROOT },
        kind: 'ruby',
        memory: {
          privateDirtyKb: w.memoryMb * 1024,
          swapKb: 0,
          rssKb: (w.memoryMb + 40) * 1024,
        },
        uid: 1000,
        inPool: w.detachedAt === null,
        detached: w.detachedAt !== null,
      }));
    return { host: host.id, at: this.now, workers, poolKnown: true };
  }
}

function pidOf(worker: PlayedWorker): { pid: number; startTime: number } {
  return { pid: worker.identity.pid, startTime: worker.identity.startTime };
}

function replyOf(run: HostRun): HostReply {
  return { status: run.status, stdout: run.lines.join('\n') };
}

function ended(run: HostRun): boolean {
  return run.status !== 'InProgress';
}
