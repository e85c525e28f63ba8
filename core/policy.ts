/**
 * The policy: given what the hosts look like now, the open grace records,
 * the configuration and the time, decide what to do to whom and why.
 *
 * Pure on purpose: no clock, no store, no process. The enforcer on one
 * host and the controller across the fleet call this same function, and
 * tests call it at chosen times (before, at and after a deadline).
 */
import { chooseGracefulAction } from './actions.ts';
import { sameApp } from './app.ts';
import { policyFor, type AppPolicy, type FleetConfig } from './config.ts';
import type { Decision, GracefulDecision, SkipDecision } from './decision.ts';
import { measuredKb } from './measure.ts';
import { decideOrphans } from './orphans.ts';
import type { GraceRecord, PolicyMemory } from './records.ts';
import {
  identityKey,
  kbToMbRounded,
  type Observation,
  type Worker,
} from './worker.ts';

export interface PolicyInput {
  readonly observations: readonly Observation[];
  readonly openRecords: readonly GraceRecord[];
  readonly config: FleetConfig;
  readonly memory: PolicyMemory;
  /** Epoch ms. */
  readonly now: number;
}

export interface PolicyResult {
  readonly decisions: Decision[];
  readonly memory: PolicyMemory;
}

export function decide(input: PolicyInput): PolicyResult {
  const { observations, openRecords, config, now } = input;
  const seen = indexWorkers(observations);
  const observedHosts = new Set(observations.map((o) => o.host));
  const marked = new Set(openRecords.map((r) => identityKey(r.identity)));

  const decisions: Decision[] = openRecords.flatMap((record) =>
    decideRecord(record, seen, observedHosts, config, now),
  );

  // Records closed by this very pass no longer hold a place in the budget.
  const closed = new Set(
    decisions
      .filter((d) => d.type === 'gone' || d.type === 'unmark')
      .map((d) => identityKey(d.record.identity)),
  );
  const stillOpen = openRecords.filter(
    (r) => !closed.has(identityKey(r.identity)),
  );

  const streaks: Record<string, number> = {};
  const candidates: Candidate[] = [];
  for (const observation of observations) {
    for (const worker of observation.workers) {
      const key = identityKey(worker.identity);
      if (marked.has(key)) continue;
      const breach = overLimit(worker, config);
      // An orphan is not in the pool: detaching it is impossible, and the
      // orphan rules below deal with it.
      if (breach === undefined || worker.inPool === false) continue;
      const { policy, usedKb: used, limitKb } = breach;
      const streak = (input.memory.overLimitStreaks[key] ?? 0) + 1;
      streaks[key] = streak;
      candidates.push({ worker, policy, usedKb: used, limitKb, streak });
    }
  }
  decisions.push(...decideCandidates(candidates, observations, stillOpen, now));

  const orphans = decideOrphans({
    observations,
    marked,
    config,
    suspects: input.memory.orphanSuspects,
    now,
  });
  decisions.push(...orphans.decisions);

  return {
    decisions,
    memory: { overLimitStreaks: streaks, orphanSuspects: orphans.suspects },
  };
}

export interface Breach {
  readonly policy: AppPolicy;
  readonly usedKb: number;
  readonly limitKb: number;
}

/** The worker's figures if it is over its app's limit, else undefined. */
export function overLimit(
  worker: Worker,
  config: FleetConfig,
): Breach | undefined {
  const policy = policyFor(config, worker.app);
  if (policy === undefined) return undefined;
  const usedKb = measuredKb(worker.memory, policy.measure);
  const limitKb = policy.limitMb * 1024;
  if (usedKb === null || usedKb <= limitKb) return undefined;
  return { policy, usedKb, limitKb };
}

interface Candidate {
  readonly worker: Worker;
  readonly policy: AppPolicy;
  readonly usedKb: number;
  readonly limitKb: number;
  readonly streak: number;
}

function decideRecord(
  record: GraceRecord,
  seen: ReadonlyMap<string, Worker>,
  observedHosts: ReadonlySet<string>,
  config: FleetConfig,
  now: number,
): Decision[] {
  const worker = seen.get(identityKey(record.identity));
  if (worker === undefined && observedHosts.has(record.identity.host)) {
    return [{ type: 'gone', record, reason: 'the marked process has exited' }];
  }
  const policy = policyFor(config, worker?.app ?? { group: record.app });
  if (worker && policy?.unmarkWhenBelow && record.cause === 'memory') {
    const used = measuredKb(worker.memory, record.measure);
    if (used !== null && record.limitKb !== null && used <= record.limitKb) {
      const reason =
        `back under the limit (${kbToMbRounded(used)} MB of ` +
        `${kbToMbRounded(record.limitKb)} MB) and unmarkWhenBelow is on`;
      return [{ type: 'unmark', record, worker, reason }];
    }
  }
  if (now < record.deadline) return [];
  const late = Math.round((now - record.deadline) / 1000);
  const reason =
    `grace time over ${late} s ago and the process is ` +
    (worker ? 'still there' : 'not observed; the host re-checks it');
  if (worker && (policy?.dryRun ?? config.dryRun)) {
    return [
      {
        type: 'skip',
        cause: 'dry-run',
        worker,
        wouldBe: 'force-kill',
        reason: `dry run: would SIGKILL; ${reason}`,
      },
    ];
  }
  return [
    worker
      ? { type: 'force-kill', record, worker, reason }
      : { type: 'force-kill', record, reason },
  ];
}

