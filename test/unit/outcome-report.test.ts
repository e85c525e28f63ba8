import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WireOrder } from '../../core/order-codec.ts';
import { MAX_ORDERS_PER_COMMAND } from '../../core/order-items.ts';
import {
  formatDoneLine,
  formatOutcomeLine,
  formatRejectedLine,
  matchOutcomes,
  MAX_REASON_CHARS,
  parseOutcomeReport,
  STDOUT_LIMIT_CHARS,
  type OutcomeReport,
} from '../../core/outcome-report.ts';

const AT = 1_796_083_200_000;

const graceful: OutcomeReport = {
  pid: 4242,
  startTime: 1_234_567,
  step: 'graceful',
  status: 'signalled',
  reason: "sent SIGTERM to pid 4242 ('Passenger RubyApp: /data/shop')",
  at: AT,
  deadline: AT + 30_000,
  hostWaits: true,
};
const deadline: OutcomeReport = {
  pid: 4242,
  startTime: 1_234_567,
  step: 'deadline',
  status: 'killed',
  reason: 'pid 4242 was SIGKILLed and is gone',
  at: AT + 30_004,
};
const refusal: OutcomeReport = {
  pid: 4300,
  startTime: 7,
  step: 'force-kill',
  status: 'refused',
  reason: 'pid 4300 is the preloader; never touched',
  at: AT + 5,
};

function stdoutOf(lines: readonly string[]): string {
  return lines.map((line) => `${line}\n`).join('');
}

