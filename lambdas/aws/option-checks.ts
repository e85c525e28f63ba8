/** Checks of the adapters' numeric options; each error names the option. */
import { MINUTE_MS } from './metric-reading.ts';

export function wholeAbove0(option: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(
      `${option} must be a whole number above 0 (got ${value})`,
    );
  }
  return value;
}

/** Whole minutes in ms, at most `maxMs`. */
export function wholeMinutes(
  option: string,
  value: number,
  maxMs: number,
): number {
  if (!Number.isInteger(value) || value <= 0 || value % MINUTE_MS !== 0) {
    throw new RangeError(
      `${option} must be a whole number of minutes in ms (got ${value})`,
    );
  }
  if (value > maxMs) {
    throw new RangeError(
      `${option} must be at most ${maxMs} ms (got ${value})`,
    );
  }
  return value;
}
