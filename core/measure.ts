/**
 * Which memory figure is compared with the limit.
 *
 * `private` is what passenger-memory-stats prints (Private_Dirty) and what
 * passenger_monitor4 compared; `private+swap` is what Passenger itself calls
 * a worker's real memory, so a worker swapped out still counts.
 */
import type { MemoryFigures } from './worker.ts';

export const MEASURES = ['private', 'private+swap'] as const;
export type Measure = (typeof MEASURES)[number];

/** The figure in kB, or null where it could not be read. */
export function measuredKb(
  memory: MemoryFigures,
  measure: Measure,
): number | null {
  if (memory.privateDirtyKb === null) return null;
  if (measure === 'private') return memory.privateDirtyKb;
  return memory.privateDirtyKb + (memory.swapKb ?? 0);
}
