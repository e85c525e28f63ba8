/**
 * Small readers for the text that Passenger's tools print: colour codes
 * to drop, and the pids and sizes inside it. Every reader returns a
 * reason instead of throwing, so a parser can report the line and go on.
 */

/** The kernel's ceiling for pids on 64-bit Linux (PID_MAX_LIMIT). */
export const PID_MAX = 4_194_304;

export type Reading<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string };

// passenger-memory-stats colours its titles and headers (SGR codes) and
// prints no other escape; any other one could move the cursor and make a
// line read differently on a screen, so it stays for the caller to refuse.
// eslint-disable-next-line no-control-regex -- colour codes start with ESC
const COLOUR_CODES = /\x1b\[[0-9;]*m/g;

// C0 controls except tab, DEL, and C1 controls: none belongs in a table.
// eslint-disable-next-line no-control-regex -- finding them is the point
const CONTROL_CHARACTER = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/;

const DECIMAL_INTEGER = /^\d+$/;

/** Drops terminal colour codes (SGR sequences) and nothing else. */
export function stripColourCodes(text: string): string {
  return text.replace(COLOUR_CODES, '');
}

/** The text without the carriage returns that end it. */
export function trimTrailingCarriageReturns(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x0d) end--;
  return text.slice(0, end);
}

/** The first control character left in a line, as `U+001B`, if any. */
export function findControlCharacter(text: string): string | undefined {
  const found = CONTROL_CHARACTER.exec(text)?.[0];
  if (found === undefined) return undefined;
  const code = found.charCodeAt(0).toString(16).toUpperCase();
  return `U+${code.padStart(4, '0')}`;
}

/** A value for an error message: quoted, and cut when long. */
export function quote(text: string, limit = 60): string {
  const shown = text.length > limit ? `${text.slice(0, limit)}...` : text;
  return `'${shown}'`;
}

/**
 * Reads a pid (or ppid, with `lowest` 0) written in decimal. Leading
 * zeros, signs and fractions are refused: no tool prints them, so they
 * mean the text is not what we think it is.
 */
export function readPid(
  field: string,
  text: string,
  lowest: 0 | 1 = 1,
): Reading<number> {
  if (!DECIMAL_INTEGER.test(text) || (text.length > 1 && text[0] === '0')) {
    const rule = lowest === 1 ? 'a positive integer' : 'an integer';
    return { ok: false, reason: `${field} is not ${rule}: ${quote(text)}` };
  }
  const value = Number(text);
  if (value < lowest || value > PID_MAX) {
    return {
      ok: false,
      reason: `${field} is out of range ${lowest}..${PID_MAX}: ${quote(text)}`,
    };
  }
  return { ok: true, value };
}

/**
 * Reads a count or a size in whole units (kB, µs, sessions): a decimal
 * integer that a double holds exactly, or null for anything else.
 */
export function readWholeNumber(text: string): number | null {
  if (!DECIMAL_INTEGER.test(text)) return null;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : null;
}
