/**
 * One run of the fleet simulator: builds the world, one agent per host,
 * the simulated AWS services and the controller, runs them in virtual
 * time and scores the result.
 *
 *   agents ──PutMetricData──> SimCloudWatch ──(30-90 s later)──> controller
 *   controller ──SendCommand──> SimCommands ──(delivery)──> HostSide
 *   HostSide ──detach / SIGKILL──> World, judged by the Ledger
 *   controller <──GetCommandInvocation── SimCommands (PF-OUTCOME lines)
 *
 * Faults: agents restart now and then (a restart also ends the commands
 * running on that host, so the host no longer waits for its deadlines),
 * and some restarts are aimed inside a grace time, where they matter;
 * commands arrive late or never (sim/ssm.ts).
 */
import { loadConfig, type ConfigInput } from '../core/config.ts';
import type { CadenceOptions } from '../core/publish-cadence.ts';
import { InMemoryParameterSource } from '../agent/parameters/in-memory-parameter-source.ts';
import type { ParameterSource } from '../agent/parameters/parameter-source.ts';
import type { CommandPort } from '../lambdas/ports/commands.ts';
import type { FleetMetricsReader } from '../lambdas/ports/fleet-metrics.ts';
import type { RecordStore } from '../lambdas/store/record-store.ts';
import { SimAgent } from './agent.ts';
import {
  AgentConfigs,
  ConfiguredWorld,
  parameterEntries,
  type ConfigPush,
} from './config-push.ts';
import {
  minimumCalls,
  parameterCount,
  totalCalls,
  type Snapshot,
} from './api-calls.ts';
import { Scheduler, VirtualClock } from './clock.ts';
import { SimCloudWatch } from './cloudwatch.ts';
import { countingRecordStore } from './dynamo.ts';
import { FaultInjector, withFaults } from './faults.ts';
import { HostSide } from './host-side.ts';
import { Ledger } from './ledger.ts';
import { SeededRandom } from './random.ts';
import { report, type RunReport } from './run-report.ts';
import { DEFAULT_DELIVERY, SimCommands, type DeliveryOptions } from './ssm.ts';
import { DEFAULT_WORLD, type AppSpec, type WorldOptions } from './world.ts';

const HOUR_MS = 3_600_000;
/** 1 December 2026, 00:00 UTC: runs start on the hour. */
export const SIM_EPOCH = Date.UTC(2026, 11, 1);
export const SIM_FLEET = 'sim';
export type { ConfigPush, RunReport };

/** What the controller is built from; the same ports the Lambda gets. */
export interface SimPorts {
  readonly fleet: string;
  readonly clock: () => number;
  readonly parameters: ParameterSource;
  readonly metrics: FleetMetricsReader;
  readonly commands: CommandPort;
  readonly store: RecordStore;
}

export interface SimController {
  tick(now: number): Promise<unknown>;
}

export type ControllerFactory = (ports: SimPorts) => SimController;

export interface RunOptions {
  readonly seed: number;
  readonly hosts: number;
  readonly apps: readonly AppSpec[];
  readonly durationMs: number;
  readonly controller: ControllerFactory;
  readonly config?: ConfigInput;
  /**
   * Configurations written to Parameter Store during the run, each in
   * place of the whole tree (sim/config-push.ts). Parameter reads are
   * billed by the size of the tree the run started with.
   */
  readonly configPushes?: readonly ConfigPush[];
  readonly world?: Partial<Omit<WorldOptions, 'hosts' | 'apps'>>;
  readonly delivery?: Partial<DeliveryOptions>;
  /** EventBridge's schedule. Default one minute. */
  readonly tickIntervalMs?: number;
  /** The agent's sampling. Default 5 s. */
  readonly sampleIntervalMs?: number;
  readonly cadence?: CadenceOptions;
  /** Default 30 to 90 s. */
  readonly readableAfterMs?: readonly [number, number];
  /** Random agent restarts per host per day. Default 1. */
  readonly restartsPerHostDay?: number;
  /** Share of graceful steps followed by a restart within the grace. */
  readonly restartInGraceShare?: number;
  readonly agentDownMs?: readonly [number, number];
  /**
   * Breach-to-graceful latency counts breaches after this much of the
   * run: at the start, every worker already over waits for the first
   * reads and the first census. Default 15 minutes.
   */
  readonly warmUpMs?: number;
  /** Called after each tick with what it cost. */
  readonly afterTick?: (measure: TickMeasure) => void;
  /**
   * Share of the AWS calls (agents' and controller's) that fail, for the
   * safety suite (sim/faults.ts). Default 0: the benchmarks see none.
   */
  readonly faultShare?: number;
  /** Instances terminated at random times during the run. Default 0. */
  readonly vanishingHosts?: number;
  /**
   * A tick that throws is a Lambda invocation that died; the next one
   * runs as usual. Without this, a throwing tick ends the run.
   */
  readonly onTickDied?: (at: number, error: unknown) => void;
}

