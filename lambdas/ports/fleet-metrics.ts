/**
 * What the controller reads from CloudWatch, as the metric schema of
 * core/metric-schema.ts lets it: hosts in trouble from the detail series
 * (whose reading cost grows with the hosts in trouble, not the fleet),
 * and per-app totals from the census.
 */

/** One app on one host with a worker over its limit or an orphan suspect. */
export interface HostAppTrouble {
  /** EC2 instance id, as in the `Host` dimension. */
  readonly host: string;
  /** The app's short name, as in the `App` dimension. */
  readonly app: string;
  /** Maximum over the newest datapoint. */
  readonly workersOverLimit: number;
  readonly orphanSuspects: number;
  /** Largest worker in MB in the newest datapoint, where read. */
  readonly maxWorkerMb: number | null;
  /** Epoch ms of the newest datapoint used. */
  readonly at: number;
}

export interface AppCensus {
  readonly app: string;
  /** Hosts that ran the app in the last census interval. */
  readonly hosts: number;
  /** Workers of the app fleet-wide in the last census interval. */
  readonly workers: number;
}

export interface FleetCensus {
  readonly apps: readonly AppCensus[];
  /** Agents that sent a census in the last interval. */
  readonly agents: number;
  /** Epoch ms of the census interval's end. */
  readonly at: number;
}

export interface FleetMetricsReader {
  /** Hosts and apps in trouble in the last few minutes. */
  readTrouble(now: number): Promise<HostAppTrouble[]>;
  /** Per-app census of the last census interval. */
  readCensus(now: number): Promise<FleetCensus>;
  /**
   * Of these hosts, the ones whose per-host heartbeat has been missing
   * for longer than `silentAfterMs`.
   */
  silentHosts(
    hosts: readonly string[],
    now: number,
    silentAfterMs: number,
  ): Promise<string[]>;
}
