/**
 * Virtual time for the fleet simulator: a clock that only moves when the
 * scheduler says so, and a queue of events run in time order.
 *
 * Nothing here touches a real timer. Events at the same instant run in
 * the order they were scheduled, and each event's promise is awaited
 * before the next starts, so a run depends on its seed alone.
 */

export type SimEvent = () => void | Promise<void>;

interface Entry {
  readonly at: number;
  readonly seq: number;
  readonly run: SimEvent;
}

export class VirtualClock {
  #now: number;

  constructor(start: number) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Only the scheduler moves time, and only forward. */
  advanceTo(at: number): void {
    if (at < this.#now) {
      throw new RangeError(
        `the virtual clock cannot go back from ${this.#now} to ${at}`,
      );
    }
    this.#now = at;
  }
}

export class Scheduler {
  readonly clock: VirtualClock;
  readonly #heap: Entry[] = [];
  #seq = 0;
  #ran = 0;

  constructor(clock: VirtualClock) {
    this.clock = clock;
  }

  /**
   * Runs `run` at `at`, or at once (next in line) if `at` has passed.
   * Times are rounded to the millisecond, as every real clock here reads.
   */
  at(at: number, run: SimEvent): void {
    if (!Number.isFinite(at)) {
      throw new RangeError(`an event needs a finite time (got ${at})`);
    }
    const when = Math.max(Math.round(at), this.clock.now());
    this.#push({ at: when, seq: this.#seq++, run });
  }

  after(delayMs: number, run: SimEvent): void {
    this.at(this.clock.now() + Math.max(0, delayMs), run);
  }

  /** Events run so far; a bound for tests that want to prove progress. */
  get eventsRun(): number {
    return this.#ran;
  }

  get pending(): number {
    return this.#heap.length;
  }

  /**
   * Runs every event due before `end` in time order, then leaves the
   * clock at `end`. Events scheduled meanwhile run too if due in time.
   */
  async runUntil(end: number): Promise<void> {
    for (;;) {
      // Whatever the last event (or the caller) set going runs first.
      await settle();
      const first = this.#heap[0];
      if (first === undefined || first.at >= end) break;
      this.#pop();
      this.clock.advanceTo(first.at);
      this.#ran++;
      await first.run();
    }
    this.clock.advanceTo(Math.max(end, this.clock.now()));
  }

  #push(entry: Entry): void {
    const heap = this.#heap;
    heap.push(entry);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!earlier(entry, heap[parent] as Entry)) break;
      heap[index] = heap[parent] as Entry;
      index = parent;
    }
    heap[index] = entry;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child =
        right < heap.length &&
        earlier(heap[right] as Entry, heap[left] as Entry)
          ? right
          : left;
      if (!earlier(heap[child] as Entry, last)) break;
      heap[index] = heap[child] as Entry;
      index = child;
    }
    heap[index] = last;
  }
}

/**
 * Lets every promise chain the event started run as far as it can before
 * the next event: a host waking from a virtual sleep must act at the
 * instant it woke, not after the clock moved on. setImmediate runs once
 * all pending promise callbacks are done; it waits for no real time.
 */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function earlier(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
