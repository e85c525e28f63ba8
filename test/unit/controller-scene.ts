/**
 * A controller over in-memory ports at pinned times, for the scenario
 * tests of test/unit/controller.test.ts.
 */
import {
  formatDoneLine,
  formatOutcomeLine,
  type OutcomeReport,
} from '../../core/outcome-report.ts';
import { InMemoryParameterSource } from '../../agent/parameters/in-memory-parameter-source.ts';
import { Controller } from '../../lambdas/controller/controller.ts';
import type {
  ControllerLog,
  LogFields,
} from '../../lambdas/controller/controller-ports.ts';
import {
  InMemoryCommandPort,
  InMemoryFleetMetrics,
} from '../../lambdas/controller/in-memory-ports.ts';
import type { ControllerMetricName } from '../../lambdas/controller/metric-names.ts';
import type { HostAppTrouble } from '../../lambdas/ports/fleet-metrics.ts';
import { InMemoryRecordStore } from '../../lambdas/store/in-memory-record-store.ts';
import type { RecordStore } from '../../lambdas/store/record-store.ts';

/** 2026-12-03 13:00:00 UTC. */
export const T0 = Date.UTC(2026, 11, 3, 13, 0, 0);
export const ROOT = '/passenger-fleet/prod';

export function host(n: number): string {
  return `i-${n.toString(16).padStart(17, '0')}`;
}

export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: LogFields;
}

export class Scene {
  readonly store = new InMemoryRecordStore();
  readonly metrics = new InMemoryFleetMetrics();
  readonly parameters = new InMemoryParameterSource({
    [`${ROOT}/defaults/limitMb`]: '300',
  });
  now = T0;
  readonly commands = new InMemoryCommandPort({ clock: () => this.now });
  readonly lines: LogLine[] = [];
  readonly counts = new Map<ControllerMetricName, number>();
  #orders = 0;

  readonly log: ControllerLog = {
    info: (message, fields) =>
      this.lines.push({ level: 'info', message, fields }),
    warn: (message, fields) =>
      this.lines.push({ level: 'warn', message, fields }),
    error: (message, fields) =>
      this.lines.push({ level: 'error', message, fields }),
  };

  /**
   * A controller instance; a Lambda may run several at once. `store`
   * stands in for the scene's own, e.g. to make some of its writes fail.
   */
  controller(ports: { store?: RecordStore } = {}): Controller {
    return new Controller({
      fleet: 'prod',
      metrics: this.metrics,
      commands: this.commands,
      store: ports.store ?? this.store,
      parameters: this.parameters,
      log: this.log,
      sink: {
        count: (name, value) =>
          this.counts.set(name, (this.counts.get(name) ?? 0) + value),
      },
      newOrderId: () => `order-${++this.#orders}`,
    });
  }

  breach(n: number, changes: Partial<HostAppTrouble> = {}): void {
    this.metrics.trouble.push({
      host: host(n),
      app: 'shop',
      workersOverLimit: 1,
      orphanSuspects: 0,
      maxWorkerMb: 400,
      at: this.now,
      ...changes,
    });
  }

  census(hosts: number, workers = hosts * 8): void {
    this.metrics.census = {
      apps: [{ app: 'shop', hosts, workers }],
      agents: hosts,
      at: this.now,
    };
  }

  decisionLines(): LogFields[] {
    return this.lines
      .filter((line) => line.message === 'decision')
      .map((line) => line.fields);
  }

  /** Orders looked up by id: which, the command found, what became. */
  settledLines(): LogFields[] {
    return this.lines
      .filter((line) => line.message === 'unsent order looked up')
      .map(({ fields: { orderId, commandId, outcome } }) => ({
        orderId,
        ...(commandId !== null && { commandId }),
        outcome,
      }));
  }

  count(name: ControllerMetricName): number {
    return this.counts.get(name) ?? 0;
  }
}

/** What a host prints for these outcome lines, ended by PF-DONE. */
export function hostStdout(
  reports: readonly OutcomeReport[],
  orders = 1,
): string {
  return [
    ...reports.map(formatOutcomeLine),
    formatDoneLine({ orders, outcomes: reports.length, rejections: 0 }),
  ].join('\n');
}

/** The host detached this worker and set its deadline. */
export function detached(
  pid: number,
  at: number,
  graceMs = 30_000,
): OutcomeReport {
  return {
    pid,
    startTime: 9_000 + pid,
    step: 'graceful',
    status: 'detached',
    reason: 'detached from the pool',
    at,
    deadline: at + graceMs,
    hostWaits: true,
  };
}
