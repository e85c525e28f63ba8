/**
 * The controller's decisions across the fleet, pure and handed `now`.
 *
 * The controller sees no pids: per app and host it reads how many workers
 * are over their limit and how many orphans are suspected. So its
 * graceful decision is a PICK (the host chooses up to `count` workers over
 * `limitKb`, biggest first), bounded by three brakes, checked in order:
 *
 *   1. breaker      more than breakerPercent of an app's hosts breach at
 *                   once: a limit set far too low; act on none of them
 *   2. host budget  maxInGracePerHost minus the app's open marks there
 *   3. fleet budget fleet.maxInGrace, or fleet.maxInGracePercent of the
 *                   app's census workers (never below one), minus the
 *                   marks open and the picks still out fleet-wide
 *
 * Hosts breaching hardest (largest worker first) take the fleet budget
 * first. Orphan picks use no budget (an orphan serves nothing) and the
 * host confirms each orphan itself before it acts.
 *
 * A mark whose deadline has come is force-killed unless the host said it
 * enforced the deadline (the controller then closed the mark) or the
 * host's command is still running, in which case the host is given
 * HOST_DEADLINE_SLACK_MS to report before the controller steps in.
 */
import { fleetBudget, GraceLedger, openBreakers } from './fleet-brakes.ts';
import { policyFor, type AppPolicy, type FleetConfig } from './config.ts';
import type { Measure } from './measure.ts';
import {
  MAX_GRACE_SECONDS,
  MAX_ORDERS_PER_COMMAND,
  type WireGraceful,
} from './order-items.ts';
import type { RecordCause } from './records.ts';
import type { WorkerIdentity } from './worker.ts';

/** One app on one host in trouble, as the metrics tell it. */
export interface TroubleRow {
  readonly host: string;
  /** The app's short name. */
  readonly app: string;
  readonly workersOverLimit: number;
  readonly orphanSuspects: number;
  readonly maxWorkerMb: number | null;
}

export interface CensusRow {
  readonly app: string;
  readonly hosts: number;
  readonly workers: number;
}

/** An open mark, as the record store keeps it. */
export interface FleetMark {
  readonly identity: WorkerIdentity;
  readonly app: string;
  readonly cause: RecordCause;
  readonly deadline: number;
  readonly orderId: string;
  /** Only `claimed` and `in-grace` marks can be due a forced kill. */
  readonly state: 'claimed' | 'in-grace' | 'force-kill-claimed' | 'closed';
}

/** A pick order claimed or sent whose command has not been read as ended. */
export interface PendingPick {
  readonly host: string;
  readonly app: string;
  readonly orderId: string;
  /** Workers it may still put in grace: asked for, less those reported. */
  readonly reserved: number;
  /** Its command has not ended: the host may still be enforcing. */
  readonly running: boolean;
}

export interface FleetPolicyInput {
  readonly trouble: readonly TroubleRow[];
  readonly census: readonly CensusRow[];
  readonly marks: readonly FleetMark[];
  readonly pendingPicks: readonly PendingPick[];
  readonly config: FleetConfig;
  /** Epoch ms. */
  readonly now: number;
}

/** The host reports its own SIGKILL when its command ends: wait this long. */
export const HOST_DEADLINE_SLACK_MS = 30_000;

export type DeferCause =
  'order-pending' | 'host-budget' | 'fleet-budget' | 'census-missing';

interface Place {
  readonly host: string;
  readonly app: string;
  readonly reason: string;
}

export type FleetDecision =
  | (Place & {
      readonly kind: 'pick';
      readonly count: number;
      readonly graceful: WireGraceful;
      readonly graceSeconds: number;
      readonly limitKb: number;
      readonly measure: Measure;
    })
  | (Place & {
      readonly kind: 'pick-orphans';
      readonly count: number;
      readonly graceSeconds: number;
      readonly measure: Measure;
    })
  | (Place & { readonly kind: 'defer'; readonly cause: DeferCause })
  | (Place & { readonly kind: 'breaker' })
  | (Place & {
      readonly kind: 'dry-run';
      readonly wouldBe: 'pick' | 'pick-orphans' | 'force-kill';
      readonly count: number;
    })
  | (Place & { readonly kind: 'ignore' })
  | (Place & { readonly kind: 'force-kill'; readonly mark: FleetMark })
  | (Place & { readonly kind: 'await-host'; readonly mark: FleetMark });