/** One controller tick, measured. */
export interface TickMeasure {
  readonly index: number;
  readonly at: number;
  /** Every AWS call the tick made. */
  readonly apiCalls: number;
  /**
   * The fewest calls the batching limits allow for the same work: the
   * same orders sent, commands polled, marks written and data read, each
   * read made once and every batch filled (see minimumCalls).
   */
  readonly minimumApiCalls: number;
  /** process.cpuUsage over the tick, user and system. */
  readonly cpuMs: number;
  /**
   * Heap in use after the tick minus before it: what the tick kept, a
   * floor for what it needed (garbage it made and dropped is not seen).
   */
  readonly heapGrowthMb: number;
  /** The whole simulation's, world and agents included. */
  readonly heapUsedMb: number;
  readonly rssMb: number;
}

export async function runSimulation(options: RunOptions): Promise<RunReport> {
  const random = new SeededRandom(options.seed);
  const clock = new VirtualClock(SIM_EPOCH);
  const scheduler = new Scheduler(clock);
  const now = () => clock.now();
  const tickIntervalMs = options.tickIntervalMs ?? 60_000;
  const end = SIM_EPOCH + options.durationMs;
  const configInput: ConfigInput = options.config ?? {};
  const config = loadConfig(configInput);

  const world = new ConfiguredWorld(
    {
      ...DEFAULT_WORLD,
      ...options.world,
      hosts: options.hosts,
      apps: options.apps,
    },
    scheduler,
    random.fork(1),
  );
  const ledger = new Ledger(
    world,
    SIM_EPOCH + (options.warmUpMs ?? 15 * 60_000),
  );
  const cloudwatch = new SimCloudWatch({
    clock: now,
    random: random.fork(2),
    readableAfterMs: options.readableAfterMs ?? [30_000, 90_000],
  });
  const restarts = random.fork(3);
  const agentDownMs = options.agentDownMs ?? [10_000, 120_000];
  const agents: SimAgent[] = [];
  let adoptedDeadlines = 0;
  const restartHost = (index: number) => {
    const agent = agents[index];
    if (agent === undefined || !agent.up) return;
    const downMs = restarts.between(agentDownMs[0], agentDownMs[1]);
    agent.restart(downMs);
    hostSide.killRuns(agent.host);
    // Back up, the agent adopts what the ended runs were waiting for.
    scheduler.after(downMs + 1, () => {
      adoptedDeadlines += hostSide.spool.adoptOrphans(agent.host, () => ({
        up: agent.up,
        epoch: agent.counts().restarts,
      }));
    });
  };
  const restartInGrace = options.restartInGraceShare ?? 0;
  const hostSide = new HostSide(world, scheduler, ledger, {
    detached: (worker, graceSeconds) => {
      if (!restarts.chance(restartInGrace)) return;
      const index = worker.host.index;
      scheduler.after(restarts.between(1_000, graceSeconds * 1000), () =>
        restartHost(index),
      );
    },
  });
  const commands = new SimCommands(world, scheduler, hostSide, random.fork(4), {
    ...DEFAULT_DELIVERY,
    ...options.delivery,
  });
  const counted = countingRecordStore();
  const parameters = parametersFor(configInput);
  const faults =
    (options.faultShare ?? 0) > 0
      ? new FaultInjector(random.fork(6), options.faultShare ?? 0)
      : undefined;
  const agentCloudWatch = withFaults(cloudwatch, faults, 'cloudwatch', ['put']);

  const agentConfigs = new AgentConfigs(config, world.hosts.length);
  for (const host of world.hosts) {
    const held = agentConfigs.view(host.index);
    agents.push(
      new SimAgent(host, world, scheduler, agentCloudWatch, held, {
        sampleIntervalMs: options.sampleIntervalMs ?? 5_000,
        ...(options.cadence && { cadence: options.cadence }),
      }),
    );
  }
  world.observe({
    spawned: (worker) => {
      const breach = world.breachAt(worker);
      if (breach !== null) agents[worker.host.index]?.wake(breach);
    },
    changed: (host, at) => agents[host.index]?.wake(at),
  });
  world.populate();
  for (const agent of agents) agent.start();
  agentConfigs.schedule(options.configPushes ?? [], configInput, {
    fleet: SIM_FLEET,
    start: SIM_EPOCH,
    scheduler,
    parameters,
    world,
    random: random.fork(8),
    takenUp: (index) => agents[index]?.wake(now()),
  });
  scheduleRestarts(options, scheduler, restarts, end, restartHost);
  const vanishing = random.fork(7);
  for (let i = 0; i < (options.vanishingHosts ?? 0); i++) {
    const host = world.hosts[vanishing.integer(0, world.hosts.length - 1)];
    if (host === undefined) continue;
    scheduler.at(vanishing.between(SIM_EPOCH, end), () => {
      agents[host.index]?.stop();
      hostSide.killRuns(host);
      world.vanish(host);
    });
  }
  for (let hour = SIM_EPOCH + HOUR_MS; hour < end; hour += HOUR_MS) {
    scheduler.at(hour, () => cloudwatch.rollOver());
  }

  const controller = options.controller({
    fleet: SIM_FLEET,
    clock: now,
    parameters: withFaults(parameters, faults, 'ssm', ['parametersUnder']),
    metrics: withFaults(cloudwatch, faults, 'cloudwatch', [
      'readTrouble',
      'readCensus',
      'silentHosts',
    ]),
    commands: withFaults(commands, faults, 'ssm', ['send', 'results', 'find']),
    store: withFaults(counted.store, faults, 'dynamodb'),
  });
  const callsPerTick: number[] = [];
  const pages = () =>
    parameters.reads * Math.ceil(parameterCount(configInput) / 10);
  const snapshot = (): Snapshot => ({
    cloudwatch: cloudwatch.usage(),
    commands: commands.usage(),
    store: counted.usage(),
    parameterPages: pages(),
  });
  // EventBridge fires within its minute, not on the second.
  const tickJitter = random.fork(5);
  for (let at = SIM_EPOCH + tickIntervalMs; at < end; at += tickIntervalMs) {
    scheduler.at(at + tickJitter.between(0, 5_000), async () => {
      const before = snapshot();
      const heapBefore = process.memoryUsage().heapUsed;
      const cpu = process.cpuUsage();
      try {
        await controller.tick(now());
      } catch (error) {
        if (options.onTickDied === undefined) throw error;
        options.onTickDied(now(), error);
      }
      const used = process.cpuUsage(cpu);
      const after = snapshot();
      const calls = totalCalls(after) - totalCalls(before);
      callsPerTick.push(calls);
      const memory = process.memoryUsage();
      options.afterTick?.({
        index: callsPerTick.length - 1,
        at: now(),
        apiCalls: calls,
        minimumApiCalls: minimumCalls(
          before,
          after,
          Math.ceil(parameterCount(configInput) / 10),
        ),
        cpuMs: (used.user + used.system) / 1000,
        heapGrowthMb: (memory.heapUsed - heapBefore) / 2 ** 20,
        heapUsedMb: memory.heapUsed / 2 ** 20,
        rssMb: memory.rss / 2 ** 20,
      });
    });
  }

  await scheduler.runUntil(end);
  return report(options, {
    world,
    ledger,
    start: SIM_EPOCH,
    tickIntervalMs,
    end,
    callsPerTick,
    usage: {
      cloudwatch: cloudwatch.usage(),
      commands: commands.usage(),
      store: counted.usage(),
      parameterReads: parameters.reads,
      agentRestarts: agents.reduce((sum, a) => sum + a.counts().restarts, 0),
      adoptedDeadlines,
    },
    maxDeliveryMs: (options.delivery?.deliveryMs ??
      DEFAULT_DELIVERY.deliveryMs)[1],
  });
}

/** The configuration as the parameter tree holds it, a branch per key. */
function parametersFor(config: ConfigInput): InMemoryParameterSource {
  return new InMemoryParameterSource(
    Object.fromEntries(parameterEntries(SIM_FLEET, config)),
  );
}

function scheduleRestarts(
  options: RunOptions,
  scheduler: Scheduler,
  random: SeededRandom,
  end: number,
  restartHost: (index: number) => void,
): void {
  const perDay = options.restartsPerHostDay ?? 1;
  if (perDay <= 0) return;
  const meanGapMs = 86_400_000 / perDay;
  for (let index = 0; index < options.hosts; index++) {
    let at = SIM_EPOCH;
    for (;;) {
      at += -Math.log(1 - random.next()) * meanGapMs;
      if (at >= end) break;
      scheduler.at(at, () => restartHost(index));
    }
  }
}
