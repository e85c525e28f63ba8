/**
 * How hard the fuzz files push: 100,000 cases per target when
 * `SAFETY_FULL=1` (CI sets it), 2,000 otherwise so that a local
 * `npm test` stays quick. A target may split its cases over several
 * properties; the shares add up to the total.
 */
import fc from 'fast-check';
import type { SafetyTally } from './tally.ts';

export const FULL_RUN = process.env.SAFETY_FULL === '1';
export const CASES_PER_TARGET = FULL_RUN ? 100_000 : 2_000;

/** Runs one property `runs` times, counts the runs, fails with the case. */
export function fuzz<T>(
  tally: SafetyTally,
  property: fc.IProperty<T> | fc.IAsyncProperty<T>,
  runs: number,
): void {
  const details = fc.check(property as fc.IProperty<T>, { numRuns: runs });
  if (details.failed) throw new Error(fc.defaultReportMessage(details));
  tally.tried(details.numRuns);
}

/** `share` of a target's cases, at least one. */
export function shareOf(share: number): number {
  return Math.max(1, Math.round(CASES_PER_TARGET * share));
}
