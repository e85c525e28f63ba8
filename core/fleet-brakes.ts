/**
 * The fleet-wide brakes of core/fleet-policy.ts: the circuit breaker and
 * the budget of workers in grace across the fleet, with the ledger that
 * counts them as a tick hands out picks.
 */
import { shortNameOf } from './app.ts';
import type { FleetConfig } from './config.ts';
import type {
  CensusRow,
  FleetMark,
  PendingPick,
  TroubleRow,
} from './fleet-policy.ts';

/** The fleet-wide limit of workers in grace for the app, or why unknown. */
export function fleetBudget(
  config: FleetConfig,
  census: CensusRow | undefined,
): number | string {
  const { maxInGrace, maxInGracePercent } = config.fleet;
  let limit = maxInGrace ?? Number.POSITIVE_INFINITY;
  if (maxInGracePercent !== undefined) {
    if (census === undefined || census.workers <= 0) {
      return (
        `the census has no worker count for the app, and ` +
        `maxInGracePercent (${maxInGracePercent}) needs one`
      );
    }
    // One worker in grace is always allowed, or a small app could never
    // be restarted.
    const share = Math.floor((census.workers * maxInGracePercent) / 100);
    limit = Math.min(limit, Math.max(1, share));
  }
  return limit;
}

/** App → why its breaker is open, for the apps whose breaker is open. */
export function openBreakers(
  trouble: readonly TroubleRow[],
  census: readonly CensusRow[],
  config: FleetConfig,
): Map<string, string> {
  const { breakerPercent, minHostsForBreaker } = config.fleet;
  const breaching = new Map<string, Set<string>>();
  for (const row of trouble) {
    if (row.workersOverLimit <= 0) continue;
    const hosts = breaching.get(row.app) ?? new Set<string>();
    hosts.add(row.host);
    breaching.set(row.app, hosts);
  }
  const open = new Map<string, string>();
  for (const [app, hosts] of breaching) {
    const counted = census.find((row) => row.app === app)?.hosts ?? 0;
    // A census older than the trouble may count fewer hosts than breach.
    const total = Math.max(counted, hosts.size);
    if (total < minHostsForBreaker) continue;
    const percent = (hosts.size * 100) / total;
    if (percent <= breakerPercent) continue;
    open.set(
      app,
      `breaker open: ${hosts.size} of ${total} hosts breach at once ` +
        `(${round(percent)} % > breakerPercent ${breakerPercent}); ` +
        'is the limit set too low? acting on none',
    );
  }
  return open;
}

/** Workers in grace or asked for, per host-app and per app. */
export class GraceLedger {
  readonly #perHost = new Map<string, number>();
  readonly #perApp = new Map<string, number>();

  constructor(marks: readonly FleetMark[], picks: readonly PendingPick[]) {
    for (const mark of marks) {
      if (mark.cause !== 'memory' || mark.state === 'closed') continue;
      this.reserve(mark.identity.host, shortNameOf({ group: mark.app }), 1);
    }
    for (const pick of picks) this.reserve(pick.host, pick.app, pick.reserved);
  }

  reserve(host: string, app: string, count: number): void {
    const key = `${host}\n${app}`;
    this.#perHost.set(key, (this.#perHost.get(key) ?? 0) + count);
    this.#perApp.set(app, (this.#perApp.get(app) ?? 0) + count);
  }

  onHost(host: string, app: string): number {
    return this.#perHost.get(`${host}\n${app}`) ?? 0;
  }

  inFleet(app: string): number {
    return this.#perApp.get(app) ?? 0;
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
