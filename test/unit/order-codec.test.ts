import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GRACEFUL_SIGNALS } from '../../core/actions.ts';
import {
  decodeOrderParameters,
  encodeOrderParameters,
  ORDER_PARAMETER_NAMES,
  ORDER_PARAMETER_PATTERNS,
  OrderCodecError,
  parametersFromEnvironment,
  toOrder,
  type OrderBatch,
  type OrderParameters,
  type WireOrder,
} from '../../core/order-codec.ts';
import {
  MAX_GRACE_SECONDS,
  MAX_ORDERS_PER_COMMAND,
} from '../../core/order-items.ts';
import {
  ORDER_DOCUMENT,
  ORDER_SCRIPT_TIMEOUT_SECONDS,
  sendCommandParameters,
} from '../../lambdas/ssm/order-document.ts';

/** 2026-12-01T00:00:00Z, in ms. */
const NOW = 1_796_083_200_000;
const NOW_S = NOW / 1000;
const INSTANCE = 'i-0123456789abcdef0';
const APP = '/data/shop/current (production)';

const batch: OrderBatch = {
  instanceId: INSTANCE,
  app: APP,
  measure: 'private+swap',
  notAfter: NOW_S + 120,
  orders: [
    {
      pid: 4242,
      startTime: 1_234_567,
      action: 'graceful',
      graceful: { type: 'detach' },
      graceSeconds: 30,
      limitKb: 262_144,
      uid: 1001,
    },
    {
      pid: 4243,
      startTime: 1_234_570,
      action: 'graceful',
      graceful: { type: 'signal', signal: 'TERM' },
      graceSeconds: 5,
      limitKb: 1,
    },
    { pid: 4244, startTime: 0, action: 'force-kill', uid: 0 },
    { pid: 4245, startTime: 99, action: 'orphan-term', graceSeconds: 900 },
  ],
};

function validValues(): OrderParameters {
  return encodeOrderParameters(batch, NOW);
}

/** What the document itself lets through, as SSM would check it. */
function documentAllows(name: string, value: string): boolean {
  const parameter =
    ORDER_DOCUMENT.parameters[name as keyof typeof ORDER_DOCUMENT.parameters];
  if (parameter.allowedValues !== undefined) {
    return parameter.allowedValues.includes(value);
  }
  return new RegExp(parameter.allowedPattern ?? '(?!)').test(value);
}

function problemsFor(name: keyof OrderParameters, value: string) {
  const decoded = decodeOrderParameters(
    { ...validValues(), [name]: value },
    NOW,
  );
  assert.equal(decoded.ok, false, `${name}=${JSON.stringify(value)} decoded`);
  return decoded.ok ? [] : decoded.problems;
}

const HOSTILE = [
  '1; rm -rf /',
  '$(id)',
  '`id`',
  '${IFS}id',
  "'; id; '",
  '"; id; "',
  '1 | id',
  '1 && id',
  'a\nid',
  '\nid',
  '1\n',
  'x'.repeat(20_000),
  '',
];

/** Numbers that must not pass as a pid, time, limit or uid. */
const HOSTILE_NUMBERS = ['-1', '99999999999999999999', '1e9', '0x10', '1.5'];

