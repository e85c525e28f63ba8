/**
 * Fuzzes the reader of a command's stdout (core/outcome-report.ts
 * parseOutcomeReport): real report lines, lines cut at any character (as
 * the 24,000-character limit cuts them), values swapped for hostile ones,
 * and noise from the shell and node around them. It must never throw,
 * never report an outcome that no PF-OUTCOME line of the input carries,
 * name the line and the reason of everything malformed, and call a report
 * complete only when PF-DONE's counts match what was read.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { OUTCOME_STATUSES } from '../../core/order.ts';
import {
  DONE_PREFIX,
  formatDoneLine,
  formatOutcomeLine,
  formatRejectedLine,
  OUTCOME_PREFIX,
  parseOutcomeReport,
  REJECTED_PREFIX,
  REPORT_STEPS,
  STDOUT_LIMIT_CHARS,
} from '../../core/outcome-report.ts';
import { fuzz, shareOf } from './support/fuzz.ts';
import { damaged, fragment, nasty } from './support/fuzz-text.ts';
import { SafetyTally } from './support/tally.ts';

const tally = new SafetyTally(import.meta.url);
const PREFIXES = [OUTCOME_PREFIX, REJECTED_PREFIX, DONE_PREFIX];

const outcomeLine = fc
  .record({
    pid: fc.integer({ min: 1, max: 4_194_304 }),
    startTime: fc.nat(),
    step: fc.constantFrom(...REPORT_STEPS),
    status: fc.constantFrom(...OUTCOME_STATUSES),
    reason: fc.oneof(fragment, fc.string({ maxLength: 300 })),
    at: fc.nat(),
    deadline: fc.option(fc.nat(), { nil: undefined }),
    hostWaits: fc.option(fc.boolean(), { nil: undefined }),
  })
  .map((report) => formatOutcomeLine(report));
/** A report line with one field's value replaced by any JSON. */
const tamperedLine = fc
  .tuple(
    outcomeLine,
    fc.constantFrom('v', 'pid', 'startTime', 'step', 'status', 'reason', 'at'),
    fc.oneof(fc.jsonValue({ maxDepth: 1 }), nasty),
  )
  .map(([line, key, value]) => {
    const body = JSON.parse(line.slice(OUTCOME_PREFIX.length));
    body[key] = value;
    return OUTCOME_PREFIX + JSON.stringify(body);
  });
const otherLine = fc.oneof(
  fc
    .record({ field: fragment, rule: fragment, value: fragment })
    .map(formatRejectedLine),
  fc
    .record({ orders: fc.nat(30), outcomes: fc.nat(30), rejections: fc.nat(3) })
    .map(formatDoneLine),
  fc
    .tuple(fc.constantFrom(...PREFIXES), fc.jsonValue({ maxDepth: 2 }))
    .map(([prefix, value]) => prefix + JSON.stringify(value)),
  fragment,
);
const line = damaged(
  fc.oneof(
    { weight: 4, arbitrary: outcomeLine },
    { weight: 2, arbitrary: tamperedLine },
    { weight: 2, arbitrary: otherLine },
  ),
).chain((text) => fc.constantFrom(text, `${text}\r`, ` ${text}`));
const stdout = fc
  .tuple(
    fc.array(line, { maxLength: 25 }),
    fc.option(fc.nat(), { nil: undefined }),
  )
  .map(([lines, cut]) => {
    const text = lines.join('\n');
    const limit =
      cut === undefined ? STDOUT_LIMIT_CHARS : cut % (text.length + 1);
    return text.slice(0, limit);
  });

/** The bodies of the PF-OUTCOME lines, as the input carries them. */
function outcomeBodies(text: string): Record<string, unknown>[] {
  const bodies: Record<string, unknown>[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (!line.startsWith(OUTCOME_PREFIX)) continue;
    try {
      const body: unknown = JSON.parse(line.slice(OUTCOME_PREFIX.length));
      if (body !== null && typeof body === 'object') {
        bodies.push(body as Record<string, unknown>);
      }
    } catch {
      // a cut or broken line carries no outcome
    }
  }
  return bodies;
}

describe('fuzz: command output reader', () => {
  it('never throws, never invents an outcome, names each bad line', () => {
    const property = fc.property(stdout, (text) => {
      const parsed = parseOutcomeReport(text);

      const bodies = outcomeBodies(text);
      assert.ok(parsed.outcomes.length <= bodies.length);
      for (const outcome of parsed.outcomes) {
        const carried = bodies.some(
          (body) =>
            body.pid === outcome.pid &&
            body.startTime === outcome.startTime &&
            body.step === outcome.step &&
            body.status === outcome.status &&
            body.reason === outcome.reason &&
            body.at === outcome.at,
        );
        assert.ok(carried, `outcome for pid ${outcome.pid} was invented`);
      }
      const lines = text.split('\n');
      for (const bad of parsed.malformed) {
        const source = lines[bad.line - 1] ?? '';
        assert.ok(
          PREFIXES.some((prefix) => source.startsWith(prefix)),
          `line ${bad.line} is not a report line: ${source}`,
        );
        assert.ok(bad.reason.trim().length > 0, 'a bad line has a reason');
      }
      if (parsed.complete) {
        assert.ok(parsed.done !== undefined);
        assert.equal(parsed.malformed.length, 0);
        assert.equal(parsed.done.outcomes, parsed.outcomes.length);
        assert.equal(parsed.done.rejections, parsed.rejections.length);
      }
    });
    fuzz(tally, property, shareOf(0.9));
  });

  it('never throws on any text at all', () => {
    const property = fc.property(
      fc.string({ maxLength: 300, unit: 'binary' }),
      (text) => {
        const parsed = parseOutcomeReport(text);
        assert.equal(
          parsed.outcomes.length <= outcomeBodies(text).length,
          true,
        );
      },
    );
    fuzz(tally, property, shareOf(0.1));
  });
});
