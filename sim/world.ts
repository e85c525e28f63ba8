/**
 * The simulated fleet: hosts running Passenger, whose workers grow in
 * memory, leave when detached (unless frozen in a request), die when
 * SIGKILLed, and are replaced by Passenger a moment later.
 *
 * Memory follows a line up to a plateau, so the moment a worker crosses
 * its limit is known exactly (`breachAt`): breach-to-action latency is
 * measured from that instant, not from when anyone noticed.
 *
 * Pids are handed out in a small range per host and reused, so a stale
 * order can name a pid that now belongs to another process: only the
 * start time tells them apart, as on a real host.
 */
import { KB_PER_MB, type Observation, type Worker } from '../core/worker.ts';
import type { Scheduler } from './clock.ts';
import type { SeededRandom } from './random.ts';

/** Clock ticks per second in field 22 of /proc/<pid>/stat. */
const CLOCK_TICKS_PER_SECOND = 100;
const PASSENGER_VERSION = '6.0.23';

export interface AppSpec {
  /** The short name, e.g. `shop` for `/data/shop/current`. */
  readonly name: string;
  readonly limitMb: number;
  readonly workersPerHost: number;
}

export interface WorldOptions {
  readonly hosts: number;
  readonly apps: readonly AppSpec[];
  /** Share of workers that plateau just under the limit (85-98 %). */
  readonly nearLimitShare: number;
  /**
   * Share of workers that leak: they grow past the limit within
   * `leakHours` of being spawned.
   */
  readonly leakShare: number;
  readonly leakHours: readonly [number, number];
  /** Share of workers stuck in a request: detach never makes them leave. */
  readonly frozenShare: number;
  /** A detached worker that is not frozen leaves within this. */
  readonly exitAfterDetachMs: readonly [number, number];
  /** Passenger's replacement is serving after this. */
  readonly spawnMs: readonly [number, number];
  /** First pid and how many pids a host cycles through. */
  readonly pidBase: number;
  readonly pidRange: number;
}

export const DEFAULT_WORLD: Omit<WorldOptions, 'hosts' | 'apps'> = {
  nearLimitShare: 0.05,
  leakShare: 0.02,
  leakHours: [1, 6],
  frozenShare: 0.2,
  exitAfterDetachMs: [100, 3_000],
  spawnMs: [1_000, 3_000],
  pidBase: 1_000,
  pidRange: 400,
};

export interface SimWorker {
  readonly host: SimHost;
  readonly app: AppSpec;
  readonly pid: number;
  readonly startTime: number;
  readonly spawnedAt: number;
  readonly baseKb: number;
  readonly plateauKb: number;
  readonly growthKbPerMs: number;
  readonly frozen: boolean;
  detachedAt: number | null;
  exitedAt: number | null;
}

export interface SimHost {
  readonly id: string;
  readonly index: number;
  readonly bootedAt: number;
  readonly random: SeededRandom;
  /** Live processes, detached ones included, by pid. */
  readonly workers: Map<number, SimWorker>;
  nextPid: number;
  /** When the instance was terminated; null while it runs. */
  vanishedAt: number | null;
}

/** What the world tells whoever keeps the score. */
export interface WorldObserver {
  spawned?(worker: SimWorker): void;
  exited?(worker: SimWorker, at: number): void;
  /** A worker was detached or left: what the host's pool shows changed. */
  changed?(host: SimHost, at: number): void;
}

export class World {
  readonly hosts: readonly SimHost[];
  readonly options: WorldOptions;
  readonly #scheduler: Scheduler;
  readonly #observers: WorldObserver[] = [];

  constructor(
    options: WorldOptions,
    scheduler: Scheduler,
    random: SeededRandom,
  ) {
    this.options = options;
    this.#scheduler = scheduler;
    const now = scheduler.clock.now();
    this.hosts = Array.from({ length: options.hosts }, (_, index) => ({
      id: instanceId(index),
      index,
      // Booted a day or so before the run: start times are large numbers.
      bootedAt: now - 86_400_000 - index * 1_000,
      random: random.fork(index + 1),
      workers: new Map<number, SimWorker>(),
      nextPid: options.pidBase,
      vanishedAt: null,
    }));
  }

  observe(observer: WorldObserver): void {
    this.#observers.push(observer);
  }

  /**
   * Fills every host's pools. Workers start at random ages, so the fleet
   * is already in its steady state instead of all young at once; a
   * leaking worker is always younger than its breach, as if whatever had
   * crossed before the run had been dealt with.
   */
  populate(): void {
    const now = this.#scheduler.clock.now();
    for (const host of this.hosts) {
      for (const app of this.options.apps) {
        for (let i = 0; i < app.workersPerHost; i++) {
          this.#spawn(host, app, now, host.random.between(0, 3 * 3_600_000));
        }
      }
    }
  }

  host(id: string): SimHost | undefined {
    const index = parseInt(id.slice(2), 16);
    const host = this.hosts[index];
    return host?.id === id && host.vanishedAt === null ? host : undefined;
  }

  memoryKb(worker: SimWorker, at: number): number {
    const grown =
      worker.baseKb + worker.growthKbPerMs * (at - worker.spawnedAt);
    return Math.round(Math.min(worker.plateauKb, grown));
  }

  /** When the worker goes over its app's limit; null if it never does. */
  breachAt(worker: SimWorker): number | null {
    const limitKb = worker.app.limitMb * KB_PER_MB;
    if (worker.plateauKb <= limitKb) return null;
    if (worker.baseKb > limitKb) return worker.spawnedAt;
    return worker.spawnedAt + (limitKb - worker.baseKb) / worker.growthKbPerMs;
  }

