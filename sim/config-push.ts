/**
 * Configuration pushed to Parameter Store during a run, as an operator
 * changes a limit (or sets one far too low) while the fleet is running:
 *
 *   controller  reads the new tree on its next tick (it reads every tick)
 *   agents      each takes it up when its cache next reads, a random
 *               moment within the cache time (agent/fleet-config-cache.ts)
 *   world       judges workers by the new limits from the push on, so
 *               the Ledger calls a graceful step fair when the worker is
 *               over the limit in force; memory stays sized by AppSpec,
 *               as a pushed limit does not change what an app needs
 *
 * A push the schema refuses reaches the tree only: the controller, the
 * agents and the world keep the last good configuration, as the real
 * ones do.
 */
import {
  parseConfig,
  policyFor,
  type ConfigInput,
  type FleetConfig,
} from '../core/config.ts';
import { parameterRoot } from '../core/parameter-tree.ts';
import type { InMemoryParameterSource } from '../agent/parameters/in-memory-parameter-source.ts';
import type { Scheduler } from './clock.ts';
import type { SeededRandom } from './random.ts';
import { World, type AppSpec, type SimWorker } from './world.ts';

/** The agents' cache time, agent/fleet-config-cache.ts's default. */
export const AGENT_CONFIG_CACHE_MS = 15 * 60_000;

export interface ConfigPush {
  /** After the run's start. */
  readonly atMs: number;
  /** The whole tree after the push, as RunOptions.config gives it. */
  readonly config: ConfigInput;
  /** Every agent has taken it up by then. Default AGENT_CONFIG_CACHE_MS. */
  readonly agentsWithinMs?: number;
}

/** The tree of `config` under the fleet's root: a parameter per key. */
export function parameterEntries(
  fleet: string,
  config: ConfigInput,
): [name: string, value: string][] {
  const root = parameterRoot(fleet);
  const entries = Object.entries(config).map(
    ([key, value]): [string, string] => [
      `${root}/${key}`,
      JSON.stringify(value),
    ],
  );
  // The tree must not be empty: an empty read is not a configuration.
  return entries.length > 0 ? entries : [[`${root}/unlistedApps`, 'enforce']];
}

/** A world judging its workers by the limits in force. */
export class ConfiguredWorld extends World {
  /** Limits set by a push, where they differ from the AppSpec's. */
  readonly #pushedMb = new Map<AppSpec, number>();

  /** From now on, workers are judged by `config`'s limits. */
  judgeBy(config: FleetConfig): void {
    for (const app of this.options.apps) {
      const root = `/data/${app.name}/current`;
      const limitMb = policyFor(config, { group: root, root })?.limitMb;
      // An app the configuration ignores is acted on by no one: its own
      // limit is as good as any.
      if (limitMb === undefined) this.#pushedMb.delete(app);
      else this.#pushedMb.set(app, limitMb);
    }
  }

  override breachAt(worker: SimWorker): number | null {
    return super.breachAt(this.#judged(worker));
  }

  override overLimit(worker: SimWorker, at: number): boolean {
    return super.overLimit(this.#judged(worker), at);
  }

  /** The worker as if its app had always had the limit in force. */
  #judged(worker: SimWorker): SimWorker {
    const limitMb = this.#pushedMb.get(worker.app);
    if (limitMb === undefined || limitMb === worker.app.limitMb) return worker;
    return { ...worker, app: { ...worker.app, limitMb } };
  }
}

export interface PushTargets {
  readonly fleet: string;
  readonly start: number;
  readonly scheduler: Scheduler;
  readonly parameters: InMemoryParameterSource;
  readonly world: ConfiguredWorld;
  readonly random: SeededRandom;
  /** An agent took up a configuration: it should sample soon. */
  readonly takenUp: (agent: number) => void;
}

/** What one agent holds: a configuration and the push it came with. */
interface Held {
  config: FleetConfig;
  /** The number of the push it took up; 0 for the run's own. */
  push: number;
}

/** The configuration each agent holds, changed by the pushes. */
export class AgentConfigs {
  readonly #held: Held[];

  constructor(initial: FleetConfig, agents: number) {
    this.#held = Array.from({ length: agents }, () => ({
      config: initial,
      push: 0,
    }));
  }

  /**
   * What agent `index` is built with: SimAgent reads its configuration
   * at every sample, so a view of the one held lets a push reach it.
   */
  view(index: number): FleetConfig {
    const held = this.#held[index];
    if (held === undefined) throw new RangeError(`no agent ${index}`);
    return {
      get defaults() {
        return held.config.defaults;
      },
      get apps() {
        return held.config.apps;
      },
      get unlistedApps() {
        return held.config.unlistedApps;
      },
      get orphans() {
        return held.config.orphans;
      },
      get dryRun() {
        return held.config.dryRun;
      },
      get fleet() {
        return held.config.fleet;
      },
    };
  }

  /** Schedules every push; `initial` is the tree the run started with. */
  schedule(
    pushes: readonly ConfigPush[],
    initial: ConfigInput,
    targets: PushTargets,
  ): void {
    const ordered = [...pushes].sort((a, b) => a.atMs - b.atMs);
    let served = initial;
    for (const [index, push] of ordered.entries()) {
      targets.scheduler.at(targets.start + push.atMs, () => {
        replaceTree(targets, served, push.config);
        served = push.config;
        const parsed = parseConfig(push.config);
        if (!parsed.ok) return;
        targets.world.judgeBy(parsed.config);
        this.#spreadToAgents(index + 1, parsed.config, push, targets);
      });
    }
  }

  #spreadToAgents(
    number: number,
    config: FleetConfig,
    push: ConfigPush,
    targets: PushTargets,
  ): void {
    const within = push.agentsWithinMs ?? AGENT_CONFIG_CACHE_MS;
    for (const [agent, held] of this.#held.entries()) {
      targets.scheduler.after(targets.random.between(0, within), () => {
        // A later push taken up first is not undone by an earlier one.
        if (held.push >= number) return;
        held.config = config;
        held.push = number;
        targets.takenUp(agent);
      });
    }
  }
}

function replaceTree(
  targets: PushTargets,
  before: ConfigInput,
  after: ConfigInput,
): void {
  for (const [name] of parameterEntries(targets.fleet, before)) {
    targets.parameters.delete(name);
  }
  for (const [name, value] of parameterEntries(targets.fleet, after)) {
    targets.parameters.set(name, value);
  }
}
