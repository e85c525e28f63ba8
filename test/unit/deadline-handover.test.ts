/**
 * The deadline spool and the agent's handover: promises whose `execute`
 * died are found, kept once, carried out through the real Executor (so
 * the forced kill re-checks the process), and removed once settled;
 * promises a live `execute` keeps, and files that are not promises, are
 * never acted on.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Order } from '../../core/order.ts';
import { DeadlineHandover } from '../../agent/deadline-handover.ts';
import { DeadlineSpool } from '../../agent/deadline-spool.ts';
import { DeadlineWatcher } from '../../agent/deadlines.ts';
import { Executor } from '../../agent/executor.ts';
import {
  RecordingSignaller,
  rubyWorker,
  StandInProc,
  StandInTools,
  type StandInProcess,
} from './executor-stand-ins.ts';

const HOST = 'i-0123456789abcdef0';
const APP = '/data/shop/current (production)';
const WORKER = 5001;
const WRITER = { pid: 7001, startTime: 7000 };

function process(overrides: Partial<StandInProcess> = {}): StandInProcess {
  return rubyWorker(APP, overrides);
}

function forceKill(pid = WORKER, startTime = 5000): Order {
  return {
    identity: { host: HOST, pid, startTime },
    app: APP,
    action: 'force-kill',
    measure: 'private',
    uid: 1001,
  };
}

interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

function scene() {
  const dir = mkdtempSync(join(tmpdir(), 'pf-spool-'));
  const proc = new StandInProc();
  proc.processes.set(WORKER, process());
  const spool = new DeadlineSpool({ dir, proc });
  const signals = new RecordingSignaller();
  signals.deliver = (pid, signal) => {
    if (signal === 'SIGKILL') proc.processes.delete(pid);
  };
  const executor = new Executor({
    host: HOST,
    proc,
    tools: new StandInTools(),
    now: Date.now,
    signaller: signals,
  });
  const lines: LogLine[] = [];
  const record =
    (level: string) =>
    (message: string, fields = {}) =>
      lines.push({ level, message, fields });
  const log = {
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  };
  const watcher = new DeadlineWatcher({
    executor,
    proc,
    now: Date.now,
    onSettled: (order, outcome) => handover.settled(order, outcome),
    pollMs: 20,
  });
  const handover = new DeadlineHandover({ spool, watcher, log });
  return { dir, proc, spool, signals, watcher, handover, lines };
}

describe('DeadlineSpool', () => {
  it('keeps a promise apart while its writer lives, and hands it over once it is gone', () => {
    const { proc, spool } = scene();
    proc.processes.set(WRITER.pid, process({ startTime: WRITER.startTime }));
    spool.write(forceKill(), Date.now() + 60_000, WRITER);

    const whileAlive = spool.scan();
    proc.processes.delete(WRITER.pid);
    const afterDeath = spool.scan();

    assert.deepEqual([whileAlive.kept, whileAlive.orphaned.length], [1, 0]);
    assert.deepEqual([afterDeath.kept, afterDeath.orphaned.length], [0, 1]);
    assert.deepEqual(afterDeath.orphaned[0]?.order, forceKill());
  });

  for (const [what, writer] of [
    ['its pid reused by another process', { startTime: 9999 }],
    ['a zombie', { startTime: WRITER.startTime, state: 'Z' }],
  ] as const) {
    it(`calls a writer that is ${what} gone`, () => {
      const { proc, spool } = scene();
      proc.processes.set(WRITER.pid, process(writer));
      spool.write(forceKill(), Date.now(), WRITER);

      assert.equal(spool.scan().orphaned.length, 1);
    });
  }

  it('moves a file that is not a promise aside, and names it', () => {
    const { dir, spool } = scene();
    writeFileSync(join(dir, '5001-5000.json'), '{"order": "rm -rf /"}');

    const scan = spool.scan();

    assert.deepEqual(scan.unreadable, ['5001-5000.json']);
    assert.deepEqual(scan.orphaned, []);
    assert.deepEqual(readdirSync(dir), ['5001-5000.json.unreadable']);
    assert.deepEqual(spool.scan().unreadable, []);
  });

  it('drops a temporary file whose writer died before the rename', () => {
    const { dir, proc, spool } = scene();
    proc.processes.set(WRITER.pid, process({ startTime: WRITER.startTime }));
    writeFileSync(join(dir, `5001-5000.json.${WRITER.pid}.tmp`), '{');
    writeFileSync(join(dir, '5002-5000.json.7999.tmp'), '{');

    const scan = spool.scan();

    assert.deepEqual(scan, { orphaned: [], kept: 0, unreadable: [] });
    assert.deepEqual(readdirSync(dir), [`5001-5000.json.${WRITER.pid}.tmp`]);
  });

  it('finds nothing in a spool never made', () => {
    const proc = new StandInProc();
    const spool = new DeadlineSpool({ dir: '/nonexistent/pf-spool', proc });

    assert.deepEqual(spool.scan(), { orphaned: [], kept: 0, unreadable: [] });
  });

  it('spools only forced kills', () => {
    const { spool } = scene();

    assert.throws(
      () => spool.write({ ...forceKill(), action: 'graceful' }, 0, WRITER),
      /only a forced kill is spooled; got action 'graceful' for pid 5001/,
    );
  });
});

describe('DeadlineHandover', () => {
  it('adopts an orphaned promise once and kills at its deadline', async () => {
    const { dir, spool, signals, watcher, handover, lines } = scene();
    const deadline = Date.now() + 150;
    spool.write(forceKill(), deadline, WRITER);

    assert.equal(handover.adopt(), 1);
    assert.equal(handover.adopt(), 0, 'adopted once');
    await watcher.settled();

    assert.deepEqual(
      signals.sent.map((s) => [s.pid, s.signal]),
      [[WORKER, 'SIGKILL']],
    );
    assert.ok(signals.sent[0]!.atMs >= deadline);
    assert.deepEqual(readdirSync(dir), []);
    assert.deepEqual(
      lines.map((l) => [l.level, l.fields.event, l.fields.outcome]),
      [
        ['warn', 'deadline-adopted', undefined],
        ['info', 'deadline-settled', 'killed'],
      ],
    );
    assert.equal(handover.adopted, 0);
  });

  it('calls a worker whose pid was reused gone, sending nothing', async () => {
    const { dir, proc, spool, signals, watcher, handover, lines } = scene();
    spool.write(forceKill(), Date.now() - 60_000, WRITER);
    // The worker left and its pid went to a new process.
    proc.processes.set(WORKER, process({ startTime: 6000 }));

    handover.adopt();
    await watcher.settled();

    assert.deepEqual(signals.sent, []);
    assert.equal(lines.at(-1)?.fields.outcome, 'gone');
    assert.deepEqual(readdirSync(dir), []);
  });

  it('leaves the promises of a live execute alone', () => {
    const { proc, spool, handover } = scene();
    proc.processes.set(WRITER.pid, process({ startTime: WRITER.startTime }));
    spool.write(forceKill(), Date.now(), WRITER);

    assert.equal(handover.adopt(), 0);
  });

  it('leaves a promise not yet due in the spool when it stops', () => {
    const { dir, spool, signals, handover } = scene();
    spool.write(forceKill(), Date.now() + 60_000, WRITER);

    handover.adopt();
    handover.close();

    assert.deepEqual(signals.sent, []);
    assert.deepEqual(readdirSync(dir), ['5001-5000.json']);
  });
});
