/**
 * Failing AWS calls on purpose, for the safety suite: a share of the
 * calls to the simulated services throws, as a throttled, broken or
 * unreachable service would. Off unless a run asks for it, so the
 * benchmarks and their figures do not change.
 *
 *   throttling    refused before anything happened (HTTP 400 Throttling)
 *   server-error  refused before anything happened (HTTP 5xx)
 *   timeout       the call went through, but its answer was lost: the
 *                 caller sees an error for a change that was made, the
 *                 hardest case for a controller that must not act twice
 *
 * Draws come from the run's seeded source, so one seed gives one run.
 */
import type { SeededRandom } from './random.ts';

export const FAULT_KINDS = ['throttling', 'server-error', 'timeout'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export class InjectedFault extends Error {
  override readonly name: string;
  constructor(
    readonly kind: FaultKind,
    readonly call: string,
  ) {
    super(`${call}: injected ${kind}`);
    this.name = ERROR_NAMES[kind];
  }
}

const ERROR_NAMES: Readonly<Record<FaultKind, string>> = {
  throttling: 'ThrottlingException',
  'server-error': 'InternalServerError',
  timeout: 'TimeoutError',
};

export interface FaultCounts {
  /** Calls that went through the injector. */
  readonly calls: number;
  readonly failed: Readonly<Record<FaultKind, number>>;
}

export class FaultInjector {
  readonly #random: SeededRandom;
  readonly #share: number;
  #calls = 0;
  readonly #failed: Record<FaultKind, number> = {
    throttling: 0,
    'server-error': 0,
    timeout: 0,
  };

  /** `share` of the calls fail, spread evenly over the kinds. */
  constructor(random: SeededRandom, share: number) {
    if (!(share >= 0 && share <= 1)) {
      throw new RangeError(`fault share must be in [0, 1] (got ${share})`);
    }
    this.#random = random;
    this.#share = share;
  }

  /** Runs `call`, or fails it before or after it took effect. */
  async around<T>(name: string, call: () => Promise<T>): Promise<T> {
    this.#calls++;
    if (!this.#random.chance(this.#share)) return call();
    const kind =
      FAULT_KINDS[this.#random.integer(0, FAULT_KINDS.length - 1)] ??
      'throttling';
    this.#failed[kind]++;
    if (kind === 'timeout') {
      // The change is made; only the answer is lost.
      await call().catch(() => undefined);
    }
    throw new InjectedFault(kind, name);
  }

  counts(): FaultCounts {
    return { calls: this.#calls, failed: { ...this.#failed } };
  }
}

/**
 * The same object with the named methods (every method when none are
 * named) passed through the injector; other members left as they are.
 * Only methods that return a promise may be named.
 */
export function withFaults<T extends object>(
  target: T,
  faults: FaultInjector | undefined,
  service: string,
  methods?: readonly string[],
): T {
  if (faults === undefined) return target;
  const chosen = methods === undefined ? undefined : new Set(methods);
  return new Proxy(target, {
    get(inner, property, receiver) {
      const value: unknown = Reflect.get(inner, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') {
        return value;
      }
      const method = value as (...a: unknown[]) => Promise<unknown>;
      if (chosen !== undefined && !chosen.has(property)) {
        return method.bind(inner);
      }
      return (...args: unknown[]) =>
        faults.around(`${service}.${property}`, () =>
          method.apply(inner, args),
        );
    },
  });
}
