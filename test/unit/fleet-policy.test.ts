import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig, type ConfigInput } from '../../core/config.ts';
import {
  decideFleet,
  HOST_DEADLINE_SLACK_MS,
  type FleetDecision,
  type FleetMark,
  type FleetPolicyInput,
  type PendingPick,
  type TroubleRow,
} from '../../core/fleet-policy.ts';

const T0 = Date.UTC(2026, 11, 3, 13, 0, 0);

function host(n: number): string {
  return `i-${n.toString(16).padStart(17, '0')}`;
}

function trouble(n: number, changes: Partial<TroubleRow> = {}): TroubleRow {
  return {
    host: host(n),
    app: 'shop',
    workersOverLimit: 1,
    orphanSuspects: 0,
    maxWorkerMb: 400,
    ...changes,
  };
}

function mark(pid: number, changes: Partial<FleetMark> = {}): FleetMark {
  return {
    identity: { host: host(1), pid, startTime: 9_000 + pid },
    app: 'shop',
    cause: 'memory',
    deadline: T0 + 30_000,
    orderId: 'o-1',
    state: 'in-grace',
    ...changes,
  };
}

function plan(
  changes: Partial<Omit<FleetPolicyInput, 'config'>> & {
    config?: ConfigInput;
  } = {},
) {
  return decideFleet({
    trouble: [],
    census: [{ app: 'shop', hosts: 100, workers: 800 }],
    marks: [],
    pendingPicks: [],
    now: T0,
    ...changes,
    config: loadConfig({ defaults: { limitMb: 300 }, ...changes.config }),
  });
}

function kinds(decisions: readonly FleetDecision[]): string[] {
  return decisions.map((d) =>
    d.kind === 'defer' ? `defer:${d.cause}` : d.kind,
  );
}