  overLimit(worker: SimWorker, at: number): boolean {
    return this.memoryKb(worker, at) > worker.app.limitMb * KB_PER_MB;
  }

  /** What the agent's collector would see on this host now. */
  observation(host: SimHost, at: number): Observation {
    const workers: Worker[] = [];
    for (const worker of host.workers.values()) {
      const kb = this.memoryKb(worker, at);
      const root = `/data/${worker.app.name}/current`;
      workers.push({
        identity: {
          host: host.id,
          pid: worker.pid,
          startTime: worker.startTime,
        },
        app: { group: root, root },
        kind: 'ruby',
        passengerVersion: PASSENGER_VERSION,
        memory: { privateDirtyKb: kb, swapKb: 0, rssKb: kb + 20_000 },
        state: 'S',
        inPool: true,
        detached: worker.detachedAt !== null,
        sessions: worker.frozen ? 1 : 0,
        startedAtMs: worker.spawnedAt,
        era: '6.0.8+',
      });
    }
    return {
      host: host.id,
      at,
      workers,
      poolKnown: true,
      passengerVersion: PASSENGER_VERSION,
    };
  }

  /** The live process with this pid and start time, if there is one. */
  find(host: SimHost, pid: number, startTime: number): SimWorker | undefined {
    const worker = host.workers.get(pid);
    return worker?.startTime === startTime ? worker : undefined;
  }

  /**
   * `passenger-config detach-process`: Passenger lets the worker finish
   * and spawns its replacement at once. A frozen worker never finishes.
   */
  detach(worker: SimWorker): void {
    const now = this.#scheduler.clock.now();
    if (worker.detachedAt !== null || worker.exitedAt !== null) return;
    worker.detachedAt = now;
    this.#respawnSoon(worker);
    for (const observer of this.#observers)
      observer.changed?.(worker.host, now);
    if (worker.frozen) return;
    const [low, high] = this.options.exitAfterDetachMs;
    this.#scheduler.after(worker.host.random.between(low, high), () =>
      this.#exit(worker),
    );
  }

  /** SIGKILL: gone at once; Passenger replaces it if it was still pooled. */
  kill(worker: SimWorker): void {
    if (worker.exitedAt !== null) return;
    if (worker.detachedAt === null) this.#respawnSoon(worker);
    this.#exit(worker);
  }

  /**
   * The instance is terminated (scaled in, or lost): its processes end
   * with it, nothing respawns, and SSM no longer finds it.
   */
  vanish(host: SimHost): void {
    if (host.vanishedAt !== null) return;
    host.vanishedAt = this.#scheduler.clock.now();
    for (const worker of [...host.workers.values()]) this.#exit(worker);
  }

  #exit(worker: SimWorker): void {
    if (worker.exitedAt !== null) return;
    const now = this.#scheduler.clock.now();
    worker.exitedAt = now;
    worker.host.workers.delete(worker.pid);
    for (const observer of this.#observers) {
      observer.exited?.(worker, now);
      observer.changed?.(worker.host, now);
    }
  }

  #respawnSoon(worker: SimWorker): void {
    const [low, high] = this.options.spawnMs;
    this.#scheduler.after(worker.host.random.between(low, high), () => {
      this.#spawn(worker.host, worker.app, this.#scheduler.clock.now(), 0);
    });
  }

  /** A worker aged `ageMs` at `now`, or younger if it would be over. */
  #spawn(host: SimHost, app: AppSpec, now: number, ageMs: number): void {
    if (host.vanishedAt !== null) return;
    const random = host.random;
    const limitKb = app.limitMb * KB_PER_MB;
    const leaks = random.chance(this.options.leakShare);
    const nearLimit = !leaks && random.chance(this.options.nearLimitShare);
    const baseKb = limitKb * random.between(0.25, 0.4);
    const plateauKb = leaks
      ? limitKb * 4
      : limitKb *
        (nearLimit ? random.between(0.85, 0.98) : random.between(0.45, 0.75));
    const [fewest, most] = this.options.leakHours;
    const growthKbPerMs = leaks
      ? (limitKb - baseKb) / (random.between(fewest, most) * 3_600_000)
      : (plateauKb - baseKb) / (random.between(0.5, 2) * 3_600_000);
    // A leaker's age is spread over its life before the breach: clipping
    // it would pile the fleet's breaches into the first minutes.
    const spawnedAt =
      now -
      (leaks && ageMs > 0
        ? random.between(0, (limitKb - baseKb) / growthKbPerMs)
        : ageMs);
    const pid = this.#nextPid(host);
    const worker: SimWorker = {
      host,
      app,
      pid,
      startTime: Math.floor(
        ((spawnedAt - host.bootedAt) * CLOCK_TICKS_PER_SECOND) / 1000,
      ),
      spawnedAt,
      baseKb,
      plateauKb,
      growthKbPerMs,
      frozen: random.chance(this.options.frozenShare),
      detachedAt: null,
      exitedAt: null,
    };
    host.workers.set(pid, worker);
    for (const observer of this.#observers) observer.spawned?.(worker);
  }

  /** The next free pid, wrapping within the host's range. */
  #nextPid(host: SimHost): number {
    const { pidBase, pidRange } = this.options;
    for (let tries = 0; tries < pidRange; tries++) {
      const pid = host.nextPid;
      host.nextPid = pidBase + ((pid - pidBase + 1) % pidRange);
      if (!host.workers.has(pid)) return pid;
    }
    throw new RangeError(
      `pidRange ${pidRange} is too small for the workers of host ${host.id}`,
    );
  }
}

/** `i-` and 17 hex digits, as EC2 names instances (and SSM targets them). */
export function instanceId(index: number): string {
  return `i-${index.toString(16).padStart(17, '0')}`;
}
