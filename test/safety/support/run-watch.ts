/**
 * What a fleet-simulator run shows the controller and what the hosts
 * report back, for the checks the run's report has no figures for: per
 * controller tick, the BreakerOpen it emitted, the picks it sent and the
 * trouble and census it read; per worker put in grace, from the hosts'
 * own outcome lines, when it was detached and when the line that ends
 * its mark for the controller said it was gone.
 *
 * It wraps the ports realController (sim/real-controller.ts) is built
 * on, so the controller, the hosts and the run are the real ones. Runs
 * it watches should inject no faults: a send whose answer was lost
 * would hide which app its command was for.
 */
import { decodeOrderParameters } from '../../../core/order-codec.ts';
import { parseOutcomeReport } from '../../../core/outcome-report.ts';
import { identityKey, type WorkerIdentity } from '../../../core/worker.ts';
import { isTerminal } from '../../../lambdas/controller/outcomes.ts';
import { CONTROLLER_METRIC_NAMES } from '../../../lambdas/controller/metric-names.ts';
import type {
  CommandPort,
  CommandResult,
} from '../../../lambdas/ports/commands.ts';
import type { FleetMetricsReader } from '../../../lambdas/ports/fleet-metrics.ts';
import {
  realController,
  RecordingControllerLog,
} from '../../../sim/real-controller.ts';
import type { ControllerFactory } from '../../../sim/run.ts';
import type { SentPick } from './breach-fleet.ts';

export interface WatchedTick {
  readonly at: number;
  /** What the tick added to the BreakerOpen metric. */
  breakerOpen: number;
  readonly picks: SentPick[];
  /** Workers over their limit in the trouble the tick read. */
  overLimit: number;
  /** App → workers in the census the tick read. */
  readonly censusWorkers: Map<string, number>;
}

/** A worker in grace: from its graceful step to the line ending it. */
export interface GraceSpan {
  readonly host: string;
  readonly app: string;
  readonly from: number;
  /** Infinity while no line has ended it. */
  to: number;
}

interface CommandSent {
  readonly host: string;
  readonly app: string;
  /** Workers named by force-kill orders. */
  readonly forceKills: readonly WorkerIdentity[];
}

export class RunWatch {
  readonly log = new RecordingControllerLog();
  readonly ticks: WatchedTick[] = [];
  /** By identityKey of the worker. */
  readonly spans = new Map<string, GraceSpan>();
  readonly #commands = new Map<string, CommandSent>();

  /** realController, its ports watched. */
  controller(): ControllerFactory {
    const real = realController(this.log);
    return (ports) => {
      const controller = real({
        ...ports,
        metrics: this.#watchMetrics(ports.metrics),
        commands: this.#watchCommands(ports.commands, ports.clock),
      });
      return {
        tick: async (now) => {
          const before = this.#breakerOpenSoFar();
          const tick: WatchedTick = {
            at: now,
            breakerOpen: 0,
            picks: [],
            overLimit: 0,
            censusWorkers: new Map(),
          };
          this.ticks.push(tick);
          try {
            return await controller.tick(now);
          } finally {
            tick.breakerOpen = this.#breakerOpenSoFar() - before;
          }
        },
      };
    };
  }

  /**
   * For each worker put in grace, how many were in grace at that moment
   * (itself included) in its app fleet-wide and on its host.
   */
  inGraceAtEachStep(): {
    span: GraceSpan;
    inApp: number;
    onHost: number;
  }[] {
    const spans = [...this.spans.values()];
    return spans.map((span) => {
      const open = spans.filter(
        (other) =>
          other.app === span.app &&
          other.from <= span.from &&
          span.from < other.to,
      );
      return {
        span,
        inApp: open.length,
        onHost: open.filter((other) => other.host === span.host).length,
      };
    });
  }

  #breakerOpenSoFar(): number {
    return this.log.record().metrics[CONTROLLER_METRIC_NAMES.breakerOpen] ?? 0;
  }

  #current(): WatchedTick | undefined {
    return this.ticks.at(-1);
  }

  #watchMetrics(metrics: FleetMetricsReader): FleetMetricsReader {
    return {
      readTrouble: async (now) => {
        const trouble = await metrics.readTrouble(now);
        const tick = this.#current();
        if (tick !== undefined) {
          tick.overLimit = trouble.reduce(
            (sum, row) => sum + row.workersOverLimit,
            0,
          );
        }
        return trouble;
      },
      readCensus: async (now) => {
        const census = await metrics.readCensus(now);
        for (const row of census.apps) {
          this.#current()?.censusWorkers.set(row.app, row.workers);
        }
        return census;
      },
      silentHosts: (...args) => metrics.silentHosts(...args),
    };
  }

  #watchCommands(port: CommandPort, clock: () => number): CommandPort {
    return {
      send: async (...args: Parameters<CommandPort['send']>) => {
        const [host, parameters] = args;
        const sent = await port.send(...args);
        const decoded = decodeOrderParameters(parameters, clock());
        if (!decoded.ok) return sent;
        const { batch } = decoded;
        this.#commands.set(sent.commandId, {
          host,
          app: batch.app,
          forceKills: batch.orders
            .filter((order) => order.action === 'force-kill')
            .map(({ pid, startTime }) => ({ host, pid, startTime })),
        });
        for (const pick of batch.picks ?? []) {
          if (pick.kind !== 'pick') continue;
          this.#current()?.picks.push({
            host,
            app: batch.app,
            count: pick.count,
            limitKb: pick.limitKb,
          });
        }
        return sent;
      },
      results: async (commands) => {
        const results = await port.results(commands);
        for (const result of results) this.#read(result, clock());
        return results;
      },
      find: (...args: Parameters<CommandPort['find']>) => port.find(...args),
    };
  }

  /** Spans from what a host printed, ended as the controller ends marks. */
  #read(result: CommandResult, now: number): void {
    const command = this.#commands.get(result.commandId);
    if (command === undefined) return;
    const { host, app } = command;
    for (const line of parseOutcomeReport(result.stdout).outcomes) {
      const key = identityKey({
        host,
        pid: line.pid,
        startTime: line.startTime,
      });
      const span = this.spans.get(key);
      if (line.step === 'graceful' && line.status === 'detached') {
        if (span === undefined) {
          this.spans.set(key, { host, app, from: line.at, to: Infinity });
        }
      } else if (line.step === 'deadline' || line.step === 'force-kill') {
        if (span !== undefined) span.to = Math.min(span.to, line.at);
      }
    }
    // A forced kill that ended unreported closes its mark at once.
    if (!isTerminal(result.status)) return;
    for (const identity of command.forceKills) {
      const span = this.spans.get(identityKey(identity));
      if (span !== undefined) span.to = Math.min(span.to, now);
    }
  }
}