describe('decideFleet', () => {
  describe('a breach', () => {
    it('gets a pick of its workers over the limit, within the host budget', () => {
      const { decisions } = plan({
        trouble: [trouble(1, { workersOverLimit: 3 })],
        config: { defaults: { limitMb: 300, maxInGracePerHost: 2 } },
      });

      assert.equal(decisions.length, 1);
      const [pick] = decisions;
      assert.equal(pick?.kind, 'pick');
      if (pick?.kind !== 'pick') return;
      assert.equal(pick.count, 2);
      assert.deepEqual(pick.graceful, { type: 'detach' });
      assert.equal(pick.limitKb, 300 * 1024);
      assert.equal(pick.graceSeconds, 30);
      assert.match(pick.reason, /3 worker\(s\) over 300 MB, largest 400 MB/);
    });

    it('carries a chosen signal, and refuses a command that cannot travel', () => {
      const signal = plan({
        trouble: [trouble(1)],
        config: { defaults: { gracefulAction: 'signal:TERM' } },
      }).decisions[0];
      const command = plan({
        trouble: [trouble(1)],
        config: {
          defaults: {
            gracefulAction: { type: 'command', argv: ['/bin/x', '{pid}'] },
          },
        },
      }).decisions[0];

      assert.equal(signal?.kind === 'pick' && signal.graceful.type, 'signal');
      assert.equal(command?.kind, 'ignore');
      assert.match(command?.reason ?? '', /cannot travel in an SSM order/);
    });

    const budgets: [string, number, string][] = [
      ['no marks open', 0, 'pick'],
      ['one mark open of two allowed', 1, 'pick'],
      ['two marks open of two allowed', 2, 'defer:host-budget'],
    ];
    for (const [what, open, expected] of budgets) {
      it(`with ${what}: ${expected}`, () => {
        const marks = Array.from({ length: open }, (_, i) => mark(100 + i));
        const { decisions } = plan({
          trouble: [trouble(1, { workersOverLimit: 5 })],
          marks,
          config: { defaults: { maxInGracePerHost: 2 } },
        });

        assert.deepEqual(kinds(decisions), [expected]);
        const [first] = decisions;
        if (first?.kind === 'pick') assert.equal(first.count, 2 - open);
      });
    }

    it('waits while an order for the host-app is still out', () => {
      const pending: PendingPick = {
        host: host(1),
        app: 'shop',
        orderId: 'o-9',
        reserved: 1,
        running: true,
      };
      const { decisions } = plan({
        trouble: [trouble(1)],
        pendingPicks: [pending],
      });

      assert.deepEqual(kinds(decisions), ['defer:order-pending']);
      assert.match(decisions[0]?.reason ?? '', /order o-9/);
    });

    it('ignores an app no entry names when unlisted apps are ignored', () => {
      const { decisions } = plan({
        trouble: [trouble(1)],
        config: { unlistedApps: 'ignore', apps: { blog: {} } },
      });

      assert.deepEqual(kinds(decisions), ['ignore']);
    });
  });

  describe('the fleet budget', () => {
    const rows = [1, 2, 3, 4].map((n) =>
      trouble(n, { maxWorkerMb: 400 + n, workersOverLimit: 2 }),
    );

    it('goes to the hardest breaches first, then defers the rest', () => {
      const { decisions } = plan({
        trouble: rows,
        config: {
          defaults: { maxInGracePerHost: 2 },
          fleet: { maxInGrace: 3 },
        },
      });

      assert.deepEqual(
        decisions.map((d) => [d.host, d.kind, 'count' in d ? d.count : 0]),
        [
          [host(4), 'pick', 2],
          [host(3), 'pick', 1],
          [host(2), 'defer', 0],
          [host(1), 'defer', 0],
        ],
      );
      assert.match(decisions[2]?.reason ?? '', /fleet budget is 3/);
    });

    it('counts open marks and picks still out fleet-wide', () => {
      const pending: PendingPick = {
        host: host(9),
        app: 'shop',
        orderId: 'o-9',
        reserved: 1,
        running: true,
      };
      const { decisions } = plan({
        trouble: rows,
        marks: [
          mark(100, { identity: { host: host(8), pid: 100, startTime: 1 } }),
        ],
        pendingPicks: [pending],
        config: { fleet: { maxInGrace: 3 } },
      });

      assert.deepEqual(kinds(decisions), [
        'pick',
        'defer:fleet-budget',
        'defer:fleet-budget',
        'defer:fleet-budget',
      ]);
    });

    const percents: [number, number, number][] = [
      // percent, census workers, workers that may be in grace
      [1, 800, 8],
      [1, 50, 1],
      [25, 8, 2],
    ];
    for (const [percent, workers, allowed] of percents) {
      it(`allows ${allowed} at ${percent} % of ${workers} workers`, () => {
        const many = Array.from({ length: 12 }, (_, i) => trouble(i + 1));
        const { decisions } = plan({
          trouble: many,
          census: [{ app: 'shop', hosts: 100, workers }],
          config: { fleet: { maxInGracePercent: percent, breakerPercent: 50 } },
        });

        assert.equal(
          decisions.filter((d) => d.kind === 'pick').length,
          allowed,
        );
      });
    }

    it('defers a percentage budget without a census', () => {
      const { decisions } = plan({
        trouble: [trouble(1)],
        census: [],
        config: { fleet: { maxInGracePercent: 10 } },
      });

      assert.deepEqual(kinds(decisions), ['defer:census-missing']);
    });
  });

  describe('the breaker', () => {
    // 100 hosts run the app; the breaker opens above 50 % breaching.
    const cases: [number, boolean][] = [
      [49, false],
      [50, false],
      [51, true],
    ];
    for (const [breaching, open] of cases) {
      it(`is ${open ? 'open' : 'closed'} with ${breaching} of 100 hosts breaching`, () => {
        const rows = Array.from({ length: breaching }, (_, i) =>
          trouble(i + 1),
        );
        const result = plan({ trouble: rows });

        assert.deepEqual(result.openBreakers, open ? ['shop'] : []);
        const acted = result.decisions.filter((d) => d.kind === 'pick');
        assert.equal(acted.length, open ? 0 : breaching);
        if (open) {
          assert.ok(result.decisions.every((d) => d.kind === 'breaker'));
          assert.match(
            result.decisions[0]?.reason ?? '',
            /51 of 100 hosts breach at once \(51 % > breakerPercent 50\)/,
          );
        }
      });
    }

    it('stays closed below minHostsForBreaker', () => {
      const rows = [1, 2, 3].map((n) => trouble(n));
      const result = plan({
        trouble: rows,
        census: [{ app: 'shop', hosts: 3, workers: 24 }],
      });

      assert.deepEqual(result.openBreakers, []);
      assert.equal(result.decisions.length, 3);
    });

    it('counts the breaching hosts when the census counts fewer', () => {
      const rows = [1, 2, 3, 4, 5].map((n) => trouble(n));
      const result = plan({
        trouble: rows,
        census: [{ app: 'shop', hosts: 2, workers: 16 }],
      });

      assert.deepEqual(result.openBreakers, ['shop']);
    });

    it('leaves orphan picks and other apps alone', () => {
      const rows = [
        ...Array.from({ length: 60 }, (_, i) => trouble(i + 1)),
        trouble(1, { app: 'blog', workersOverLimit: 0, orphanSuspects: 2 }),
      ];
      const result = plan({ trouble: rows });

      assert.deepEqual(result.openBreakers, ['shop']);
      const blog = result.decisions.filter((d) => d.app === 'blog');
      assert.deepEqual(kinds(blog), ['pick-orphans']);
    });
  });

  describe('dry run', () => {
    it('says what it would pick, per app by short name', () => {
      const { decisions } = plan({
        trouble: [trouble(1), trouble(2, { app: 'blog' })],
        census: [
          { app: 'shop', hosts: 100, workers: 800 },
          { app: 'blog', hosts: 100, workers: 800 },
        ],
        config: { apps: { shop: { dryRun: true } } },
      });

      const shop = decisions.find((d) => d.app === 'shop');
      const blog = decisions.find((d) => d.app === 'blog');
      assert.equal(shop?.kind, 'dry-run');
      assert.match(shop?.reason ?? '', /^dry run: would pick 1/);
      assert.equal(blog?.kind, 'pick');
    });

    it('does not force-kill a due mark of a dry-run app', () => {
      const { decisions } = plan({
        marks: [mark(101)],
        now: T0 + 31_000,
        config: { apps: { shop: { dryRun: true } } },
      });

      assert.equal(decisions[0]?.kind, 'dry-run');
    });
  });

  describe('deadlines', () => {
    const times: [string, number, string[]][] = [
      ['1 ms before', T0 + 29_999, []],
      ['at', T0 + 30_000, ['force-kill']],
      ['a minute after', T0 + 90_000, ['force-kill']],
    ];
    for (const [when, now, expected] of times) {
      it(`${when} the deadline: ${expected.join() || 'nothing'}`, () => {
        const { decisions } = plan({ marks: [mark(101)], now });

        assert.deepEqual(kinds(decisions), expected);
      });
    }

    it('never twice: a mark already claimed for the kill is left', () => {
      const { decisions } = plan({
        marks: [mark(101, { state: 'force-kill-claimed' })],
        now: T0 + 60_000,
      });

      assert.deepEqual(decisions, []);
    });

    it('gives a host still running its pick time to report its own kill', () => {
      const running: PendingPick = {
        host: host(1),
        app: 'shop',
        orderId: 'o-1',
        reserved: 0,
        running: true,
      };
      const before = plan({
        marks: [mark(101)],
        pendingPicks: [running],
        now: T0 + 30_000 + HOST_DEADLINE_SLACK_MS - 1,
      });
      const after = plan({
        marks: [mark(101)],
        pendingPicks: [running],
        now: T0 + 30_000 + HOST_DEADLINE_SLACK_MS,
      });

      assert.deepEqual(kinds(before.decisions), ['await-host']);
      assert.deepEqual(kinds(after.decisions), ['force-kill']);
    });
  });
});
