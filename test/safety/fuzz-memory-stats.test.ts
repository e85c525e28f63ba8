/**
 * Fuzzes the passenger-memory-stats parser (core/memory-stats.ts) with
 * real output from the corpus, made-up tables and damaged lines. It must
 * never throw, never report a process that is not on the line it names,
 * and give every skipped line a reason.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseMemoryStats } from '../../core/memory-stats.ts';
import {
  stripColourCodes,
  trimTrailingCarriageReturns,
} from '../../core/text.ts';
import { fuzz, shareOf } from './support/fuzz.ts';
import { corpusLines, damaged, fragment } from './support/fuzz-text.ts';
import { SafetyTally } from './support/tally.ts';

const tally = new SafetyTally(import.meta.url);

const REAL = corpusLines('.txt').filter((line) => line.length < 400);

const megabytes = fc.oneof(
  fc.constant('?'),
  fc
    .tuple(fc.nat({ max: 99_999 }), fc.nat({ max: 9 }))
    .map(([whole, tenth]) => `${whole}.${tenth} MB`),
);
const title = fc.oneof(
  fc.constantFrom(
    'Passenger RubyApp: /data/shop/current (production)',
    'Passenger AppPreloader: /data/shop/current',
    'Passenger AppPreloader: /data/shop/current (forking...)',
    'Passenger core',
    '/usr/sbin/apache2 -k start',
    'nginx: master process /usr/sbin/nginx',
    '/usr/bin/python3 /usr/share/passenger/helper-scripts/wsgi-loader.py',
  ),
  fragment,
);
const row = fc
  .tuple(
    fc.nat({ max: 4_200_000 }),
    fc.option(fc.nat({ max: 4_200_000 }), { nil: undefined }),
    megabytes,
    megabytes,
    title,
    fc.constantFrom(' ', '  ', '\t', '   '),
  )
  .map(([pid, ppid, vm, priv, name, gap]) =>
    [pid, ppid, vm, priv, name].filter((v) => v !== undefined).join(gap),
  );
const structural = fc.constantFrom(
  '---------- Apache processes -----------',
  '----- Passenger processes ------',
  '-------- Nginx processes --------',
  'PID    PPID   VMSize     Private  Name',
  'PID   VMSize     Private   Name',
  'PID   VMSize     Resident  Name',
  'PID   PPID   Threads  VMSize  Private  Name',
  '--------------------------------',
  '### Processes: 3',
  '### Total private dirty RSS: 4.93 MB',
  'Version: 6.0.17',
  '*** WARNING: The Apache executable cannot be found.',
  '',
);
const line = damaged(
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...REAL) },
    { weight: 3, arbitrary: row },
    { weight: 2, arbitrary: structural },
    { weight: 1, arbitrary: fragment },
  ),
);
const output = fc
  .array(line, { maxLength: 30 })
  .map((lines) => lines.join('\n'));

/** The line a report names, as the parser read it. */
function lineAt(text: string, lineNumber: number): string {
  const raw = text.split('\n')[lineNumber - 1];
  assert.notEqual(raw, undefined, `line ${lineNumber} does not exist`);
  return trimTrailingCarriageReturns(stripColourCodes(raw ?? '')).trim();
}

describe('fuzz: passenger-memory-stats parser', () => {
  it('never throws, never invents a process, names each skip', () => {
    const property = fc.property(output, (text) => {
      const report = parseMemoryStats(text);

      for (const found of report.processes) {
        const source = lineAt(text, found.lineNumber);
        const tokens = source.split(/\s+/);
        // the pid is the line's first word, the name its end
        assert.equal(tokens[0], String(found.pid), source);
        assert.ok(source.endsWith(found.name), source);
        assert.ok(found.name.trim() !== '', source);
        if (found.memoryMb !== null) {
          assert.ok(
            tokens.some((t) => Number(t) === found.memoryMb),
            source,
          );
        }
        if (found.ppid !== undefined) {
          assert.equal(tokens[1], String(found.ppid), source);
        }
      }
      for (const skip of report.skipped) {
        assert.ok(skip.reason.trim().length > 0, 'a skip has a reason');
        assert.ok(lineAt(text, skip.lineNumber).startsWith(skip.text));
      }
      assert.ok(report.skipped.length <= 1000);
    });
    fuzz(tally, property, shareOf(0.8));
  });

  it('never throws on any text at all', () => {
    const property = fc.property(
      fc.string({ maxLength: 400, unit: 'binary' }),
      (text) => {
        const report = parseMemoryStats(text);
        for (const found of report.processes) {
          assert.equal(
            lineAt(text, found.lineNumber).split(/\s+/)[0],
            String(found.pid),
          );
        }
      },
    );
    fuzz(tally, property, shareOf(0.2));
  });
});
