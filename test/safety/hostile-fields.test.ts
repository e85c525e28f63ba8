/**
 * Hostile order fields, through both fences: the Command document's
 * patterns (read from lambdas/ssm/order-document.json itself, checked the
 * way SSM checks them and the way JavaScript does) and the host's own
 * decoder, then the whole `passenger-fleet execute` on a stand-in host:
 * exit 64, a PF-REJECTED line naming the field, not one /proc read and
 * not one signal.
 *
 * test/unit/order-codec.test.ts already throws shell syntax, newlines,
 * long strings and bad numbers at every parameter and at each field of an
 * exact item. This file adds what it leaves out: the fields of PICK
 * items, numbers the patterns let through but the rules do not, values
 * SSM's regex engine lets through with a final newline, look-alike digits
 * and invisible characters, and the full command on each value.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { runExecute } from '../../agent/cli/execute-command.ts';
import { EXIT } from '../../agent/cli/exit-codes.ts';
import {
  decodeOrderParameters,
  type OrderParameterName,
} from '../../core/order-codec.ts';
import { parseOutcomeReport } from '../../core/outcome-report.ts';
import {
  RecordingSignaller,
  StandInProc,
  StandInTools,
} from '../unit/executor-stand-ins.ts';
import { SafetyTally } from './support/tally.ts';

const tally = new SafetyTally(import.meta.url);

const NOW = Date.UTC(2026, 11, 1);
const INSTANCE = 'i-0123456789abcdef0';
const APP = '/data/shop/current (production)';

interface DocumentParameter {
  readonly allowedPattern?: string;
  readonly allowedValues?: readonly string[];
}
const DOCUMENT = JSON.parse(
  readFileSync(
    new URL('../../lambdas/ssm/order-document.json', import.meta.url),
    'utf8',
  ),
) as { parameters: Record<OrderParameterName, DocumentParameter> };

const VALID: Record<OrderParameterName, string> = {
  instanceId: INSTANCE,
  app: APP,
  measure: 'private',
  notAfter: String(NOW / 1000 + 300),
  orders: '4242:1234567:signal-TERM:30:262144:1001',
};

/** How the document's fence sees a value: JavaScript's reading. */
function documentAllows(name: OrderParameterName, value: string): boolean {
  const parameter = DOCUMENT.parameters[name];
  if (parameter.allowedValues !== undefined) {
    return parameter.allowedValues.includes(value);
  }
  return new RegExp(parameter.allowedPattern ?? '(?!)').test(value);
}

/**
 * SSM's engine (Java-like) lets `$` match before one final newline: the
 * pattern passes `value` when it passes `value` without that newline.
 */
function ssmAllows(name: OrderParameterName, value: string): boolean {
  const trimmed = value.endsWith('\n') ? value.slice(0, -1) : value;
  return documentAllows(name, value) || documentAllows(name, trimmed);
}

/** Invisible characters, look-alike digits, bytes no shell should see. */
const STRANGE = [
  '\0',
  '\u200b',
  '\u202e',
  '\ufeff',
  '\u00a0',
  '４',
  '٤',
  '²',
  '\r',
  '\t',
  '\u2028',
];

/** Shell syntax and sizes, as the unit tests use them, for the picks. */
const HOSTILE = [
  '1; rm -rf /',
  '$(id)',
  '`id`',
  '${IFS}',
  "'",
  '"',
  '|id',
  '&&id',
  '\nid',
  'x'.repeat(100_000),
  '',
  ' ',
  '-1',
  '-0',
  '0',
  '99999999999999999999',
  '1e3',
  '0x10',
  '1.5',
  'Infinity',
  'NaN',
  ...STRANGE,
];

const PICK = 'pick:3:detach:30:262144:-';
const PICK_ORPHANS = 'pick-orphans:2:orphan-term:60:-:-';

/** The decoder refuses, naming the field; returns the problems. */
function assertDecoderRefuses(
  name: OrderParameterName,
  value: string,
  field: RegExp,
): void {
  const decoded = decodeOrderParameters({ ...VALID, [name]: value }, NOW);
  const shown = JSON.stringify(value.slice(0, 60));
  assert.equal(decoded.ok, false, `${name}=${shown} was decoded`);
  const problems = decoded.ok ? [] : decoded.problems;
  assert.ok(
    problems.some((p) => field.test(p.field)),
    `${name}=${shown}: ${JSON.stringify(problems)}`,
  );
  for (const problem of problems) {
    assert.ok(problem.rule.startsWith('must'), problem.rule);
    assert.ok(!problem.value.includes('\n'), 'a problem spans one line');
    assert.ok(problem.value.length < 200, 'a problem quotes a short value');
  }
}