export type FleetDecisionKind = FleetDecision['kind'];

export interface FleetPlan {
  readonly decisions: FleetDecision[];
  /** Apps whose breaker is open this tick. */
  readonly openBreakers: string[];
}

export function decideFleet(input: FleetPolicyInput): FleetPlan {
  const { config, now } = input;
  const decisions: FleetDecision[] = input.marks.flatMap((mark) =>
    decideMark(mark, input.pendingPicks, config, now),
  );
  const ledger = new GraceLedger(input.marks, input.pendingPicks);
  const breakers = openBreakers(input.trouble, input.census, config);
  const census = new Map(input.census.map((row) => [row.app, row]));

  for (const row of bySeverity(input.trouble)) {
    const at = { host: row.host, app: row.app };
    const policy = policyFor(config, { group: row.app });
    if (policy === undefined) {
      decisions.push({
        ...at,
        kind: 'ignore',
        reason: 'no app entry names it and unlistedApps is ignore',
      });
      continue;
    }
    const pending = input.pendingPicks.find(
      (pick) => pick.host === row.host && pick.app === row.app,
    );
    if (pending !== undefined) {
      decisions.push({
        ...at,
        kind: 'defer',
        cause: 'order-pending',
        reason: `order ${pending.orderId} for this app and host is still out`,
      });
      continue;
    }
    if (row.workersOverLimit > 0) {
      const breaker = breakers.get(row.app);
      decisions.push(
        breaker !== undefined
          ? { ...at, kind: 'breaker', reason: breaker }
          : decideMemory(row, policy, census.get(row.app), ledger, config),
      );
    }
    if (row.orphanSuspects > 0 && config.orphans.enabled) {
      decisions.push(decideOrphans(row, policy, config));
    }
  }
  return { decisions, openBreakers: [...breakers.keys()].sort() };
}

function decideMark(
  mark: FleetMark,
  pendingPicks: readonly PendingPick[],
  config: FleetConfig,
  now: number,
): FleetDecision[] {
  const waiting = mark.state === 'claimed' || mark.state === 'in-grace';
  if (!waiting || now < mark.deadline) return [];
  const at = { host: mark.identity.host, app: mark.app };
  const late = Math.round((now - mark.deadline) / 1000);
  const hostOnIt = pendingPicks.some(
    (pick) => pick.orderId === mark.orderId && pick.running,
  );
  if (hostOnIt && now < mark.deadline + HOST_DEADLINE_SLACK_MS) {
    return [
      {
        ...at,
        kind: 'await-host',
        mark,
        reason:
          `deadline passed ${late} s ago; the host's command is still ` +
          `running and may report its own SIGKILL within ` +
          `${HOST_DEADLINE_SLACK_MS / 1000} s of it`,
      },
    ];
  }
  const why =
    `deadline passed ${late} s ago and the host has not reported the ` +
    (hostOnIt ? 'worker gone while its command still runs' : 'worker gone');
  if (policyFor(config, { group: mark.app })?.dryRun ?? config.dryRun) {
    return [
      {
        ...at,
        kind: 'dry-run',
        wouldBe: 'force-kill',
        count: 1,
        reason: `dry run: would force-kill; ${why}`,
      },
    ];
  }
  return [{ ...at, kind: 'force-kill', mark, reason: why }];
}

