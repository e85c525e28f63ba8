/**
 * What the controller is handed besides the AWS ports, and what one tick
 * returns. The handler fills these with Powertools (structured logs and
 * Embedded Metric Format); tests and the simulator with plain recorders.
 */
import type { FleetDecisionKind } from '../../core/fleet-policy.ts';
import type { ControllerMetricName } from './metric-names.ts';

export type LogFields = Readonly<Record<string, unknown>>;

export interface ControllerLog {
  info(message: string, fields: LogFields): void;
  warn(message: string, fields: LogFields): void;
  error(message: string, fields: LogFields): void;
}

export interface MetricsSink {
  /** Adds `value` to the metric for this tick; flushed by the caller. */
  count(name: ControllerMetricName, value: number): void;
}

/** Calls made to the ports during one tick, by port method. */
export const API_CALLS = [
  'parametersUnder',
  'readTrouble',
  'readCensus',
  'silentHosts',
  'send',
  'results',
  'find',
] as const;
export type ApiCall = (typeof API_CALLS)[number];

export type ConfigUse =
  /** Read and valid this tick. */
  | 'fresh'
  /** Unreadable or invalid this tick; the last good one was used. */
  | 'last-good'
  /** Nothing good read yet: the tick decided nothing new. */
  | 'none';

export interface TickReport {
  /** Epoch ms the tick was run for. */
  readonly at: number;
  readonly config: ConfigUse;
  /** Decisions of the fleet policy, by kind. */
  readonly decisions: Readonly<Partial<Record<FleetDecisionKind, number>>>;
  readonly picksSent: number;
  readonly forceKillsSent: number;
  /** Marks opened and closed from what hosts reported. */
  readonly marksOpened: number;
  readonly marksClosed: number;
  /** Orders or outcome lines a host refused or rejected. */
  readonly refusals: number;
  /** Claims another tick won first; this tick acted on none of them. */
  readonly racesLost: number;
  readonly openBreakers: readonly string[];
  readonly silentHosts: readonly string[];
  readonly apiCalls: Readonly<Record<ApiCall, number>>;
  /** One line per step that failed (throttled, unreadable, ...). */
  readonly failures: readonly string[];
}
