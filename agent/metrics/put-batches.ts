/**
 * PutMetricData's limits: at most 1,000 data per request and 1 MB of
 * body. The SDK sends CloudWatch's JSON protocol; each datum's size is
 * estimated from the JSON it becomes, with room kept for the envelope.
 */
import type { MetricDatum } from '../../core/metric-schema.ts';

export const MAX_DATA_PER_REQUEST = 1_000;
export const MAX_REQUEST_BYTES = 1_000_000;
/** `{"Namespace":"...","MetricData":[...]}` and some margin. */
const ENVELOPE_BYTES = 1_024;

export interface BatchLimits {
  readonly maxData: number;
  readonly maxBytes: number;
}

export const PUT_LIMITS: BatchLimits = {
  maxData: MAX_DATA_PER_REQUEST,
  maxBytes: MAX_REQUEST_BYTES,
};

/** The datum's bytes in the request body, a comma included. */
export function estimatedBytes(datum: MetricDatum): number {
  const wire = {
    MetricName: datum.name,
    Dimensions: datum.dimensions.map((d) => ({ Name: d.name, Value: d.value })),
    Timestamp: datum.timestamp / 1000,
    Unit: datum.unit,
    Values: datum.values,
    StorageResolution: 60,
  };
  return Buffer.byteLength(JSON.stringify(wire)) + 1;
}

/** Splits the data, in order, into requests within the limits. */
export function putBatches(
  data: readonly MetricDatum[],
  limits: BatchLimits = PUT_LIMITS,
): MetricDatum[][] {
  const budget = limits.maxBytes - ENVELOPE_BYTES;
  const batches: MetricDatum[][] = [];
  let current: MetricDatum[] = [];
  let bytes = 0;
  for (const datum of data) {
    const size = estimatedBytes(datum);
    const full = current.length >= limits.maxData || bytes + size > budget;
    if (full && current.length > 0) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(datum);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
