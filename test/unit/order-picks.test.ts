import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GRACEFUL_SIGNALS } from '../../core/actions.ts';
import {
  decodeOrderParameters,
  encodeOrderParameters,
  OrderCodecError,
  type OrderBatch,
  type WirePick,
} from '../../core/order-codec.ts';
import {
  MAX_GRACE_SECONDS,
  MAX_LIMIT_KB,
  MAX_WORKERS_PER_COMMAND,
} from '../../core/order-items.ts';
import { ORDER_DOCUMENT } from '../../lambdas/ssm/order-document.ts';

/** 2026-12-01T00:00:00Z, in ms. */
const NOW = 1_796_083_200_000;
const NOW_S = NOW / 1000;

const pickBatch: OrderBatch = {
  instanceId: 'i-0123456789abcdef0',
  app: 'shop',
  measure: 'private',
  notAfter: NOW_S + 120,
  orders: [{ pid: 4244, startTime: 10, action: 'force-kill' }],
  picks: [
    {
      kind: 'pick',
      count: 3,
      graceful: { type: 'detach' },
      graceSeconds: 30,
      limitKb: 262_144,
    },
    { kind: 'pick-orphans', count: 2, graceSeconds: 60 },
  ],
};

const documentPattern = new RegExp(
  ORDER_DOCUMENT.parameters.orders.allowedPattern ?? '(?!)',
);

function decodeOrders(orders: string) {
  const { orders: _unused, ...rest } = encodeOrderParameters(pickBatch, NOW);
  return decodeOrderParameters({ ...rest, orders }, NOW);
}

function firstProblem(orders: string): string {
  const decoded = decodeOrders(orders);
  assert.equal(decoded.ok, false, `${orders} decoded`);
  if (decoded.ok) return '';
  const [problem] = decoded.problems;
  return `${problem?.field} ${problem?.rule}`;
}

describe('PICK items', () => {
  it('round-trip beside exact orders, exact orders first', () => {
    const values = encodeOrderParameters(pickBatch, NOW);

    const decoded = decodeOrderParameters(values, NOW);

    assert.equal(
      values.orders,
      '4244:10:force-kill:-:-:-,' +
        'pick:3:detach:30:262144:-,' +
        'pick-orphans:2:orphan-term:60:-:-',
    );
    assert.deepEqual(decoded, { ok: true, batch: pickBatch });
    assert.ok(documentPattern.test(values.orders));
  });

  it('round-trip any valid pick', () => {
    const graceful = fc.oneof(
      fc.constant({ type: 'detach' as const }),
      fc
        .constantFrom(...GRACEFUL_SIGNALS)
        .map((signal) => ({ type: 'signal' as const, signal })),
    );
    const pick: fc.Arbitrary<WirePick> = fc.record(
      {
        kind: fc.constant('pick' as const),
        count: fc.integer({ min: 1, max: MAX_WORKERS_PER_COMMAND }),
        graceful,
        graceSeconds: fc.integer({ min: 1, max: MAX_GRACE_SECONDS }),
        limitKb: fc.integer({ min: 1, max: MAX_LIMIT_KB }),
      },
      { noNullPrototype: true },
    );
    fc.assert(
      fc.property(pick, (chosen) => {
        const batch = { ...pickBatch, orders: [], picks: [chosen] };
        const values = encodeOrderParameters(batch, NOW);
        assert.ok(documentPattern.test(values.orders), values.orders);
        assert.deepEqual(decodeOrderParameters(values, NOW), {
          ok: true,
          batch,
        });
      }),
      { numRuns: 200 },
    );
  });

  it('leave `picks` out of a batch that has none', () => {
    const batch = { ...pickBatch, picks: [] };

    const decoded = decodeOrderParameters(
      encodeOrderParameters(batch, NOW),
      NOW,
    );

    assert.ok(decoded.ok);
    assert.equal('picks' in decoded.batch, false);
  });

  describe('rejected by the pattern, in the document and on the host', () => {
    const hostile = [
      'pick:0:detach:30:1024:-',
      'pick:-3:detach:30:1024:-',
      'pick:100:detach:30:1024:-',
      'pick:3:force-kill:30:1024:-',
      'pick:3:orphan-term:30:1024:-',
      'pick:3:signal-KILL:30:1024:-',
      'pick:3:detach:-:1024:-',
      'pick:3:detach:30:-:-',
      'pick:3:detach:30:1024:1001',
      'pick:3:detach:30:1024',
      'pick:3:detach:30:1024:-:-',
      'pick-orphans:3:detach:30:-:-',
      'pick-orphans:3:orphan-term:-:-:-',
      'pick-orphans:3:orphan-term:30:1024:-',
      'pick-orphans:0:orphan-term:30:-:-',
      'PICK:3:detach:30:1024:-',
      'pick:3:detach:30:1024:-;id',
      'pick:3:detach:30:$(id):-',
      'pick:3:detach:30:1024:-\n',
      'pick:1e1:detach:30:1024:-',
    ];
    for (const orders of hostile) {
      it(JSON.stringify(orders), () => {
        assert.equal(documentPattern.test(orders), false);
        assert.match(firstProblem(orders), /^orders must be 1 to 25 items/);
      });
    }
  });

  describe('rejected by the decoder where the pattern cannot tell', () => {
    const cases: [string, string, RegExp][] = [
      [
        'a count over the workers one command may touch',
        'pick:26:detach:30:1024:-',
        /^orders\[0\]\.count must be from 1 to 25/,
      ],
      [
        'a grace time over the longest',
        'pick:3:signal-TERM:901:1024:-',
        /^orders\[0\]\.graceSeconds must be from 1 to 900/,
      ],
      [
        'a limit over 4 TiB',
        'pick:3:detach:30:9999999999:-',
        /^orders\[0\]\.limitKb must be from 1 to 4294967296/,
      ],
      [
        'an orphan grace time over the longest',
        'pick-orphans:3:orphan-term:1000:-:-',
        /^orders\[0\]\.graceSeconds must be from 1 to 900/,
      ],
      [
        'two picks in one command',
        'pick:3:detach:30:1024:-,pick:2:signal-TERM:30:1024:-',
        /^orders\[1\]\.action must name pick at most once per command/,
      ],
      [
        'two orphan picks in one command',
        'pick-orphans:3:orphan-term:30:-:-,pick-orphans:3:orphan-term:9:-:-',
        /^orders\[1\]\.action must name pick-orphans at most once/,
      ],
      [
        'more workers in all than one command may touch',
        '4244:10:force-kill:-:-:-,pick:20:detach:30:1024:-,' +
          'pick-orphans:5:orphan-term:30:-:-',
        /^orders must touch at most 25 workers/,
      ],
    ];
    for (const [what, orders, expected] of cases) {
      it(what, () => {
        assert.ok(documentPattern.test(orders), 'the pattern lets it by');
        assert.match(firstProblem(orders), expected);
      });
    }
  });

  it('cannot carry a command line as the graceful step', () => {
    const batch: OrderBatch = {
      ...pickBatch,
      picks: [
        {
          kind: 'pick',
          count: 1,
          graceful: { type: 'command', argv: ['rm', '-rf', '/'] },
          graceSeconds: 30,
          limitKb: 1024,
        } as unknown as WirePick,
      ],
    };

    assert.throws(
      () => encodeOrderParameters(batch, NOW),
      (error: unknown) =>
        error instanceof OrderCodecError &&
        error.problems[0]?.field === 'orders[1].graceful',
    );
  });
});
