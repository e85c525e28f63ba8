/**
 * A seeded source of randomness, so that one seed always gives one run.
 *
 * The generator is a 32-bit counter fed through an integer mixing step
 * (the splitmix idea): tiny, fast, and good enough to spread events; it
 * is not for anything secret. `fork` gives an independent stream per
 * host or per service, so adding a draw in one place does not shift
 * every other draw in the run.
 */

const GOLDEN_GAMMA = 0x9e3779b9;

export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) {
      throw new RangeError(`seed must be a finite number (got ${seed})`);
    }
    this.#state = Math.floor(seed) >>> 0;
  }

  /** In [0, 1). */
  next(): number {
    this.#state = (this.#state + GOLDEN_GAMMA) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 2 ** 32;
  }

  /** In [low, high). */
  between(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** A whole number in [low, high]. */
  integer(low: number, high: number): number {
    return Math.floor(this.between(low, high + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  /** A new stream whose draws do not depend on later draws of this one. */
  fork(label: number): SeededRandom {
    const seed = Math.imul((this.#state ^ label) >>> 0, 0x27d4eb2f) ^ label;
    return new SeededRandom((seed >>> 0) + label);
  }
}