function decideMemory(
  row: TroubleRow,
  policy: AppPolicy,
  census: CensusRow | undefined,
  ledger: GraceLedger,
  config: FleetConfig,
): FleetDecision {
  const at = { host: row.host, app: row.app };
  const over =
    `${row.workersOverLimit} worker(s) over ${policy.limitMb} MB` +
    (row.maxWorkerMb === null ? '' : `, largest ${row.maxWorkerMb} MB`);
  const graceful = wireGraceful(policy);
  if (typeof graceful === 'string') {
    return { ...at, kind: 'ignore', reason: `${over}; ${graceful}` };
  }
  if (policy.graceSeconds > MAX_GRACE_SECONDS) {
    return {
      ...at,
      kind: 'ignore',
      reason:
        `${over}; graceSeconds ${policy.graceSeconds} is more than the ` +
        `${MAX_GRACE_SECONDS} an SSM order can carry`,
    };
  }
  const inGraceHere = ledger.onHost(row.host, row.app);
  const hostRoom = policy.maxInGracePerHost - inGraceHere;
  if (hostRoom <= 0) {
    return {
      ...at,
      kind: 'defer',
      cause: 'host-budget',
      reason:
        `${over}; ${inGraceHere} already in grace on this host, ` +
        `maxInGracePerHost is ${policy.maxInGracePerHost}`,
    };
  }
  const fleetLimit = fleetBudget(config, census);
  if (typeof fleetLimit === 'string') {
    return {
      ...at,
      kind: 'defer',
      cause: 'census-missing',
      reason: `${over}; ${fleetLimit}`,
    };
  }
  const inGraceFleet = ledger.inFleet(row.app);
  const fleetRoom = fleetLimit - inGraceFleet;
  if (fleetRoom <= 0) {
    return {
      ...at,
      kind: 'defer',
      cause: 'fleet-budget',
      reason:
        `${over}; ${inGraceFleet} of the app in grace fleet-wide, the ` +
        `fleet budget is ${fleetLimit}`,
    };
  }
  const count = Math.min(
    row.workersOverLimit,
    hostRoom,
    fleetRoom,
    MAX_ORDERS_PER_COMMAND,
  );
  ledger.reserve(row.host, row.app, count);
  const bounds =
    `host room ${hostRoom}` +
    (Number.isFinite(fleetRoom) ? `, fleet room ${fleetRoom}` : '');
  if (policy.dryRun) {
    return {
      ...at,
      kind: 'dry-run',
      wouldBe: 'pick',
      count,
      reason: `dry run: would pick ${count}; ${over}; ${bounds}`,
    };
  }
  return {
    ...at,
    kind: 'pick',
    count,
    graceful,
    graceSeconds: policy.graceSeconds,
    limitKb: Math.round(policy.limitMb * 1024),
    measure: policy.measure,
    reason:
      `${over}; pick ${count} (${bounds}), ` +
      `force-kill due ${policy.graceSeconds} s after each`,
  };
}

function decideOrphans(
  row: TroubleRow,
  policy: AppPolicy,
  config: FleetConfig,
): FleetDecision {
  const at = { host: row.host, app: row.app };
  const count = Math.min(row.orphanSuspects, MAX_ORDERS_PER_COMMAND);
  const suspects =
    `${row.orphanSuspects} orphan suspect(s); the host confirms each ` +
    'before it acts';
  if (policy.dryRun) {
    return {
      ...at,
      kind: 'dry-run',
      wouldBe: 'pick-orphans',
      count,
      reason: `dry run: would pick ${count} orphan(s); ${suspects}`,
    };
  }
  return {
    ...at,
    kind: 'pick-orphans',
    count,
    graceSeconds: Math.min(config.orphans.graceSeconds, MAX_GRACE_SECONDS),
    measure: policy.measure,
    reason: `${suspects}; TERM, then SIGKILL after the grace time`,
  };
}

/** What an SSM order can carry, or why this app's choice cannot travel. */
function wireGraceful(policy: AppPolicy): WireGraceful | string {
  const choice = policy.gracefulAction;
  // A fleet runs Passenger 5 or later, where detach-process is graceful
  // for every kind of worker.
  if (choice.type === 'auto' || choice.type === 'detach') {
    return { type: 'detach' };
  }
  if (choice.type === 'signal') return choice;
  return 'a command as gracefulAction cannot travel in an SSM order';
}

/** Largest worker first, then most workers over; ties by name. */
function bySeverity(rows: readonly TroubleRow[]): TroubleRow[] {
  return [...rows].sort(
    (a, b) =>
      (b.maxWorkerMb ?? -1) - (a.maxWorkerMb ?? -1) ||
      b.workersOverLimit - a.workersOverLimit ||
      compare(a.host, b.host) ||
      compare(a.app, b.app),
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
