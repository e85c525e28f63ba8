/**
 * A fleet for the controller's mass-breach scenarios, on the in-memory
 * ports of test/unit/controller-scene.ts, one tick a minute.
 *
 * Workers have fixed sizes. The agents count, per app and host, the
 * workers over the limit the parameter tree gives the app, and the
 * census counts hosts and workers. Each host carries out a pick as
 * `passenger-fleet execute` does: the biggest workers over the pick's
 * limit first, detached (Passenger starts a replacement at once, at the
 * size the worker had before it grew), then SIGKILLed at the deadline,
 * since these are stuck in a request; it reports in the real outcome
 * format, and its command ends once every deadline is met.
 */
import assert from 'node:assert/strict';
import { policyFor, type FleetConfig } from '../../../core/config.ts';
import { decodeOrderParameters } from '../../../core/order-codec.ts';
import {
  formatDoneLine,
  formatOutcomeLine,
  type OutcomeReport,
} from '../../../core/outcome-report.ts';
import { configFromParameters } from '../../../core/parameter-tree.ts';
import { KB_PER_MB } from '../../../core/worker.ts';
import type { Controller } from '../../../lambdas/controller/controller.ts';
import type { TickReport } from '../../../lambdas/controller/controller-ports.ts';
import type { DeliveredCommand } from '../../../lambdas/controller/in-memory-ports.ts';
import { CONTROLLER_METRIC_NAMES } from '../../../lambdas/controller/metric-names.ts';
import { host, ROOT, Scene } from '../../unit/controller-scene.ts';

const TICK_MS = 60_000;
/** `passenger-config detach-process` takes about this long. */
const DETACH_MS = 200;

export interface FleetApp {
  /** The short name, as agents and orders name it. */
  readonly name: string;
  readonly workersPerHost: number;
}

interface FleetWorker {
  readonly host: string;
  readonly app: string;
  readonly pid: number;
  readonly startTime: number;
  /** What a fresh worker of this slot settles at. */
  readonly settledMb: number;
  memoryMb: number;
  /** Set when the host detached it: it is in grace until then. */
  deadline: number | null;
}

/** One command a host is still running. */
interface HostRun {
  readonly commandId: string;
  readonly orders: number;
  readonly lines: OutcomeReport[];
  readonly victims: FleetWorker[];
}

export interface SentPick {
  readonly host: string;
  readonly app: string;
  readonly count: number;
  readonly limitKb: number;
}

export interface TickSeen {
  /** Epoch ms the tick ran at. */
  readonly at: number;
  readonly report: TickReport;
  /** The configuration the tree held, as agents and controller read it. */
  readonly config: FleetConfig;
  /** Workers over their limit, as the agents reported them. */
  readonly overLimit: number;
  readonly commands: readonly DeliveredCommand[];
  readonly picks: readonly SentPick[];
  /** What the tick added to the BreakerOpen metric. */
  readonly breakerOpen: number;
}

export class BreachFleet {
  readonly scene = new Scene();
  readonly hosts: readonly string[];
  readonly apps: readonly FleetApp[];
  readonly #controller: Controller;
  readonly #workers: FleetWorker[] = [];
  /** Commands the hosts are still running. */
  readonly #runs: HostRun[] = [];
  #nextPid = 1_000;
  /** Workers the hosts detached since the fleet was built. */
  #detached = 0;

  /** Every worker between 120 and 259 MB: healthy under 300 MB. */
  constructor(hosts: number, apps: readonly FleetApp[]) {
    this.hosts = Array.from({ length: hosts }, (_, n) => host(n + 1));
    this.apps = apps;
    for (const [h, hostId] of this.hosts.entries()) {
      for (const [a, app] of apps.entries()) {
        for (let slot = 0; slot < app.workersPerHost; slot++) {
          const memoryMb = 120 + ((h * 37 + a * 11 + slot * 53) % 140);
          this.#spawn(hostId, app.name, memoryMb);
        }
      }
    }
    this.#controller = this.scene.controller();
  }

  /** Sets one parameter under the fleet's root, e.g. `defaults/limitMb`. */
  set(path: string, value: string): void {
    this.scene.parameters.set(`${ROOT}/${path}`, value);
  }

