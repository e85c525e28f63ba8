/**
 * The real controller (lambdas/controller/controller.ts) built on the
 * simulator's ports, with order ids counted instead of random so that
 * one seed gives one run, and its log and metrics kept in memory.
 */
import { Controller } from '../lambdas/controller/controller.ts';
import type {
  ControllerLog,
  LogFields,
  MetricsSink,
} from '../lambdas/controller/controller-ports.ts';
import type { ControllerMetricName } from '../lambdas/controller/metric-names.ts';
import type { SimController, SimPorts } from './run.ts';

export interface ControllerRecord {
  readonly warnings: number;
  readonly errors: number;
  /** The first few warnings and errors, for a failing test to show. */
  readonly firstProblems: readonly string[];
  /** Sums of every metric the controller emitted. */
  readonly metrics: Readonly<Partial<Record<ControllerMetricName, number>>>;
}

export class RecordingControllerLog implements ControllerLog, MetricsSink {
  #warnings = 0;
  #errors = 0;
  readonly #problems: string[] = [];
  readonly #metrics: Partial<Record<ControllerMetricName, number>> = {};

  info(): void {}

  warn(message: string, fields: LogFields): void {
    this.#warnings++;
    this.#keep(message, fields);
  }

  error(message: string, fields: LogFields): void {
    this.#errors++;
    this.#keep(message, fields);
  }

  count(name: ControllerMetricName, value: number): void {
    this.#metrics[name] = (this.#metrics[name] ?? 0) + value;
  }

  record(): ControllerRecord {
    return {
      warnings: this.#warnings,
      errors: this.#errors,
      firstProblems: [...this.#problems],
      metrics: { ...this.#metrics },
    };
  }

  #keep(message: string, fields: LogFields): void {
    if (this.#problems.length >= 20) return;
    this.#problems.push(`${message} ${JSON.stringify(fields)}`);
  }
}

/** A factory for runSimulation; `log` receives what the controller says. */
export function realController(
  log: RecordingControllerLog = new RecordingControllerLog(),
): (ports: SimPorts) => SimController {
  return (ports) => {
    let orders = 0;
    return new Controller({
      fleet: ports.fleet,
      metrics: ports.metrics,
      commands: ports.commands,
      store: ports.store,
      parameters: ports.parameters,
      log,
      sink: log,
      newOrderId: () => `order-${(++orders).toString().padStart(8, '0')}`,
    });
  };
}
