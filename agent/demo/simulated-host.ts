/**
 * A pretend Passenger host made of real processes, for the demo and its
 * tests: app workers, a preloader, a core and a watchdog, each a titled
 * child (see titled-process.ts) that /proc shows exactly as it would show
 * the real thing.
 *
 * The host plays the scenario (workers grow, one turns frozen, one is in
 * a long request), answers detach requests as Passenger does (the worker
 * leaves once idle, a replacement is spawned at once), replaces workers
 * that die, and judges every death it sees (see sim-process.ts) from its
 * own memory readings and its children's exit status, never from the
 * enforcer's log.
 */
import { measuredKb } from '../../core/measure.ts';
import { kbToMbRounded } from '../../core/worker.ts';
import { readChildMemory } from './child-memory.ts';
import {
  workerTitle,
  wrongKillReason,
  type SimProcess,
  type SimRole,
  type WrongKill,
} from './sim-process.ts';
import {
  appOf,
  type Scenario,
  type ScenarioApp,
  type ScriptStep,
  type WorkerPart,
} from './scenario.ts';
import { startTitledProcess, type TitledProcess } from './titled-process.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Child {
  readonly handle: TitledProcess;
  readonly state: Mutable<SimProcess>;
}

interface SpawnSpec {
  readonly title: string;
  readonly role: SimRole;
  readonly initialMb: number;
  readonly app?: ScenarioApp;
  readonly part?: WorkerPart | 'replacement';
  readonly frozen?: boolean;
  readonly replaces?: number;
}

/** How often the host reads its children's memory. */
const METER_MS = 250;

export class SimulatedHost {
  readonly scenario: Scenario;
  #startedAt = 0;
  readonly #children = new Map<number, Child>();
  readonly #scripted: { child: Child; steps: readonly ScriptStep[] }[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #pendingSpawns = new Set<Promise<unknown>>();
  readonly #wrongKills: WrongKill[] = [];
  readonly #exitsDuringRun: SimProcess[] = [];
  readonly #spawnFailures: string[] = [];
  #meter: NodeJS.Timeout | undefined;
  #stopping = false;

  private constructor(scenario: Scenario) {
    this.scenario = scenario;
  }

