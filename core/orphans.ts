/**
 * Orphans: app workers that Passenger's pool no longer lists, typically
 * busy workers that survived a crash of the Passenger core.
 *
 * passenger_monitor4 killed anything `ps` showed and `passenger-status`
 * did not, in one look. But Passenger notices a dead or new worker only
 * every 5 s, so one look calls a worker just spawned or just dying an
 * orphan. Here a worker must be missing from the pool in two samples at
 * least `confirmSeconds` (6 s or more) apart, be older than a minimum age,
 * and not be a zombie (the collector never lists zombies as workers).
 */
import { policyFor, type FleetConfig } from './config.ts';
import type { Decision } from './decision.ts';
import type { GraceRecord } from './records.ts';
import { identityKey, type Observation } from './worker.ts';

export interface OrphanInput {
  readonly observations: readonly Observation[];
  /** Identity keys of workers that already have an open record. */
  readonly marked: ReadonlySet<string>;
  readonly config: FleetConfig;
  /** Identity key → epoch ms first seen missing from the pool. */
  readonly suspects: Readonly<Record<string, number>>;
  readonly now: number;
}

export interface OrphanResult {
  readonly decisions: Decision[];
  readonly suspects: Record<string, number>;
}

export function decideOrphans(input: OrphanInput): OrphanResult {
  const { config, now } = input;
  const decisions: Decision[] = [];
  const suspects: Record<string, number> = {};
  if (!config.orphans.enabled) return { decisions, suspects };
  const { minAgeSeconds, confirmSeconds, graceSeconds } = config.orphans;

  for (const observation of input.observations) {
    for (const worker of observation.workers) {
      const key = identityKey(worker.identity);
      const previous = input.suspects[key];
      // Without the pool nothing can be confirmed or cleared: keep what
      // we knew and wait for a sample that can tell.
      if (!observation.poolKnown) {
        if (previous !== undefined) suspects[key] = previous;
        continue;
      }
      if (worker.inPool !== false || input.marked.has(key)) continue;
      const policy = policyFor(config, worker.app);
      if (policy === undefined) continue;

      const firstMissing = previous ?? now;
      suspects[key] = firstMissing;
      const skip = (
        cause: 'orphan-unconfirmed' | 'orphan-too-young',
        why: string,
      ) =>
        decisions.push({
          type: 'skip',
          cause,
          worker,
          wouldBe: 'orphan',
          reason: `not in Passenger's pool; ${why}`,
        });

      const ageMs =
        worker.startedAtMs === undefined ? undefined : now - worker.startedAtMs;
      if (ageMs === undefined || ageMs < minAgeSeconds * 1000) {
        skip(
          'orphan-too-young',
          ageMs === undefined
            ? 'its age is unknown, so it may be just spawned'
            : `only ${Math.round(ageMs / 1000)} s old, minimum ${minAgeSeconds} s`,
        );
        continue;
      }
      const missingMs = now - firstMissing;
      if (missingMs < confirmSeconds * 1000) {
        skip(
          'orphan-unconfirmed',
          `missing for ${Math.round(missingMs / 1000)} s, ` +
            `confirmed after ${confirmSeconds} s`,
        );
        continue;
      }
      const record: GraceRecord = {
        identity: worker.identity,
        app: worker.app.group,
        cause: 'orphan',
        action: { type: 'signal', signal: 'TERM' },
        markedAt: now,
        deadline: now + graceSeconds * 1000,
        memoryKb: worker.memory.privateDirtyKb,
        limitKb: null,
        measure: 'private',
        ...(worker.uid === undefined ? {} : { uid: worker.uid }),
      };
      const reason =
        `not in Passenger's pool for ${Math.round(missingMs / 1000)} s; ` +
        `TERM now, SIGKILL in ${graceSeconds} s if still there`;
      if (policy.dryRun) {
        decisions.push({
          type: 'skip',
          cause: 'dry-run',
          worker,
          wouldBe: 'orphan',
          reason: `dry run: ${reason}`,
        });
        continue;
      }
      decisions.push({ type: 'orphan', worker, record, reason });
    }
  }
  return { decisions, suspects };
}