/** The whole command on one hostile value: nothing is read or signalled. */
async function assertCommandRefuses(
  name: OrderParameterName,
  value: string,
): Promise<void> {
  const proc = new StandInProc();
  proc.processes.set(4242, {
    startTime: 1_234_567,
    state: 'S',
    cmdline: `Passenger RubyApp: ${APP}\0`,
    cwd: '/data/shop/releases/1',
    uid: 1001,
    memory: { privateDirtyKb: 900_000, swapKb: 0, rssKb: 900_000 },
  });
  const tools = new StandInTools();
  const signaller = new RecordingSignaller();
  const lines: string[] = [];
  const env: Record<string, string> = { AWS_SSM_INSTANCE_ID: INSTANCE };
  for (const [key, given] of Object.entries({ ...VALID, [name]: value })) {
    env[`SSM_${key}`] = given;
  }

  const exitCode = await runExecute(
    {},
    {
      env,
      now: () => NOW,
      proc,
      tools,
      signaller,
      print: (line) => lines.push(line),
      warn: () => {},
    },
  );

  const what = `${name}=${JSON.stringify(value.slice(0, 60))}`;
  tally.expectNoWrongKill(
    signaller.sent.length === 0 && tools.calls.length === 0,
    `${what}: signals ${JSON.stringify(signaller.sent)}, tool calls ` +
      JSON.stringify(tools.calls),
  );
  assert.equal(exitCode, EXIT.usage, what);
  assert.equal(proc.statReads.size, 0, `${what}: /proc was read`);
  const report = parseOutcomeReport(lines.join('\n'));
  assert.equal(report.outcomes.length, 0, what);
  assert.ok(report.rejections.length > 0, what);
  assert.ok(
    lines.every((line) => line.length < 2_000),
    `${what}: long line`,
  );
}

describe('hostile order fields', () => {
  it('a valid command passes both fences, so the refusals below mean something', async () => {
    for (const name of Object.keys(VALID) as OrderParameterName[]) {
      assert.ok(documentAllows(name, VALID[name]), name);
    }
    const orders = `${VALID.orders},${PICK},${PICK_ORPHANS}`;
    assert.ok(documentAllows('orders', orders));
    const decoded = decodeOrderParameters({ ...VALID, orders }, NOW);
    assert.equal(decoded.ok, true, JSON.stringify(decoded));
  });

  it('refuses a hostile value in any field of a PICK item', () => {
    for (const item of [PICK, PICK_ORPHANS]) {
      const fields = item.split(':');
      for (let index = 1; index < fields.length; index++) {
        for (const bad of HOSTILE) {
          if (bad === fields[index]) continue;
          const parts = [...fields];
          parts[index] = bad;
          const orders = `${VALID.orders},${parts.join(':')}`;
          assert.equal(documentAllows('orders', orders), false, orders);
          assertDecoderRefuses('orders', orders, /^orders/);
          tally.tried();
        }
      }
    }
  });

  it('refuses numbers the patterns let through but the rules do not', () => {
    const cases: [string, RegExp][] = [
      ['pick:3:detach:901:262144:-', /^orders\[0\]\.graceSeconds$/],
      ['pick:3:detach:9999:262144:-', /^orders\[0\]\.graceSeconds$/],
      ['pick:3:detach:30:9999999999:-', /^orders\[0\]\.limitKb$/],
      ['pick:3:detach:30:4294967297:-', /^orders\[0\]\.limitKb$/],
      ['pick:26:detach:30:262144:-', /^orders/],
      ['pick:99:signal-TERM:30:1:-', /^orders/],
      ['pick-orphans:99:orphan-term:60:-:-', /^orders/],
      ['pick-orphans:2:orphan-term:9999:-:-', /^orders\[0\]\.graceSeconds$/],
      [`${PICK},${PICK}`, /^orders\[1\]\.action$/],
      [`${PICK_ORPHANS},${PICK_ORPHANS}`, /^orders\[1\]\.action$/],
      ['4194305:1:force-kill:-:-:-', /^orders\[0\]\.pid$/],
      ['9999999:1:force-kill:-:-:-', /^orders\[0\]\.pid$/],
      ['7:999999999999999:signal-TERM:9999:1:-', /^orders\[0\]\.graceSeconds$/],
      ['7:1:signal-TERM:30:1:9999999999', /^orders\[0\]\.uid$/],
    ];
    for (const [orders, field] of cases) {
      assert.ok(documentAllows('orders', orders), orders);
      assertDecoderRefuses('orders', orders, field);
      tally.tried();
    }
    for (const notAfter of ['9999999999', String(NOW / 1000 + 3601)]) {
      assert.ok(documentAllows('notAfter', notAfter), notAfter);
      assertDecoderRefuses('notAfter', notAfter, /^notAfter$/);
      tally.tried();
    }
  });

  it("refuses on the host what SSM's engine lets through with a final newline", () => {
    for (const name of Object.keys(VALID) as OrderParameterName[]) {
      if (name === 'measure') continue; // allowedValues: compared whole
      const value = `${VALID[name]}\n`;
      assert.ok(ssmAllows(name, value), `${name}: SSM would pass it`);
      assert.equal(documentAllows(name, value), false, name);
      assertDecoderRefuses(name, value, new RegExp(`^${name}$`));
      tally.tried();
    }
  });

  it('refuses invisible characters and look-alike digits anywhere', () => {
    for (const name of Object.keys(VALID) as OrderParameterName[]) {
      const valid = VALID[name];
      for (const strange of STRANGE) {
        for (const at of [0, Math.floor(valid.length / 2), valid.length]) {
          const value = valid.slice(0, at) + strange + valid.slice(at);
          assert.equal(ssmAllows(name, value), false, JSON.stringify(value));
          assertDecoderRefuses(name, value, new RegExp(`^${name}`));
          tally.tried();
        }
      }
    }
  });

  it('passenger-fleet execute refuses each hostile value whole', async () => {
    const values = [
      ...HOSTILE,
      `${VALID.orders};id`,
      `${VALID.orders}\n`,
      `${VALID.orders},${PICK.replace('detach', 'detach$(id)')}`,
    ];
    for (const name of Object.keys(VALID) as OrderParameterName[]) {
      for (const value of values) {
        if (name === 'app' && /^[\w.-]+$/.test(value)) continue; // a fine name
        await assertCommandRefuses(name, value);
        tally.tried();
      }
    }
  });
});