  /** A pooled worker of `app` on `onHost` grows; its successor won't. */
  grow(onHost: string, app: string, memoryMb: number): void {
    const worker = this.#workers.find(
      (w) => w.host === onHost && w.app === app && w.deadline === null,
    );
    assert.ok(worker, `no pooled worker of ${app} on ${onHost}`);
    worker.memoryMb = memoryMb;
  }

  /** The configuration the parameter tree holds now. */
  async config(): Promise<FleetConfig> {
    const parameters = await this.scene.parameters.parametersUnder(ROOT);
    const parsed = configFromParameters(ROOT, parameters);
    assert.ok(parsed.ok, `the test set a bad tree: ${JSON.stringify(parsed)}`);
    return parsed.config;
  }

  /**
   * One minute: hosts meet the deadlines due, agents publish, the
   * controller ticks, hosts carry out what it sent.
   */
  async tick(): Promise<TickSeen> {
    const { scene } = this;
    const now = scene.now;
    this.#meetDeadlines(now);
    const config = await this.config();
    const overLimit = this.#publish(config, now);
    const sentBefore = scene.commands.sent.length;
    const breakerBefore = scene.count(CONTROLLER_METRIC_NAMES.breakerOpen);

    const report = await this.#controller.tick(now);

    const commands = scene.commands.sent.slice(sentBefore);
    const picks = commands.flatMap((command) => this.#carryOut(command, now));
    scene.now = now + TICK_MS;
    return {
      at: now,
      report,
      config,
      overLimit,
      commands,
      picks,
      breakerOpen:
        scene.count(CONTROLLER_METRIC_NAMES.breakerOpen) - breakerBefore,
    };
  }

  /** Workers in their pools, detached ones not counted. */
  pooled(app: string): number {
    return this.#workers.filter((w) => w.app === app && w.deadline === null)
      .length;
  }

  /** Workers of `app` detached and not yet gone, on one host or all. */
  inGrace(app: string, onHost?: string): number {
    return this.#workers.filter(
      (w) =>
        w.app === app &&
        w.deadline !== null &&
        (onHost === undefined || w.host === onHost),
    ).length;
  }

  get detachedSoFar(): number {
    return this.#detached;
  }

  /** What each agent sends: trouble per app and host, and the census. */
  #publish(config: FleetConfig, now: number): number {
    const trouble = new Map<string, { over: number; maxMb: number }>();
    for (const worker of this.#workers) {
      if (worker.deadline !== null) continue;
      const limitMb = policyFor(config, { group: worker.app })?.limitMb;
      if (limitMb === undefined || worker.memoryMb <= limitMb) continue;
      const key = `${worker.host}\n${worker.app}`;
      const row = trouble.get(key) ?? { over: 0, maxMb: 0 };
      row.over++;
      row.maxMb = Math.max(row.maxMb, worker.memoryMb);
      trouble.set(key, row);
    }
    this.scene.metrics.trouble = [...trouble].map(([key, row]) => {
      const [onHost = '', app = ''] = key.split('\n');
      return {
        host: onHost,
        app,
        workersOverLimit: row.over,
        orphanSuspects: 0,
        maxWorkerMb: row.maxMb,
        at: now,
      };
    });
    this.scene.metrics.census = {
      apps: this.apps.map((app) => ({
        app: app.name,
        hosts: this.hosts.length,
        workers: this.pooled(app.name),
      })),
      agents: this.hosts.length,
      at: now,
    };
    return [...trouble.values()].reduce((sum, row) => sum + row.over, 0);
  }

  /** The host's side of one command, as it stands right after delivery. */
  #carryOut(command: DeliveredCommand, now: number): SentPick[] {
    const decoded = decodeOrderParameters(command.parameters, now);
    assert.ok(decoded.ok, `the controller sent ${JSON.stringify(command)}`);
    const { batch } = decoded;
    const at = now + DETACH_MS;
    const lines: OutcomeReport[] = [];
    const victims: FleetWorker[] = [];
    for (const order of batch.orders) {
      const worker = this.#workers.find(
        (w) =>
          w.host === command.host &&
          w.pid === order.pid &&
          w.startTime === order.startTime,
      );
      if (worker !== undefined) this.#remove(worker);
      lines.push({
        pid: order.pid,
        startTime: order.startTime,
        step: order.action,
        status: worker !== undefined ? 'killed' : 'gone',
        reason: worker !== undefined ? 'SIGKILL sent' : 'no such process',
        at,
      });
    }
    const picks: SentPick[] = [];
    for (const pick of batch.picks ?? []) {
      if (pick.kind !== 'pick') continue;
      picks.push({
        host: command.host,
        app: batch.app,
        count: pick.count,
        limitKb: pick.limitKb,
      });
      const chosen = this.#workers
        .filter(
          (w) =>
            w.host === command.host &&
            w.app === batch.app &&
            w.deadline === null &&
            w.memoryMb * KB_PER_MB > pick.limitKb,
        )
        .sort((a, b) => b.memoryMb - a.memoryMb)
        .slice(0, pick.count);
      for (const worker of chosen) {
        worker.deadline = at + pick.graceSeconds * 1000;
        this.#detached++;
        this.#spawn(worker.host, worker.app, worker.settledMb);
        victims.push(worker);
        lines.push({
          pid: worker.pid,
          startTime: worker.startTime,
          step: 'graceful',
          status: 'detached',
          reason: 'detached from the pool',
          at,
          deadline: worker.deadline,
          hostWaits: true,
        });
      }
    }
    const orders = batch.orders.length + victims.length;
    this.#runs.push({ commandId: command.commandId, orders, lines, victims });
    this.#report();
    return picks;
  }

  /** Each host SIGKILLs the victims whose deadline has come. */
  #meetDeadlines(now: number): void {
    for (const run of this.#runs) {
      for (const worker of run.victims) {
        if (worker.deadline === null || worker.deadline > now) continue;
        if (!this.#workers.includes(worker)) continue;
        run.lines.push({
          pid: worker.pid,
          startTime: worker.startTime,
          step: 'deadline',
          status: 'killed',
          reason: 'SIGKILL at the deadline',
          at: worker.deadline,
        });
        this.#remove(worker);
      }
    }
    this.#report();
  }

  /** What each running command has printed; ended ones are let go. */
  #report(): void {
    for (const run of [...this.#runs]) {
      const ended = run.victims.every((w) => !this.#workers.includes(w));
      const lines = run.lines.map(formatOutcomeLine);
      if (ended) {
        lines.push(
          formatDoneLine({
            orders: run.orders,
            outcomes: run.lines.length,
            rejections: 0,
          }),
        );
        this.#runs.splice(this.#runs.indexOf(run), 1);
      }
      this.scene.commands.reply(run.commandId, {
        status: ended ? 'Success' : 'InProgress',
        stdout: lines.join('\n'),
      });
    }
  }

  #spawn(onHost: string, app: string, settledMb: number): void {
    const pid = this.#nextPid++;
    this.#workers.push({
      host: onHost,
      app,
      pid,
      startTime: 50_000 + pid,
      settledMb,
      memoryMb: settledMb,
      deadline: null,
    });
  }

  #remove(worker: FleetWorker): void {
    const index = this.#workers.indexOf(worker);
    if (index >= 0) this.#workers.splice(index, 1);
  }
}

/**
 * The most workers of an app the fleet brakes let be in grace at once,
 * from the configuration's values as core/config.ts documents them:
 * `fleet.maxInGrace`, and `fleet.maxInGracePercent` of the app's census
 * workers, never below one; with both, the lower; with neither, none.
 */
export function fleetBudgetOf(config: FleetConfig, workers: number): number {
  const { maxInGrace, maxInGracePercent } = config.fleet;
  const byCount = maxInGrace ?? Number.POSITIVE_INFINITY;
  const byShare =
    maxInGracePercent === undefined
      ? Number.POSITIVE_INFINITY
      : Math.max(1, Math.floor((workers * maxInGracePercent) / 100));
  return Math.min(byCount, byShare);
}

/** `maxInGracePerHost` of the app's policy. */
export function hostBudgetOf(config: FleetConfig, app: string): number {
  const policy = policyFor(config, { group: app });
  assert.ok(policy, `the configuration ignores ${app}`);
  return policy.maxInGracePerHost;
}