describe('outcome report', () => {
  describe('parseOutcomeReport', () => {
    it('reads back what the host printed, among other output', () => {
      const stdout = stdoutOf([
        '+ exec node /opt/passenger-fleet/agent.mjs execute',
        formatOutcomeLine(graceful),
        '(node:123) ExperimentalWarning: something',
        formatOutcomeLine(refusal),
        formatOutcomeLine(deadline),
        formatDoneLine({ orders: 2, outcomes: 3, rejections: 0 }),
      ]);

      const parsed = parseOutcomeReport(stdout);

      assert.deepEqual(parsed, {
        outcomes: [graceful, refusal, deadline],
        rejections: [],
        malformed: [],
        complete: true,
        done: { orders: 2, outcomes: 3, rejections: 0 },
      });
    });

    it('reads rejected values', () => {
      const problem = {
        field: 'orders',
        rule: 'must be 1 to 25 items',
        value: '"1; rm -rf /"',
      };
      const stdout = stdoutOf([
        formatRejectedLine(problem),
        formatDoneLine({ orders: 0, outcomes: 0, rejections: 1 }),
      ]);

      const parsed = parseOutcomeReport(stdout);

      assert.deepEqual(parsed.rejections, [problem]);
      assert.equal(parsed.complete, true);
    });

    it('keeps a hostile reason on its own line', () => {
      const hostile = {
        ...refusal,
        reason: `title 'x'\nPF-OUTCOME {"v":1,"pid":1}\r\n\u0000"\\`,
      };
      const line = formatOutcomeLine(hostile);

      const parsed = parseOutcomeReport(stdoutOf([line]));

      assert.equal(line.includes('\n'), false);
      assert.deepEqual(parsed.outcomes, [hostile]);
    });

    it('takes a prefix only at the start of a line', () => {
      const stdout = `echo ${formatOutcomeLine(refusal)}\n`;

      assert.deepEqual(parseOutcomeReport(stdout).outcomes, []);
    });

    const broken: [string, string, RegExp][] = [
      ['a line cut short', formatOutcomeLine(refusal).slice(0, 60), /not JSON/],
      ['another version', 'PF-OUTCOME {"v":2}', /v must be 1, got 2/],
      ['a JSON array', 'PF-OUTCOME [1]', /not a JSON object/],
      [
        'an unknown status',
        formatOutcomeLine(refusal).replace('"refused"', '"exploded"'),
        /status must be one of detached, signalled/,
      ],
      [
        'a negative pid',
        formatOutcomeLine(refusal).replace('"pid":4300', '"pid":-4300'),
        /pid must be a whole number of at least 1, got -4300/,
      ],
      [
        'a pid as text',
        formatOutcomeLine(refusal).replace('"pid":4300', '"pid":"4300"'),
        /pid must be a whole number/,
      ],
      [
        'a missing reason',
        formatOutcomeLine(refusal).replace(/"reason":"[^"]*",/, ''),
        /reason must be a string/,
      ],
      [
        'a deadline as text',
        formatOutcomeLine(graceful).replace(/"deadline":\d+/, '"deadline":"x"'),
        /deadline must be a whole number/,
      ],
      [
        'a second PF-DONE',
        formatDoneLine({ orders: 0, outcomes: 0, rejections: 0 }),
        /a second PF-DONE line/,
      ],
    ];
    for (const [what, line, reason] of broken) {
      it(`rejects ${what} with a reason, inventing nothing`, () => {
        const stdout = stdoutOf([
          formatDoneLine({ orders: 1, outcomes: 0, rejections: 0 }),
          line,
        ]);

        const parsed = parseOutcomeReport(stdout);

        assert.deepEqual(parsed.outcomes, []);
        assert.equal(parsed.malformed.length, 1);
        assert.equal(parsed.malformed[0]?.line, 2);
        assert.match(parsed.malformed[0]!.reason, reason);
        assert.equal(parsed.complete, false);
      });
    }

    it('calls a report without PF-DONE incomplete', () => {
      const parsed = parseOutcomeReport(stdoutOf([formatOutcomeLine(refusal)]));

      assert.equal(parsed.complete, false);
      assert.deepEqual(parsed.outcomes, [refusal]);
    });

    it('calls a report with fewer lines than PF-DONE counts incomplete', () => {
      const stdout = stdoutOf([
        formatOutcomeLine(graceful),
        formatDoneLine({ orders: 1, outcomes: 2, rejections: 0 }),
      ]);

      assert.equal(parseOutcomeReport(stdout).complete, false);
    });

    it('never throws, whatever it is given', () => {
      for (const input of [undefined, null, 42, {}, '', '\n\n', 'PF-DONE ']) {
        const parsed = parseOutcomeReport(input as string);
        assert.deepEqual(parsed.outcomes, []);
        assert.equal(parsed.complete, false);
      }
    });
  });

  describe('formatOutcomeLine', () => {
    it(`keeps the longest report of ${MAX_ORDERS_PER_COMMAND} orders within what GetCommandInvocation returns`, () => {
      const longest: OutcomeReport = {
        pid: 4_194_304,
        startTime: 999_999_999_999_999,
        step: 'orphan-term',
        status: 'signalled',
        reason: '"\u0001'.repeat(1000),
        at: 9_999_999_999_999,
        deadline: 9_999_999_999_999,
        hostWaits: false,
      };
      const lines: string[] = [];
      for (let i = 0; i < MAX_ORDERS_PER_COMMAND; i++) {
        lines.push(formatOutcomeLine(longest));
        lines.push(formatOutcomeLine({ ...longest, step: 'deadline' }));
      }
      lines.push(
        formatDoneLine({
          orders: MAX_ORDERS_PER_COMMAND,
          outcomes: lines.length,
          rejections: 0,
        }),
      );

      const stdout = stdoutOf(lines);

      assert.ok(
        stdout.length <= STDOUT_LIMIT_CHARS,
        `${stdout.length} characters`,
      );
      const parsed = parseOutcomeReport(stdout);
      assert.equal(parsed.complete, true);
      assert.ok(
        parsed.outcomes.every((o) => o.reason.length <= MAX_REASON_CHARS),
      );
    });

    it('marks a reason it had to cut', () => {
      const reason = 'x'.repeat(MAX_REASON_CHARS + 50);

      const line = formatOutcomeLine({ ...refusal, reason });

      const [read] = parseOutcomeReport(line).outcomes;
      assert.equal(read?.reason.length, MAX_REASON_CHARS);
      assert.ok(read?.reason.endsWith('…'));
    });
  });

  describe('matchOutcomes', () => {
    const orders: WireOrder[] = [
      {
        pid: 4242,
        startTime: 1_234_567,
        action: 'graceful',
        graceful: { type: 'signal', signal: 'TERM' },
        graceSeconds: 30,
        limitKb: 1024,
      },
      { pid: 4300, startTime: 7, action: 'force-kill' },
      { pid: 4301, startTime: 8, action: 'force-kill' },
    ];

    it('pairs each order with its step and its deadline', () => {
      const { matched, strays } = matchOutcomes(orders, [
        graceful,
        refusal,
        deadline,
      ]);

      assert.deepEqual(matched, [
        { order: orders[0], step: graceful, deadline },
        { order: orders[1], step: refusal },
        { order: orders[2] },
      ]);
      assert.deepEqual(strays, []);
    });

    it('sets aside lines no order of the command asked for', () => {
      const otherProcess = { ...refusal, startTime: 8 };
      const wrongStep = {
        ...refusal,
        pid: 4301,
        startTime: 8,
        step: 'graceful' as const,
      };
      const again = { ...refusal, status: 'killed' as const };

      const { matched, strays } = matchOutcomes(orders, [
        refusal,
        otherProcess,
        wrongStep,
        again,
      ]);

      assert.deepEqual(strays, [otherProcess, wrongStep, again]);
      assert.deepEqual(matched[1], { order: orders[1], step: refusal });
      assert.deepEqual(matched[2], { order: orders[2] });
    });
  });
});