/**
 * Biggest first within each app on each host, so that when the budget
 * allows one worker in grace, it is the one that matters most.
 */
function decideCandidates(
  candidates: readonly Candidate[],
  observations: readonly Observation[],
  openRecords: readonly GraceRecord[],
  now: number,
): Decision[] {
  const decisions: Decision[] = [];
  const actedOn = new Map<string, number>();
  const ordered = [...candidates].sort((a, b) => b.usedKb - a.usedKb);
  for (const candidate of ordered) {
    const { worker, policy, usedKb, limitKb, streak } = candidate;
    const over = `${kbToMbRounded(usedKb)} MB over the ${policy.limitMb} MB limit`;
    const skip = (cause: SkipDecision['cause'], why: string): SkipDecision => ({
      type: 'skip',
      cause,
      worker,
      wouldBe: 'graceful',
      limitKb,
      memoryKb: usedKb,
      reason: `${over}; ${why}`,
    });
    if (worker.detached) continue;
    if (streak < policy.sustainedSamples) {
      decisions.push(
        skip(
          'not-sustained',
          `sample ${streak} of ${policy.sustainedSamples} needed`,
        ),
      );
      continue;
    }
    const choice = chooseGracefulAction(policy.gracefulAction, {
      kind: worker.kind,
      passengerVersion: worker.passengerVersion,
      era: worker.era,
    });
    if (!choice.ok) {
      decisions.push(skip('no-graceful-action', choice.reason));
      continue;
    }
    const groupKey = `${worker.identity.host}\n${worker.app.group}`;
    const acted = actedOn.get(groupKey) ?? 0;
    const inGrace = openRecords.filter(
      (r) =>
        r.cause === 'memory' &&
        r.identity.host === worker.identity.host &&
        sameApp({ group: r.app }, worker.app),
    ).length;
    if (inGrace + acted >= policy.maxInGracePerHost) {
      decisions.push(
        skip(
          'budget',
          `${inGrace + acted} worker(s) of this app already in grace on ` +
            `this host, maxInGracePerHost is ${policy.maxInGracePerHost}`,
        ),
      );
      continue;
    }
    const live = liveWorkers(worker, observations, openRecords) - acted;
    if (live - 1 < policy.minLiveWorkers) {
      decisions.push(
        skip(
          'floor',
          `${live} live worker(s) left and minLiveWorkers is ` +
            policy.minLiveWorkers,
        ),
      );
      continue;
    }
    actedOn.set(groupKey, acted + 1);
    const record: GraceRecord = {
      identity: worker.identity,
      app: worker.app.group,
      cause: 'memory',
      action: choice.action,
      markedAt: now,
      deadline: now + policy.graceSeconds * 1000,
      memoryKb: usedKb,
      limitKb,
      measure: policy.measure,
      ...(worker.uid === undefined ? {} : { uid: worker.uid }),
    };
    if (policy.dryRun) {
      decisions.push({ ...skip('dry-run', 'dry run'), action: choice.action });
      continue;
    }
    const decision: GracefulDecision = {
      type: 'graceful',
      worker,
      record,
      reason:
        `${over} for ${streak} sample(s); ` +
        `force-kill due in ${policy.graceSeconds} s`,
    };
    decisions.push(decision);
  }
  return decisions;
}

/** Workers of the same app on the same host that still serve requests. */
function liveWorkers(
  worker: Worker,
  observations: readonly Observation[],
  openRecords: readonly GraceRecord[],
): number {
  const marked = new Set(openRecords.map((r) => identityKey(r.identity)));
  const host = observations.find((o) => o.host === worker.identity.host);
  return (host?.workers ?? []).filter(
    (w) =>
      sameApp(w.app, worker.app) &&
      !w.detached &&
      w.inPool !== false &&
      !marked.has(identityKey(w.identity)),
  ).length;
}

function indexWorkers(
  observations: readonly Observation[],
): Map<string, Worker> {
  const index = new Map<string, Worker>();
  for (const observation of observations) {
    for (const worker of observation.workers) {
      index.set(identityKey(worker.identity), worker);
    }
  }
  return index;
}
