/**
 * Fuzzes the configuration schema (core/config.ts parseConfig) the way
 * Parameter Store hands it over: JSON text. A valid configuration with
 * one value changed or one key added must either still parse, with no
 * app that was not written, or be refused with problems that all name
 * the changed place; any JSON at all must never make it throw.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseConfig } from '../../core/config.ts';
import { fuzz, shareOf } from './support/fuzz.ts';
import { nasty } from './support/fuzz-text.ts';
import { SafetyTally } from './support/tally.ts';

const tally = new SafetyTally(import.meta.url);

const BASE = {
  defaults: { limitMb: 300, graceSeconds: 30, gracefulAction: 'detach' },
  apps: {
    shop: { limitMb: 500, measure: 'private+swap' },
    '/data/blog/current': { gracefulAction: 'signal:TERM', dryRun: true },
  },
  unlistedApps: 'enforce',
  orphans: { enabled: true, confirmSeconds: 10 },
  dryRun: false,
  fleet: { maxInGrace: 5, breakerPercent: 30 },
};

/** Every place in BASE a value sits, as a list of keys. */
const PATHS: readonly (readonly string[])[] = [
  ['defaults', 'limitMb'],
  ['defaults', 'graceSeconds'],
  ['defaults', 'gracefulAction'],
  ['defaults'],
  ['apps', 'shop', 'limitMb'],
  ['apps', 'shop', 'measure'],
  ['apps', 'shop'],
  ['apps', '/data/blog/current', 'gracefulAction'],
  ['apps', '/data/blog/current', 'dryRun'],
  ['apps'],
  ['unlistedApps'],
  ['orphans', 'enabled'],
  ['orphans', 'confirmSeconds'],
  ['orphans'],
  ['dryRun'],
  ['fleet', 'maxInGrace'],
  ['fleet', 'breakerPercent'],
  ['fleet'],
];

const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  nasty,
  fc.constantFrom(
    0,
    -1,
    Number.POSITIVE_INFINITY,
    2 ** 53,
    0.5,
    true,
    null,
    [],
    {},
  ),
  fc.constantFrom('signal:KILL', 'signal:USR1', 'auto', 'private'),
  fc.record({
    type: fc.constantFrom('command', 'signal', 'detach'),
    argv: fc.array(fc.oneof(nasty, fc.constant('{pid}')), { maxLength: 3 }),
  }),
);
const key = fc.oneof(nasty, fc.string({ maxLength: 8 }));

type Change =
  | {
      readonly kind: 'set';
      readonly path: readonly string[];
      readonly to: unknown;
    }
  | {
      readonly kind: 'add';
      readonly path: readonly string[];
      readonly key: string;
      readonly to: unknown;
    };

const change: fc.Arbitrary<Change> = fc.oneof(
  fc.record({
    kind: fc.constant('set' as const),
    path: fc.constantFrom(...PATHS),
    to: value,
  }),
  fc.record({
    kind: fc.constant('add' as const),
    path: fc.constantFrom(
      [],
      ['defaults'],
      ['apps'],
      ['apps', 'shop'],
      ['orphans'],
      ['fleet'],
    ),
    key,
    to: value,
  }),
);

/** BASE with the change made, as the JSON text Parameter Store holds. */
function changedText(made: Change): string {
  const config = structuredClone(BASE) as Record<string, unknown>;
  const parentPath = made.kind === 'set' ? made.path.slice(0, -1) : made.path;
  let parent = config;
  for (const step of parentPath)
    parent = parent[step] as Record<string, unknown>;
  const key = made.kind === 'set' ? made.path.at(-1)! : made.key;
  // an own property even for `__proto__`, as JSON.parse makes it
  Object.defineProperty(parent, key, {
    value: made.to,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return JSON.stringify(config);
}

/** The dotted field of the changed place, as parseConfig names fields. */
function fieldOf(made: Change): string {
  const path = made.kind === 'set' ? made.path : [...made.path, made.key];
  return path.map((step) => step || '""').join('.');
}

function related(field: string, changed: string): boolean {
  return (
    field === changed ||
    field.startsWith(`${changed}.`) ||
    changed.startsWith(`${field}.`) ||
    (field === '(root)' && changed !== '')
  );
}

describe('fuzz: configuration schema', () => {
  it('refuses a changed value by naming it, or keeps to what was written', () => {
    assert.equal(parseConfig(BASE).ok, true, 'the base is valid');
    const property = fc.property(change, (made) => {
      const text = changedText(made);
      const input: unknown = JSON.parse(text);

      const parsed = parseConfig(input);

      if (parsed.ok) {
        const written = Object.keys((input as { apps?: object }).apps ?? {});
        for (const app of Object.keys(parsed.config.apps)) {
          assert.ok(written.includes(app), `app '${app}' was invented`);
        }
        return;
      }
      const changed = fieldOf(made);
      assert.ok(parsed.problems.length > 0);
      for (const problem of parsed.problems) {
        assert.ok(problem.rule.trim().length > 0, 'a problem has a rule');
        assert.ok(
          related(problem.field, changed),
          `changed ${changed}, problem names ${problem.field}: ${problem.rule}`,
        );
      }
    });
    fuzz(tally, property, shareOf(0.8));
  });

  it('names an unknown empty key (found by this fuzzer)', () => {
    const parsed = parseConfig({ '': null, fleet: { '': 1 } });

    assert.equal(parsed.ok, false);
    const fields = parsed.ok ? [] : parsed.problems.map((p) => p.field);
    assert.deepEqual(fields.sort(), ['""', 'fleet.""']);
    tally.tried();
  });

  it('never throws on any JSON', () => {
    const property = fc.property(fc.jsonValue({ maxDepth: 4 }), (input) => {
      const parsed = parseConfig(JSON.parse(JSON.stringify(input) ?? 'null'));
      if (!parsed.ok) {
        for (const problem of parsed.problems) {
          assert.ok(problem.field.length > 0 && problem.rule.length > 0);
        }
      }
    });
    fuzz(tally, property, shareOf(0.2));
  });
});