  /**
   * Starts every process of the scenario and its script. After `signal`
   * aborts, the host only waits to be stopped (see wrapUp).
   */
  static async start(
    scenario: Scenario,
    signal?: AbortSignal,
  ): Promise<SimulatedHost> {
    const host = new SimulatedHost(scenario);
    if (signal?.aborted) host.wrapUp();
    signal?.addEventListener('abort', () => host.wrapUp(), { once: true });
    try {
      await host.#startProcesses();
    } catch (error) {
      await host.stop();
      throw error;
    }
    host.#startedAt = Date.now();
    if (host.#stopping) return host;
    host.#startScript();
    host.#meter = setInterval(() => host.#measureAll(), METER_MS);
    return host;
  }

  /** Epoch ms the script started. */
  get startedAt(): number {
    return this.#startedAt;
  }

  /** Every child ever started, oldest first. */
  processes(): SimProcess[] {
    return [...this.#children.values()].map((child) => ({ ...child.state }));
  }

  /** The workers Passenger's pool lists: alive, detached or not. */
  poolWorkers(): SimProcess[] {
    return this.processes().filter((p) => p.role === 'worker' && !p.exit);
  }

  /** Whether the pid is a child of this host that is still running. */
  isLive(pid: number): boolean {
    const child = this.#children.get(pid);
    return child !== undefined && child.state.exit === undefined;
  }

  wrongKills(): WrongKill[] {
    return [...this.#wrongKills];
  }

  /** Children that exited while the host ran, not when it was stopped. */
  exitsDuringRun(): SimProcess[] {
    return [...this.#exitsDuringRun];
  }

  /** Replacements that could not be started, one sentence each. */
  spawnFailures(): string[] {
    return [...this.#spawnFailures];
  }

  /**
   * What `passenger-config detach-process` asks of Passenger: false when
   * the pid is not an attached worker of the pool.
   */
  detach(pid: number): boolean {
    const child = this.#children.get(pid);
    const state = child?.state;
    if (!child || !state || state.role !== 'worker') return false;
    if (state.exit || state.detachedAt !== undefined) return false;
    this.#measure(child);
    state.detachedAt = Date.now();
    state.mbAtDetach = state.mb;
    if (state.part === 'busy') {
      // Its request is still running when the detach arrives.
      this.#send(child, `busy ${this.scenario.busyOnDetachMs}`);
    }
    this.#send(child, 'detach');
    this.#replace(child);
    return true;
  }

  /**
   * Ends the story at once: no more script steps, replacements or
   * judgements. A Ctrl-C on a terminal reaches the children too, and the
   * ones that obey it must not count as wrong kills.
   */
  wrapUp(): void {
    this.#stopping = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (this.#meter) clearInterval(this.#meter);
  }

  /** SIGKILLs every child still running and waits for each to exit. */
  async stop(): Promise<void> {
    this.wrapUp();
    await Promise.allSettled([...this.#pendingSpawns]);
    await Promise.all(
      [...this.#children.values()].map((child) => child.handle.stop()),
    );
  }

  async #startProcesses(): Promise<void> {
    const { scenario } = this;
    const specs: SpawnSpec[] = [
      { title: 'Passenger watchdog', role: 'watchdog', initialMb: 0 },
      { title: 'Passenger core', role: 'core', initialMb: 20 },
    ];
    const preloaded = scenario.apps[0];
    if (preloaded) {
      specs.push({
        title: `Passenger AppPreloader: ${preloaded.root}`,
        role: 'preloader',
        initialMb: scenario.preloaderMb,
        app: preloaded,
      });
    }
    // One at a time keeps pids in the scenario's order and spares the CPU.
    for (const spec of specs) {
      if (this.#stopping) return;
      await this.#spawn(spec);
    }
    for (const scripted of scenario.workers) {
      if (this.#stopping) return;
      const app = appOf(scenario, scripted.app);
      const child = await this.#spawn({
        title: workerTitle(app),
        role: 'worker',
        initialMb: scripted.initialMb,
        app,
        part: scripted.part,
        frozen: scripted.part === 'frozen',
      });
      this.#scripted.push({ child, steps: scripted.steps });
    }
  }

  #startScript(): void {
    for (const { child, steps } of this.#scripted) {
      for (const step of steps) {
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          this.#send(child, step.line);
        }, step.atMs);
        this.#timers.add(timer);
      }
    }
  }

  async #spawn(spec: SpawnSpec): Promise<Child> {
    const handle = await startTitledProcess({
      title: spec.title,
      initialMb: spec.initialMb,
      onSignal: spec.frozen ? 'ignore' : 'exit',
    });
    const state: Mutable<SimProcess> = {
      pid: handle.pid,
      title: spec.title,
      role: spec.role,
      startedAt: Date.now(),
      mb: null,
      busyUntil: 0,
      ...(spec.app && { app: spec.app.name, limitMb: spec.app.limitMb }),
      ...(spec.part && { part: spec.part }),
      ...(spec.replaces !== undefined && { replaces: spec.replaces }),
    };
    const child: Child = { handle, state };
    this.#children.set(handle.pid, child);
    handle.child.once('exit', (code, signal) =>
      this.#onExit(child, code, signal),
    );
    this.#measure(child);
    return child;
  }

  #send(child: Child, line: string): void {
    if (child.state.exit) return;
    const [verb, arg] = line.split(' ');
    if (verb === 'busy') {
      const until = Date.now() + Number(arg);
      child.state.busyUntil = Math.max(child.state.busyUntil, until);
    }
    child.handle.send(line);
  }

  #onExit(
    child: Child,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    child.state.exit = { at: Date.now(), code, signal };
    if (this.#stopping) return;
    this.#exitsDuringRun.push({ ...child.state });
    const reason = wrongKillReason(child.state);
    if (reason !== undefined) {
      this.#wrongKills.push({ process: { ...child.state }, reason });
    }
    // A detached worker was replaced when it was detached.
    if (child.state.detachedAt === undefined) this.#replace(child);
  }

  /** Passenger keeps each app at its size: a new worker for the old. */
  #replace(old: Child): void {
    if (this.#stopping || old.state.role !== 'worker') return;
    const app = appOf(this.scenario, old.state.app ?? '');
    const spawning = this.#spawn({
      title: workerTitle(app),
      role: 'worker',
      initialMb: this.scenario.replacementMb,
      app,
      part: 'replacement',
      replaces: old.state.pid,
    }).then(
      (fresh) => {
        old.state.replacedBy = fresh.state.pid;
      },
      (error: unknown) => {
        this.#spawnFailures.push(
          `could not replace worker ${old.state.pid} of ${app.name}: ` +
            (error instanceof Error ? error.message : String(error)),
        );
      },
    );
    this.#pendingSpawns.add(spawning);
    void spawning.finally(() => this.#pendingSpawns.delete(spawning));
  }

  #measureAll(): void {
    for (const child of this.#children.values()) {
      if (!child.state.exit) this.#measure(child);
    }
  }

  #measure(child: Child): void {
    const figures = readChildMemory(child.state.pid);
    if (figures === undefined) return;
    const kb = measuredKb(figures, this.scenario.measure);
    if (kb === null) return;
    child.state.memory = figures;
    child.state.mb = kbToMbRounded(kb);
  }
}
