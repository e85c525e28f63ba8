import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUILT_IN_POLICY, loadConfig, policyFor } from '../../core/config.ts';
import {
  configFromParameters,
  describeParameterProblem,
  parameterRoot,
  parameterValue,
  type Parameter,
} from '../../core/parameter-tree.ts';

const ROOT = '/passenger-fleet/prod';

function tree(values: Record<string, string>): Parameter[] {
  return Object.entries(values).map(([path, value]) => ({
    name: `${ROOT}/${path}`,
    value,
  }));
}

/** Every problem as the line the agent logs. */
function refusals(values: Record<string, string>): string[] {
  const parsed = configFromParameters(ROOT, tree(values));
  return parsed.ok ? [] : parsed.problems.map(describeParameterProblem);
}

describe('parameter tree', () => {
  describe('parameterRoot', () => {
    it('puts the fleet under /passenger-fleet', () => {
      assert.equal(parameterRoot('prod'), '/passenger-fleet/prod');
    });

    it('refuses a fleet name SSM would not take in a path', () => {
      assert.throws(
        () => parameterRoot('prod/eu'),
        /fleet must be 1 to 64 letters, digits, "_", "\." or "-" \(got "prod\/eu"\)/,
      );
    });
  });

  describe('parameterValue', () => {
    const cases: [string, unknown][] = [
      ['300', 300],
      ['true', true],
      ['"300"', '300'],
      ['detach', 'detach'],
      ['signal:TERM', 'signal:TERM'],
      ['{"type":"signal","signal":"TERM"}', { type: 'signal', signal: 'TERM' }],
      ['[1', '[1'],
    ];
    for (const [text, value] of cases) {
      it(`reads ${text} as ${JSON.stringify(value)}`, () => {
        assert.deepEqual(parameterValue(text), value);
      });
    }
  });

  describe('configFromParameters', () => {
    it('maps each path below the root to its setting', () => {
      const parsed = configFromParameters(
        ROOT,
        tree({
          'defaults/limitMb': '300',
          'defaults/gracefulAction': 'detach',
          'apps/shop/limitMb': '400',
          'apps/shop/gracefulAction': '{"type":"signal","signal":"TERM"}',
          'apps/blog/dryRun': 'true',
          'orphans/graceSeconds': '60',
          unlistedApps: 'ignore',
        }),
      );
      assert.ok(parsed.ok);
      assert.deepEqual(
        parsed.config,
        loadConfig({
          defaults: { limitMb: 300, gracefulAction: 'detach' },
          apps: {
            shop: {
              limitMb: 400,
              gracefulAction: { type: 'signal', signal: 'TERM' },
            },
            blog: { dryRun: true },
          },
          orphans: { graceSeconds: 60 },
          unlistedApps: 'ignore',
        }),
      );
      const shop = policyFor(parsed.config, { group: '/data/shop/current' });
      assert.equal(shop?.limitMb, 400);
    });

    it('takes a branch as one JSON object, mixed with deeper parameters', () => {
      const parsed = configFromParameters(
        ROOT,
        tree({
          'apps/shop': '{"limitMb":400,"graceSeconds":45}',
          'apps/shop/dryRun': 'true',
        }),
      );
      assert.ok(parsed.ok);
      assert.deepEqual(parsed.config.apps, {
        shop: { limitMb: 400, graceSeconds: 45, dryRun: true },
      });
    });

    it('gives the built-in policy for an empty tree', () => {
      const parsed = configFromParameters(ROOT, []);
      assert.ok(parsed.ok);
      assert.deepEqual(
        policyFor(parsed.config, { group: '/srv/any/current' }),
        BUILT_IN_POLICY,
      );
    });

    const refused: [string, Record<string, string>, string[]][] = [
      [
        'a negative limit',
        { 'apps/shop/limitMb': '-5' },
        [
          `${ROOT}/apps/shop/limitMb: apps.shop.limitMb must be greater ` +
            'than 0 (got -5)',
        ],
      ],
      [
        'a limit quoted as text',
        { 'defaults/limitMb': '"300"' },
        [
          `${ROOT}/defaults/limitMb: defaults.limitMb must be a number ` +
            '(got "300")',
        ],
      ],
      [
        'an unknown setting',
        { 'defaults/limitMB': '300' },
        [
          `${ROOT}/defaults/limitMB: defaults.limitMB is not a known ` +
            'setting (limitMB) (got 300)',
        ],
      ],
      [
        'a bad setting inside a JSON branch',
        { 'apps/shop': '{"graceSeconds":1.5}' },
        [
          `${ROOT}/apps/shop: apps.shop.graceSeconds must be a whole ` +
            'number (got 1.5)',
        ],
      ],
      [
        'a setting given twice',
        { 'apps/shop': '{"limitMb":400}', 'apps/shop/limitMb': '500' },
        [
          `${ROOT}/apps/shop, ${ROOT}/apps/shop/limitMb: apps.shop.limitMb ` +
            'is given twice, or both as a value and as a branch (got 500)',
        ],
      ],
      [
        'a value where a branch goes on',
        { defaults: '300', 'defaults/limitMb': '300' },
        [
          `${ROOT}/defaults, ${ROOT}/defaults/limitMb: defaults is given ` +
            'twice, or both as a value and as a branch (got 300)',
        ],
      ],
      [
        'a prototype key inside a JSON branch',
        { defaults: '{"constructor":{"limitMb":1}}' },
        [
          `${ROOT}/defaults: defaults.constructor uses constructor, ` +
            'which cannot name a setting or an app (got {"limitMb":1})',
        ],
      ],
      [
        'a prototype key',
        { 'apps/__proto__/limitMb': '1' },
        [
          `${ROOT}/apps/__proto__/limitMb: apps.__proto__.limitMb uses ` +
            '__proto__, which cannot name a setting or an app (got 1)',
        ],
      ],
    ];
    for (const [label, values, expected] of refused) {
      it(`names the parameter and the rule for ${label}`, () => {
        assert.deepEqual(refusals(values), expected);
      });
    }

    it('refuses a parameter outside the root or with an empty part', () => {
      const parsed = configFromParameters(ROOT, [
        { name: '/passenger-fleet/staging/defaults/limitMb', value: '1' },
        { name: `${ROOT}/apps//limitMb`, value: '1' },
      ]);
      assert.equal(parsed.ok, false);
      assert.deepEqual(
        parsed.ok ? [] : parsed.problems.map((p) => p.parameters[0]),
        [`${ROOT}/apps//limitMb`, '/passenger-fleet/staging/defaults/limitMb'],
      );
    });

    it('accepts the root with a trailing slash', () => {
      const parsed = configFromParameters(
        `${ROOT}/`,
        tree({ 'defaults/limitMb': '300' }),
      );
      assert.ok(parsed.ok);
      assert.equal(parsed.config.defaults.limitMb, 300);
    });
  });
});