describe('order codec', () => {
  describe('encodeOrderParameters / decodeOrderParameters', () => {
    it('round-trips a batch of every action', () => {
      const values = validValues();

      const decoded = decodeOrderParameters(values, NOW);

      assert.deepEqual(decoded, { ok: true, batch });
      assert.equal(
        values.orders,
        '4242:1234567:detach:30:262144:1001,' +
          '4243:1234570:signal-TERM:5:1:-,' +
          '4244:0:force-kill:-:-:0,' +
          '4245:99:orphan-term:900:-:-',
      );
    });

    it('round-trips any valid batch', () => {
      const order = fc.oneof(
        fc.record({
          pid: fc.integer({ min: 2, max: 4_194_304 }),
          startTime: fc.integer({ min: 0, max: 999_999_999_999_999 }),
          action: fc.constant('graceful' as const),
          graceful: fc.oneof(
            fc.constant({ type: 'detach' as const }),
            fc
              .constantFrom(...GRACEFUL_SIGNALS)
              .map((signal) => ({ type: 'signal' as const, signal })),
          ),
          graceSeconds: fc.integer({ min: 1, max: MAX_GRACE_SECONDS }),
          limitKb: fc.integer({ min: 1, max: 2 ** 32 }),
          uid: fc.integer({ min: 0, max: 4_294_967_294 }),
        }),
        fc.record({
          pid: fc.integer({ min: 2, max: 4_194_304 }),
          startTime: fc.nat(),
          action: fc.constant('force-kill' as const),
        }),
      );
      const orders = fc
        .uniqueArray(order, {
          minLength: 1,
          maxLength: MAX_ORDERS_PER_COMMAND,
          selector: (o) => o.pid,
        })
        // fast-check builds records without a prototype
        .map((list) => list.map((o) => ({ ...o })) as WireOrder[]);
      fc.assert(
        fc.property(orders, fc.boolean(), (list, swap) => {
          const sent: OrderBatch = {
            ...batch,
            measure: swap ? 'private+swap' : 'private',
            orders: list,
          };
          const values = encodeOrderParameters(sent, NOW);
          assert.deepEqual(decodeOrderParameters(values, NOW), {
            ok: true,
            batch: sent,
          });
          for (const name of ORDER_PARAMETER_NAMES) {
            assert.ok(documentAllows(name, values[name]), name);
          }
        }),
        { numRuns: 200 },
      );
    });

    it('accepts a notAfter already past: the host refuses the orders', () => {
      const past = encodeOrderParameters(
        { ...batch, notAfter: NOW_S - 3600 },
        NOW,
      );

      assert.equal(decodeOrderParameters(past, NOW).ok, true);
    });

    it('reads the values from SSM_<name> variables', () => {
      const values = validValues();
      const env = Object.fromEntries(
        Object.entries(values).map(([name, value]) => [`SSM_${name}`, value]),
      );

      const read = parametersFromEnvironment({ ...env, orders: 'x' });

      assert.deepEqual(read, values);
    });
  });

  describe('encodeOrderParameters', () => {
    const cases: [string, Partial<WireOrder>, string][] = [
      ['a pid below 2', { pid: 1 }, 'orders[0].pid must be from 2'],
      ['a negative pid', { pid: -5 }, 'orders must be 1 to 25 items'],
      ['a fractional pid', { pid: 4.5 }, 'orders must be 1 to 25 items'],
      ['a pid above pid_max', { pid: 5_000_000 }, 'orders[0].pid must be'],
      [
        'a grace time too long',
        { graceSeconds: MAX_GRACE_SECONDS + 1 },
        'orders[0].graceSeconds must be from 1 to 900, got 901',
      ],
      [
        'a graceful order without a limit',
        { limitKb: undefined },
        'orders[0].limitKb must be given for action detach, got -',
      ],
      [
        'a uid of -1',
        { uid: 4_294_967_295 },
        'orders[0].uid must be from 0 to 4294967294',
      ],
      [
        'a command line as the graceful action',
        { graceful: { type: 'command', argv: ['rm'] } as never },
        'orders[0].graceful must be detach or a signal',
      ],
    ];
    for (const [what, change, message] of cases) {
      it(`refuses ${what}, naming the field`, () => {
        const first = { ...batch.orders[0]!, ...change } as WireOrder;

        assert.throws(
          () => encodeOrderParameters({ ...batch, orders: [first] }, NOW),
          (error: unknown) =>
            error instanceof OrderCodecError && error.message.includes(message),
        );
      });
    }

    it('refuses a second order for one pid', () => {
      const twice = [batch.orders[2]!, { ...batch.orders[2]!, startTime: 7 }];

      assert.throws(
        () => encodeOrderParameters({ ...batch, orders: twice }, NOW),
        /orders\[1\]\.pid must name each pid at most once per command, got 4244/,
      );
    });

    it(`refuses more than ${MAX_ORDERS_PER_COMMAND} orders`, () => {
      const many = Array.from(
        { length: MAX_ORDERS_PER_COMMAND + 1 },
        (_, i) => ({
          pid: 100 + i,
          startTime: 1,
          action: 'force-kill' as const,
        }),
      );

      assert.throws(
        () => encodeOrderParameters({ ...batch, orders: many }, NOW),
        /orders must be 1 to 25 items/,
      );
    });

    it('refuses a notAfter more than an hour ahead', () => {
      assert.throws(
        () => encodeOrderParameters({ ...batch, notAfter: NOW_S + 3601 }, NOW),
        /notAfter must be at most 3600 s after this host's clock/,
      );
    });
  });

  describe('decodeOrderParameters on hostile values', () => {
    for (const name of ORDER_PARAMETER_NAMES) {
      it(`rejects every hostile ${name}, as the document does`, () => {
        // An app may well be named 1e9; every other value is numeric or
        // an id, where no such number fits.
        const numbers = name === 'app' ? [] : HOSTILE_NUMBERS;
        for (const bad of [...HOSTILE, ...numbers]) {
          assert.equal(documentAllows(name, bad), false, JSON.stringify(bad));
          const problems = problemsFor(name, bad);
          assert.equal(problems[0]?.field, name, JSON.stringify(bad));
          assert.ok(!problems[0]!.value.includes('\n'));
        }
      });
    }

    it('rejects a hostile value in any field of any order item', () => {
      const item = '4242:1234567:signal-TERM:30:262144:1001';
      const fields = item.split(':');
      for (let index = 0; index < fields.length; index++) {
        for (const bad of [...HOSTILE, ...HOSTILE_NUMBERS]) {
          const parts = [...fields];
          parts[index] = bad;
          const orders = `4300:1:force-kill:-:-:-,${parts.join(':')}`;
          assert.equal(documentAllows('orders', orders), false, orders);
          assert.equal(problemsFor('orders', orders)[0]?.field, 'orders');
        }
      }
    });

    it('rejects values the pattern lets through but the rules do not', () => {
      const cases: [string, string][] = [
        ['1:5:force-kill:-:-:-', 'orders[0].pid must be from 2 to 4194304'],
        ['4194305:5:force-kill:-:-:-', 'orders[0].pid must be from 2'],
        ['7:5:signal-TERM:901:9:-', 'orders[0].graceSeconds must be from 1'],
        ['7:5:signal-TERM:30:9999999999:-', 'orders[0].limitKb must be from'],
        ['7:5:force-kill:-:-:4294967295', 'orders[0].uid must be from 0'],
        ['7:5:force-kill:30:-:-', "orders[0].graceSeconds must be '-'"],
        ['7:5:orphan-term:30:1024:-', "orders[0].limitKb must be '-'"],
        ['7:5:detach:-:1024:-', 'orders[0].graceSeconds must be given'],
        ['7:5:force-kill:-:-:-,7:6:force-kill:-:-:-', 'orders[1].pid must'],
      ];
      for (const [orders, message] of cases) {
        assert.ok(documentAllows('orders', orders), orders);
        const problems = problemsFor('orders', orders);
        const text = problems.map((p) => `${p.field} ${p.rule}`).join('; ');
        assert.ok(text.includes(message), `${orders}: ${text}`);
      }
    });

    it('never accepts shell syntax in app or orders', () => {
      const metacharacter = fc.constantFrom(
        // not the comma: it joins order items
        ...';&|<>$`\\"\'\n\r\t*?[]{}!#~=%'.split(''),
      );
      const hostile = fc
        .tuple(fc.string({ maxLength: 20 }), metacharacter, fc.string())
        .map(([before, bad, after]) => before + bad + after);
      fc.assert(
        fc.property(hostile, (value) => {
          assert.equal(documentAllows('app', value), false);
          assert.equal(problemsFor('app', value)[0]?.field, 'app');
          const orders = `4242:1:force-kill:-:-:${value}`;
          assert.equal(documentAllows('orders', orders), false);
          assert.equal(problemsFor('orders', orders)[0]?.field, 'orders');
        }),
        { numRuns: 300 },
      );
    });

    it('names every missing parameter', () => {
      const decoded = decodeOrderParameters({}, NOW);

      assert.equal(decoded.ok, false);
      assert.deepEqual(
        !decoded.ok && decoded.problems.map((p) => `${p.field} ${p.rule}`),
        ORDER_PARAMETER_NAMES.map((name) => `${name} must be given`),
      );
    });
  });

  describe('toOrder', () => {
    it('names this instance, the app and notAfter in ms', () => {
      const order = toOrder(batch, batch.orders[0]!);

      assert.deepEqual(order, {
        identity: { host: INSTANCE, pid: 4242, startTime: 1_234_567 },
        app: APP,
        action: 'graceful',
        measure: 'private+swap',
        notAfter: (NOW_S + 120) * 1000,
        graceful: { type: 'detach' },
        limitKb: 262_144,
        uid: 1001,
      });
    });
  });

  describe('the Command document', () => {
    it("checks each parameter with the codec's own pattern", () => {
      for (const [name, pattern] of Object.entries(ORDER_PARAMETER_PATTERNS)) {
        const parameter =
          ORDER_DOCUMENT.parameters[name as keyof OrderParameters];
        assert.equal(parameter.allowedPattern, pattern, name);
      }
      assert.deepEqual(ORDER_DOCUMENT.parameters.measure.allowedValues, [
        'private',
        'private+swap',
      ]);
    });

    it('gives every parameter to the script as an environment variable', () => {
      for (const name of ORDER_PARAMETER_NAMES) {
        const parameter = ORDER_DOCUMENT.parameters[name];
        assert.equal(parameter.interpolationType, 'ENV_VAR', name);
        assert.ok(
          parameter.allowedPattern ?? parameter.allowedValues,
          `${name} has neither allowedPattern nor allowedValues`,
        );
      }
    });

    it('lets the longest grace time run out before SSM stops the script', () => {
      // the steps before the wait take seconds; a minute is plenty
      assert.ok(ORDER_SCRIPT_TIMEOUT_SECONDS >= MAX_GRACE_SECONDS + 60);
    });

    it('gives SendCommand each value as a list of one string', () => {
      const values = validValues();

      const parameters = sendCommandParameters(values);

      assert.deepEqual(parameters, {
        instanceId: [INSTANCE],
        app: [APP],
        measure: ['private+swap'],
        notAfter: [String(NOW_S + 120)],
        orders: [values.orders],
      });
    });

    it('splices no parameter into the script and only runs the agent', () => {
      const script = ORDER_DOCUMENT.mainSteps[0].inputs.runCommand;
      const code = script.filter((line) => !line.startsWith('#'));

      assert.ok(script.every((line) => !line.includes('{{')));
      assert.ok(code.every((line) => !line.includes('SSM_')));
      assert.equal(code.at(-1), 'exec node "$agent" execute');
    });
  });
});
