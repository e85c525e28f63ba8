/**
 * Where the agent's metric data goes: CloudWatch on a host, memory in
 * tests and in the fleet simulator.
 */
import type { MetricDatum } from '../../core/metric-schema.ts';

export interface PutOptions {
  /** Send now, without the jitter that spreads the fleet's calls. */
  readonly urgent?: boolean;
}

export interface MetricsPort {
  /**
   * Delivers every datum, or throws a MetricsPutError saying which ones
   * were not delivered and whether trying again later can help.
   */
  put(data: readonly MetricDatum[], options?: PutOptions): Promise<void>;
}

export class MetricsPutError extends Error {
  override readonly name = 'MetricsPutError';
  constructor(
    message: string,
    /** The data not delivered, in the order given. */
    readonly undelivered: readonly MetricDatum[],
    /**
     * False when CloudWatch refused the data itself: sending it again
     * would be refused again.
     */
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
