/**
 * Shared pieces for the fuzzers: lines of real tool output from the
 * corpus fixtures, and the ways a line gets damaged on its way to us (cut
 * short, coloured, a byte flipped, a hostile string spliced in).
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';

const CORPUS = new URL('../../fixtures/corpus/', import.meta.url);

/** Every line of the corpus files whose name ends with `suffix`. */
export function corpusLines(suffix: string): string[] {
  const lines: string[] = [];
  for (const name of readdirSync(CORPUS)) {
    if (!name.endsWith(suffix)) continue;
    lines.push(...readFileSync(new URL(name, CORPUS), 'latin1').split('\n'));
  }
  return [...new Set(lines)];
}

/** Strings that have broken parsers before. */
export const NASTY = [
  '',
  ' ',
  '\t',
  '\r',
  '\0',
  '\x1b[1m',
  '\x1b[0m',
  '\x1b[2J',
  '\u202e',
  '\ufeff',
  '?',
  '-',
  '0',
  '-1',
  '00',
  '4194305',
  '99999999999999999999',
  '1e309',
  'NaN',
  'MB',
  '1.5 MB',
  '__proto__',
  'constructor',
  'toString',
  '<',
  '&',
  '&#0;',
  '&#x110000;',
  '&#40;',
  ']]>',
  '<!DOCTYPE x [<!ENTITY a "b">]>',
  '$(id)',
  '`id`',
  '; rm -rf /',
  'Passenger RubyApp: /data/shop/current (production)',
  'PF-OUTCOME ',
  'PF-DONE ',
];

export const nasty = fc.constantFrom(...NASTY);

/** Some text: mostly short, sometimes hostile, sometimes any unicode. */
export const fragment = fc.oneof(
  { weight: 3, arbitrary: nasty },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12, unit: 'grapheme' }) },
  { weight: 1, arbitrary: fc.nat({ max: 5_000_000 }).map(String) },
);

/** A line as it came, or damaged in one of a few ways. */
export function damaged(line: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: line },
    {
      weight: 1,
      arbitrary: fc
        .tuple(line, fc.nat(), fragment)
        .map(([text, at, part]) => splice(text, at % (text.length + 1), part)),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(line, fc.nat())
        .map(([text, at]) => text.slice(0, at % (text.length + 1))),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(line, fc.nat(), fc.nat())
        .map(([text, from, length]) => {
          const start = from % (text.length + 1);
          return text.slice(0, start) + text.slice(start + (length % 6));
        }),
    },
  );
}

function splice(text: string, at: number, part: string): string {
  return text.slice(0, at) + part + text.slice(at);
}
