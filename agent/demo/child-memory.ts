/**
 * The simulated host's own reading of its children's memory.
 *
 * It is kept apart from the agent's /proc reader on purpose: the demo
 * judges the enforcer (was a worker really over its limit when it was
 * acted on?), and a judge that shared the enforcer's reader would share
 * its mistakes too.
 */
import { readFileSync } from 'node:fs';
import type { MemoryFigures } from '../../core/worker.ts';

/** Private_Dirty, Swap and Rss in kB, or undefined once the child is gone. */
export function readChildMemory(pid: number): MemoryFigures | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return undefined;
  }
  return {
    privateDirtyKb: sumOf(text, 'Private_Dirty'),
    swapKb: sumOf(text, 'Swap'),
    rssKb: sumOf(text, 'Rss'),
  };
}

function sumOf(text: string, key: string): number | null {
  const pattern = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'gm');
  let total: number | null = null;
  for (const match of text.matchAll(pattern)) {
    total = (total ?? 0) + Number(match[1]);
  }
  return total;
}
