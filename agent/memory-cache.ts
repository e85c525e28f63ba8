/**
 * Keeps each worker's last smaps_rollup reading while it cannot have
 * changed, because reading it is most of what a sample costs: the kernel
 * walks every page table of the process (about 2.5 ms per 100 MB).
 *
 * Private_Dirty only grows when the process faults a page in (a new page,
 * a copy-on-write break, a swap-in), and shrinks only as its resident set
 * shrinks. So while a worker's fault count and resident pages (both in
 * /proc/<pid>/stat, read anyway) stand still, its figure stands still.
 * Two things change it without either: a process it shares pages with
 * exits (a sibling worker, the preloader), making those pages private to
 * it; and kernel housekeeping such as page merging. The first clears the
 * whole cache; the second is bounded by a maximum age.
 *
 * The executor never uses this: it re-reads memory before a graceful step.
 */
import type { MemoryFigures } from '../core/worker.ts';
import type { ProcStat } from './host.ts';

interface Entry {
  readonly figures: MemoryFigures;
  readonly faults: number;
  readonly rssPages: number;
  readonly readAt: number;
}

/** Passenger processes named by pid and start time. */
export type ProcessKey = string;

export function processKey(process: {
  readonly pid: number;
  readonly startTime: number;
}): ProcessKey {
  return `${process.pid}/${process.startTime}`;
}

export class MemoryCache {
  readonly #maxAgeMs: number;
  #entries = new Map<ProcessKey, Entry>();
  #processes = new Set<ProcessKey>();
  #hits = 0;
  #reads = 0;

  /** @param maxAgeMs re-read at least this often. @default 30000 */
  constructor(maxAgeMs = 30_000) {
    this.#maxAgeMs = maxAgeMs;
  }

  /**
   * Starts a sample with every Passenger process now running (workers,
   * preloaders, core...). If one seen last time is gone, the pages it
   * shared are someone else's now: every figure is read afresh.
   */
  beginSample(processes: ReadonlySet<ProcessKey>): void {
    for (const key of this.#processes) {
      if (!processes.has(key)) {
        this.#entries.clear();
        break;
      }
    }
    this.#processes = new Set(processes);
    for (const key of this.#entries.keys()) {
      if (!processes.has(key)) this.#entries.delete(key);
    }
  }

  /** The kept figures, if this process cannot have changed since. */
  lookup(stat: ProcStat, now: number): MemoryFigures | undefined {
    const entry = this.#entries.get(processKey(stat));
    const unchanged =
      entry !== undefined &&
      stat.faults === entry.faults &&
      stat.rssPages === entry.rssPages &&
      now - entry.readAt < this.#maxAgeMs;
    if (!unchanged) return undefined;
    this.#hits++;
    return entry.figures;
  }

  store(stat: ProcStat, figures: MemoryFigures, now: number): void {
    this.#reads++;
    if (stat.faults === undefined || stat.rssPages === undefined) return;
    this.#entries.set(processKey(stat), {
      figures,
      faults: stat.faults,
      rssPages: stat.rssPages,
      readAt: now,
    });
  }

  /** How many figures came from the cache and how many were read. */
  get counts(): { readonly hits: number; readonly reads: number } {
    return { hits: this.#hits, reads: this.#reads };
  }
}
