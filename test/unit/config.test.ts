import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BUILT_IN_POLICY,
  describeProblem,
  loadConfig,
  parseConfig,
  policyFor,
} from '../../core/config.ts';

/** Every rejection as the one-line text a person would read. */
function rejections(input: unknown): string[] {
  const parsed = parseConfig(input);
  return parsed.ok ? [] : parsed.problems.map(describeProblem);
}

describe('config', () => {
  describe('parseConfig', () => {
    it('accepts an empty object and fills the defaults', () => {
      const config = loadConfig({});
      assert.equal(config.dryRun, false);
      assert.equal(config.unlistedApps, 'enforce');
      assert.deepEqual(config.orphans, {
        enabled: true,
        minAgeSeconds: 60,
        confirmSeconds: 6,
        graceSeconds: 30,
      });
    });

    const rejected: [string, unknown, string][] = [
      [
        'a negative limit',
        { defaults: { limitMb: -5 } },
        'defaults.limitMb must be greater than 0 (got -5)',
      ],
      [
        'a limit given as text',
        { defaults: { limitMb: '100' } },
        'defaults.limitMb must be a number (got "100")',
      ],
      [
        'a fractional grace',
        { apps: { shop: { graceSeconds: 1.5 } } },
        'apps.shop.graceSeconds must be a whole number (got 1.5)',
      ],
      [
        'a zero grace',
        { defaults: { graceSeconds: 0 } },
        'defaults.graceSeconds must be at least 1 (got 0)',
      ],
      [
        'an unknown measure',
        { defaults: { measure: 'rss' } },
        'defaults.measure must be one of private, private+swap (got "rss")',
      ],
      [
        'a zero sample count',
        { defaults: { sustainedSamples: 0 } },
        'defaults.sustainedSamples must be at least 1 (got 0)',
      ],
      [
        "an orphan gap under Passenger's lag",
        { orphans: { confirmSeconds: 5 } },
        'orphans.confirmSeconds must be at least 6 (got 5)',
      ],
      [
        'a misspelt setting',
        { defaults: { limitMB: 100 } },
        'defaults.limitMB is not a known setting (limitMB) (got 100)',
      ],
      [
        'dry run as text',
        { dryRun: 'yes' },
        'dryRun must be true or false (got "yes")',
      ],
      [
        'an empty app name',
        { apps: { '': {} } },
        'apps."" app names must not be empty (got {})',
      ],
    ];
    for (const [what, input, message] of rejected) {
      it(`rejects ${what}, naming field, rule and value`, () => {
        assert.deepEqual(rejections(input), [message]);
      });
    }

    it('rejects SIGKILL as a graceful action', () => {
      const [message] = rejections({
        defaults: { gracefulAction: 'signal:KILL' },
      });
      assert.match(
        message ?? '',
        /^defaults\.gracefulAction must be .*\(got "signal:KILL"\)$/,
      );
    });

    it('requires a command to be absolute and to take the pid', () => {
      assert.deepEqual(
        rejections({
          defaults: {
            gracefulAction: { type: 'command', argv: ['restart-it'] },
          },
        }),
        [
          'defaults.gracefulAction.argv the program must be an absolute path (got ["restart-it"])',
          'defaults.gracefulAction.argv must pass the worker\'s pid as an argument "{pid}" (got ["restart-it"])',
        ],
      );
    });

    it('reads the graceful shorthands', () => {
      const config = loadConfig({
        defaults: { gracefulAction: 'signal:TERM' },
        apps: { shop: { gracefulAction: 'detach' } },
      });
      assert.deepEqual(config.defaults.gracefulAction, {
        type: 'signal',
        signal: 'TERM',
      });
      assert.deepEqual(config.apps.shop?.gracefulAction, { type: 'detach' });
    });

    it('never throws on hostile input', () => {
      for (const input of [
        null,
        42,
        'x',
        [],
        { defaults: null },
        { apps: [] },
      ]) {
        assert.equal(parseConfig(input).ok, false, JSON.stringify(input));
      }
    });
  });

  describe('policyFor', () => {
    const config = loadConfig({
      defaults: { limitMb: 200 },
      apps: { shop: { limitMb: 300, graceSeconds: 10 } },
    });

    it('layers built-in defaults, fleet defaults and the app entry', () => {
      const policy = policyFor(config, {
        group: '/data/shop/current (production)',
      });
      assert.deepEqual(policy, {
        ...BUILT_IN_POLICY,
        limitMb: 300,
        graceSeconds: 10,
      });
    });

    it('uses the fleet defaults for an unlisted app', () => {
      const policy = policyFor(config, { group: '/data/blog/current' });
      assert.equal(policy?.limitMb, 200);
    });

    it('ignores unlisted apps when asked', () => {
      const only = loadConfig({ apps: { shop: {} }, unlistedApps: 'ignore' });
      assert.equal(policyFor(only, { group: '/data/blog/current' }), undefined);
      assert.equal(
        policyFor(only, { group: '/data/shop/current' })?.limitMb,
        250,
      );
    });

    it('turns every app to dry run when the fleet is in dry run', () => {
      const dry = loadConfig({ dryRun: true });
      assert.equal(policyFor(dry, { group: '/data/x/current' })?.dryRun, true);
    });
  });

  describe('fleet brakes', () => {
    it('defaults to a 50 % breaker from 4 hosts and a 10 % fleet budget', () => {
      const { fleet } = loadConfig({});
      assert.deepEqual(fleet, {
        maxInGracePercent: 10,
        breakerPercent: 50,
        minHostsForBreaker: 4,
        silentAfterSeconds: 6 * 3600,
      });
    });

    it('keeps both budgets when both are given', () => {
      const { fleet } = loadConfig({
        fleet: { maxInGrace: 20, maxInGracePercent: 12.5 },
      });
      assert.equal(fleet.maxInGrace, 20);
      assert.equal(fleet.maxInGracePercent, 12.5);
    });

    const rejected: [string, unknown, string][] = [
      [
        'a fleet budget of 0',
        { fleet: { maxInGrace: 0 } },
        'fleet.maxInGrace must be at least 1 (got 0)',
      ],
      [
        'a fractional fleet budget',
        { fleet: { maxInGrace: 2.5 } },
        'fleet.maxInGrace must be a whole number (got 2.5)',
      ],
      [
        'a percentage above 100',
        { fleet: { maxInGracePercent: 150 } },
        'fleet.maxInGracePercent must be at most 100 (got 150)',
      ],
      [
        'a breaker at 0 %',
        { fleet: { breakerPercent: 0 } },
        'fleet.breakerPercent must be greater than 0 (got 0)',
      ],
      [
        'a breaker given as text',
        { fleet: { breakerPercent: '50' } },
        'fleet.breakerPercent must be a number (got "50")',
      ],
      [
        'a breaker floor of 0 hosts',
        { fleet: { minHostsForBreaker: 0 } },
        'fleet.minHostsForBreaker must be at least 1 (got 0)',
      ],
      [
        'a silence shorter than a minute',
        { fleet: { silentAfterSeconds: 30 } },
        'fleet.silentAfterSeconds must be at least 60 (got 30)',
      ],
      [
        'a misspelt fleet setting',
        { fleet: { maxInGraceCount: 3 } },
        'fleet.maxInGraceCount is not a known setting (maxInGraceCount) ' +
          '(got 3)',
      ],
    ];
    for (const [what, input, message] of rejected) {
      it(`rejects ${what}, naming field, rule and value`, () => {
        assert.deepEqual(rejections(input), [message]);
      });
    }
  });
});
