/**
 * STAND-IN Passenger tools for the demo: no Passenger is installed, so
 * these answer from the simulated host instead of running
 * `passenger-status` and `passenger-config`.
 *
 * They answer in the real tools' shapes (the XML of
 * `passenger-status --show=xml` 6.0.17, the exit status and message of
 * `passenger-config detach-process`), so that the enforcer's real parsing
 * and checking code runs unchanged. `passenger-memory-stats` and users'
 * own commands are not simulated: they report themselves missing, and the
 * enforcer reads memory from /proc as it does on a real host.
 */
import { userInfo } from 'node:os';
import type { PassengerTools, ToolResult } from '../host.ts';
import type { ScenarioApp } from './scenario.ts';
import {
  SIMULATED_PASSENGER_VERSION,
  groupNameOf,
  type SimProcess,
} from './sim-process.ts';

/** What the stand-ins need of the simulated host. */
export interface SimulatedPool {
  readonly scenario: { readonly apps: readonly ScenarioApp[] };
  poolWorkers(): SimProcess[];
  detach(pid: number): boolean;
}

/** The demo's children run as the user who started it. */
const OWNER = userInfo();

/** Passenger's default PassengerMaxPoolSize is 6; the demo uses more. */
const POOL_MAX = 12;

export class StandInPassengerTools implements PassengerTools {
  /** Shown in the demo's output, so nobody mistakes it for the real one. */
  static readonly label = 'stand-in Passenger tools (simulated pool)';

  readonly #pool: SimulatedPool;
  readonly #now: () => number;

  constructor(pool: SimulatedPool, now: () => number = Date.now) {
    this.#pool = pool;
    this.#now = now;
  }

  async poolXml(): Promise<ToolResult> {
    const started = this.#now();
    const xml = renderPoolXml(
      this.#pool.scenario.apps,
      this.#pool.poolWorkers(),
      started,
    );
    return done({ exitCode: 0, stdout: xml, started, now: this.#now() });
  }

  async memoryStats(): Promise<ToolResult> {
    return notSimulated('passenger-memory-stats');
  }

  async detach(pid: number): Promise<ToolResult> {
    const started = this.#now();
    if (this.#pool.detach(pid)) {
      return done({
        exitCode: 0,
        stdout: `Process ${pid} detached.\n`,
        started,
        now: this.#now(),
      });
    }
    return done({
      exitCode: 1,
      stderr: `Could not detach process ${pid}.\n`,
      started,
      now: this.#now(),
    });
  }

  async run(argv: readonly string[]): Promise<ToolResult> {
    return notSimulated(argv[0] ?? '(empty command)');
  }
}

/**
 * The pool as `passenger-status --show=xml` prints it: one line, `(` and
 * `)` escaped, a supergroup with one group per app, every worker of the
 * pool with its sessions, life status and memory (kB).
 */
export function renderPoolXml(
  apps: readonly ScenarioApp[],
  workers: readonly SimProcess[],
  now: number,
): string {
  const groups = apps.map((app) => {
    const members = workers.filter((w) => w.app === app.name);
    return renderGroup(app, members, now);
  });
  const body =
    element('passenger_version', SIMULATED_PASSENGER_VERSION) +
    element('group_count', apps.length) +
    element('process_count', workers.length) +
    element('max', POOL_MAX) +
    element('capacity_used', workers.length) +
    element('get_wait_list_size', 0) +
    `<supergroups>${groups.join('')}</supergroups>`;
  return (
    '<?xml version="1.0" encoding="iso-8859-1" ?>\n' +
    `<info version="3">${body}</info>\n`
  );
}

function renderGroup(
  app: ScenarioApp,
  workers: readonly SimProcess[],
  now: number,
): string {
  const name = groupNameOf(app);
  const enabled = workers.filter((w) => w.detachedAt === undefined).length;
  const group =
    element('name', name) +
    element('component_name', name) +
    element('app_root', app.root) +
    element('app_type', 'ruby') +
    element('environment', 'production') +
    element('enabled_process_count', enabled) +
    element('disabling_process_count', 0) +
    element('disabled_process_count', 0) +
    element('capacity_used', workers.length) +
    element('get_wait_list_size', 0) +
    element('processes_being_spawned', 0) +
    element('life_status', 'ALIVE') +
    // The workers' owner; the Unix group reuses the user's name.
    element('user', OWNER.username) +
    element('uid', OWNER.uid) +
    element('group', OWNER.username) +
    element('gid', OWNER.gid) +
    `<processes>${workers.map((w) => renderProcess(w, now)).join('')}` +
    '</processes>';
  return (
    '<supergroup>' +
    element('name', name) +
    element('state', 'READY') +
    element('get_wait_list_size', 0) +
    element('capacity_used', workers.length) +
    `<group default="true">${group}</group>` +
    '</supergroup>'
  );
}

function renderProcess(worker: SimProcess, now: number): string {
  const sessions = worker.busyUntil > now ? 1 : 0;
  const detached = worker.detachedAt !== undefined;
  // Passenger shuts a detached worker down once its last request ends.
  const lifeStatus =
    detached && sessions === 0 ? 'SHUTDOWN_TRIGGERED' : 'ALIVE';
  const privateDirty = worker.memory?.privateDirtyKb ?? 0;
  const swap = worker.memory?.swapKb ?? 0;
  const spawnedUs = worker.startedAt * 1000;
  return (
    '<process>' +
    element('pid', worker.pid) +
    element('concurrency', 1) +
    element('sessions', sessions) +
    element('busyness', sessions) +
    element('processed', 0) +
    element('spawn_start_time', spawnedUs) +
    element('spawn_end_time', spawnedUs) +
    element('last_used', now * 1000) +
    element('uptime', `${Math.round((now - worker.startedAt) / 1000)}s`) +
    element('life_status', lifeStatus) +
    element('enabled', detached ? 'DETACHED' : 'ENABLED') +
    element('has_metrics', 'true') +
    element('cpu', 0) +
    element('rss', worker.memory?.rssKb ?? 0) +
    element('private_dirty', privateDirty) +
    element('swap', swap) +
    element('real_memory', privateDirty + swap) +
    element('command', worker.title) +
    '</process>'
  );
}

function element(name: string, value: string | number): string {
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** As Passenger escapes text: markup characters and also `(` and `)`. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"'()]/g, (char) => `&#${char.charCodeAt(0)};`);
}

interface Finished {
  readonly exitCode: number;
  readonly stdout?: string;
  readonly stderr?: string;
  readonly started: number;
  readonly now: number;
}

function done(result: Finished): ToolResult {
  return {
    exitCode: result.exitCode,
    signal: null,
    stdout: result.stdout ?? '',
    stderr: result.stderr ?? '',
    timedOut: false,
    missing: false,
    elapsedMs: result.now - result.started,
  };
}

function notSimulated(program: string): ToolResult {
  return {
    exitCode: null,
    signal: null,
    stdout: '',
    stderr: `${program}: not simulated by the demo's stand-in tools`,
    timedOut: false,
    missing: true,
    elapsedMs: 0,
  };
}
