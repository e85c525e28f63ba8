/**
 * What CloudWatchFleetMetrics asks of CloudWatch in one controller tick,
 * for a fleet of a given shape: the counts the simulator's cost report
 * prices (it keeps the one table of prices). Reading is billed per metric
 * requested (MetricStat) or analysed (Insights), not per call, so those
 * two counts are what cost money; the call counts matter for throttling.
 *
 *   per tick           readTrouble: 3 Insights calls, each analysing
 *                      the detail series of the app-host pairs in trouble
 *   per census         ListMetrics (500 apps a page), then MetricStat
 *   interval           for 2 series per app + the fleet heartbeat
 *   per check          silentHosts: one MetricStat per host, 500 a call
 *
 * Census figures are spread over the ticks of one interval, so a tick's
 * figures are averages and may be fractions. The fleet's size appears
 * nowhere but in the heartbeat checks the controller chooses to make.
 */
import { DEFAULT_CADENCE } from '../../core/publish-cadence.ts';
import { MAX_QUERIES_PER_CALL, MINUTE_MS } from './metric-reading.ts';

/** Insights queries in one readTrouble, one per detail metric. */
export const TROUBLE_QUERIES = 3;
/** Metrics ListMetrics returns in one page. */
export const LIST_METRICS_PAGE = 500;

export interface FleetReadShape {
  readonly hosts: number;
  readonly apps: number;
  /**
   * App-host pairs with detail series in the read window: each stands
   * for one series of each detail metric.
   */
  readonly troubledAppHosts: number;
  /** Hosts silentHosts is asked about per tick, on average. Default 0. */
  readonly heartbeatChecksPerTick?: number;
}

export interface ReadCadence {
  /** Default one minute, the controller's schedule. */
  readonly tickIntervalMs?: number;
  /** Default DEFAULT_CADENCE's. */
  readonly censusIntervalMs?: number;
}

export interface TickReadCost {
  readonly getMetricDataCalls: number;
  readonly listMetricsCalls: number;
  /** Billed like metrics read: $0.01 per 1,000 at list price. */
  readonly metricsRequested: number;
  /** Insights' metrics analysed, billed at the same rate. */
  readonly metricsAnalyzed: number;
}

export function tickReadCost(
  shape: FleetReadShape,
  cadence: ReadCadence = {},
): TickReadCost {
  const { hosts, apps, troubledAppHosts } = shape;
  const checks = shape.heartbeatChecksPerTick ?? 0;
  const tickMs = cadence.tickIntervalMs ?? MINUTE_MS;
  const censusMs = cadence.censusIntervalMs ?? DEFAULT_CADENCE.censusIntervalMs;
  for (const [field, value] of Object.entries({
    hosts,
    apps,
    troubledAppHosts,
    heartbeatChecksPerTick: checks,
  })) {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(
        `${field} must be a number of 0 or more (got ${value})`,
      );
    }
  }
  if (troubledAppHosts > hosts * apps) {
    throw new RangeError(
      `troubledAppHosts must be at most hosts × apps (${hosts * apps}), ` +
        `got ${troubledAppHosts}`,
    );
  }
  if (checks > hosts) {
    throw new RangeError(
      `heartbeatChecksPerTick must be at most hosts (${hosts}), got ${checks}`,
    );
  }
  if (!(tickMs > 0) || !(censusMs >= tickMs)) {
    throw new RangeError(
      'censusIntervalMs must be at least tickIntervalMs, both above 0 ' +
        `(got ${censusMs} and ${tickMs})`,
    );
  }

  // A census is read once per interval, at the first tick that sees it.
  const censusShare = tickMs / censusMs;
  const censusQueries = 2 * apps + 1;
  const censusCalls = Math.ceil(censusQueries / MAX_QUERIES_PER_CALL);
  const listCalls = Math.max(1, Math.ceil(apps / LIST_METRICS_PAGE));
  const checkCalls = Math.ceil(checks / MAX_QUERIES_PER_CALL);
  return {
    getMetricDataCalls:
      TROUBLE_QUERIES + censusShare * censusCalls + checkCalls,
    listMetricsCalls: censusShare * listCalls,
    metricsRequested: censusShare * censusQueries + checks,
    metricsAnalyzed: TROUBLE_QUERIES * troubledAppHosts,
  };
}
