/**
 * `passenger-fleet execute` in-process, on a stand-in /proc and stand-in
 * Passenger tools: what it prints and which signals it sends for the
 * orders an SSM command hands over in SSM_* variables.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  runExecute,
  type ExecuteFlags,
} from '../../agent/cli/execute-command.ts';
import { CliError, EXIT } from '../../agent/cli/exit-codes.ts';
import { DeadlineSpool } from '../../agent/deadline-spool.ts';
import {
  parseOutcomeReport,
  type ParsedReport,
} from '../../core/outcome-report.ts';
import {
  RecordingSignaller,
  rubyWorker,
  StandInProc,
  StandInTools,
  toolResult,
} from './executor-stand-ins.ts';

const INSTANCE = 'i-0123456789abcdef0';
const APP = '/data/shop/current (production)';
const PID = 5001;

interface Run {
  readonly exitCode: number;
  readonly report: ParsedReport;
  readonly lines: readonly string[];
  readonly warnings: readonly string[];
  readonly signals: RecordingSignaller;
  readonly tools: StandInTools;
  readonly elapsedMs: number;
}

interface Setup {
  readonly orders: string;
  readonly notAfter?: number;
  readonly instanceId?: string;
  readonly flags?: ExecuteFlags;
  readonly tools?: StandInTools;
  readonly env?: Record<string, string>;
  /** Where deadlines are spooled; a fresh directory by default. */
  readonly spoolDir?: string;
  /** Called with each signal, before the stand-in delivers it. */
  readonly onSignal?: (pid: number, signal: NodeJS.Signals) => void;
}

/** The spool names this test process as the writer of its promises. */
const WRITER = { pid: process.pid, startTime: 1 };

async function execute(proc: StandInProc, setup: Setup): Promise<Run> {
  const signals = new RecordingSignaller();
  // A SIGKILL always works on the stand-in; other signals do nothing.
  signals.deliver = (pid, signal) => {
    setup.onSignal?.(pid, signal);
    if (signal === 'SIGKILL') proc.processes.delete(pid);
  };
  const spoolDir =
    setup.spoolDir ?? mkdtempSync(join(tmpdir(), 'pf-execute-spool-'));
  const tools = setup.tools ?? new StandInTools();
  const lines: string[] = [];
  const warnings: string[] = [];
  const startedAt = Date.now();
  const exitCode = await runExecute(setup.flags ?? {}, {
    env: {
      AWS_SSM_INSTANCE_ID: INSTANCE,
      SSM_instanceId: setup.instanceId ?? INSTANCE,
      SSM_app: APP,
      SSM_measure: 'private',
      SSM_notAfter: String(
        setup.notAfter ?? Math.floor(Date.now() / 1000) + 60,
      ),
      SSM_orders: setup.orders,
      ...setup.env,
    },
    proc,
    tools,
    signaller: signals,
    print: (line) => lines.push(line),
    warn: (line) => warnings.push(line),
    pollMs: 20,
    spool: new DeadlineSpool({ dir: spoolDir, proc }),
    writer: WRITER,
  });
  return {
    exitCode,
    report: parseOutcomeReport(lines.join('\n')),
    lines,
    warnings,
    signals,
    tools,
    elapsedMs: Date.now() - startedAt,
  };
}

function hostWith(pid = PID): StandInProc {
  const proc = new StandInProc();
  proc.processes.set(pid, rubyWorker(APP));
  return proc;
}

describe('runExecute', () => {
  it('signals a bloated worker, then SIGKILLs it at its deadline', async () => {
    const proc = hostWith();

    const run = await execute(proc, {
      orders: `${PID}:5000:signal-TERM:1:1024:1001`,
    });

    assert.equal(run.exitCode, EXIT.ok);
    assert.equal(run.report.complete, true, run.lines.join('\n'));
    const [step, end] = run.report.outcomes;
    assert.equal(step?.status, 'signalled');
    assert.equal(step?.hostWaits, true);
    assert.equal(step?.deadline, step!.at + 1000);
    assert.equal(end?.step, 'deadline');
    assert.equal(end?.status, 'killed');
    assert.deepEqual(
      run.signals.sent.map((s) => s.signal),
      ['SIGTERM', 'SIGKILL'],
    );
    assert.ok(run.signals.sent[1]!.atMs >= step!.deadline!);
  });

  it('spools the deadline while it waits, and removes it once settled', async () => {
    const proc = hostWith();
    const spoolDir = mkdtempSync(join(tmpdir(), 'pf-execute-spool-'));
    let spooledAtKill: string[] = [];

    const run = await execute(proc, {
      orders: `${PID}:5000:signal-TERM:1:1024:1001`,
      spoolDir,
      onSignal: (_pid, signal) => {
        if (signal === 'SIGKILL') spooledAtKill = readdirSync(spoolDir);
      },
    });

    assert.equal(run.exitCode, EXIT.ok);
    assert.deepEqual(spooledAtKill, [`${PID}-5000.json`]);
    assert.deepEqual(readdirSync(spoolDir), []);
    assert.deepEqual(run.warnings, []);
  });

  it('still waits for the deadline itself when the spool refuses it', async () => {
    const proc = hostWith();

    const run = await execute(proc, {
      orders: `${PID}:5000:signal-TERM:1:1024:1001`,
      // A file where the spool's directory should be.
      spoolDir: join(import.meta.dirname, 'execute-command.test.ts'),
    });

    assert.equal(run.exitCode, EXIT.ok);
    assert.deepEqual(
      run.signals.sent.map((s) => s.signal),
      ['SIGTERM', 'SIGKILL'],
    );
    assert.match(
      run.warnings[0] ?? '',
      /^deadline of pid 5001 not spooled in .*execute-command\.test\.ts: .*; only this process keeps it$/,
    );
  });

  it('with --no-wait reports the step and leaves the deadline', async () => {
    const proc = hostWith();

    const run = await execute(proc, {
      orders: `${PID}:5000:signal-TERM:900:1024:1001`,
      flags: { wait: false },
    });

    assert.equal(run.exitCode, EXIT.ok);
    assert.equal(run.report.complete, true);
    assert.equal(run.report.outcomes.length, 1);
    assert.equal(run.report.outcomes[0]?.hostWaits, false);
    assert.deepEqual(
      run.signals.sent.map((s) => s.signal),
      ['SIGTERM'],
    );
    assert.ok(run.elapsedMs < 5000, `${run.elapsedMs} ms`);
  });

  it('reports a detached worker that leaves as gone, with no SIGKILL', async () => {
    const proc = hostWith();
    const tools = new StandInTools().listing([
      { name: APP, appRoot: '/data/shop/current', pids: [PID] },
    ]);
    tools.detachResult = (pid) => {
      proc.processes.delete(pid);
      return Promise.resolve(toolResult());
    };

    const run = await execute(proc, {
      orders: `${PID}:5000:detach:5:1024:1001`,
      tools,
    });

    assert.deepEqual(
      run.report.outcomes.map((o) => `${o.step} ${o.status}`),
      ['graceful detached', 'deadline gone'],
    );
    assert.deepEqual(run.signals.sent, []);
    assert.ok(run.elapsedMs < 4000, `${run.elapsedMs} ms`);
  });

  it('refuses every order of a command for another instance', async () => {
    const proc = hostWith();

    const run = await execute(proc, {
      orders: `${PID}:5000:force-kill:-:-:1001`,
      instanceId: 'i-0fedcba9876543210',
    });

    assert.equal(run.exitCode, EXIT.ok);
    assert.equal(run.report.outcomes[0]?.status, 'refused');
    assert.match(
      run.report.outcomes[0]!.reason,
      /instanceId must be this instance 'i-0123456789abcdef0', got 'i-0fedcba9876543210'/,
    );
    assert.deepEqual(run.signals.sent, []);
  });

  it('refuses every order once notAfter has passed', async () => {
    const proc = hostWith();
    proc.processes.set(PID + 1, rubyWorker(APP));

    const run = await execute(proc, {
      orders: `${PID}:5000:force-kill:-:-:1001,${PID + 1}:5000:detach:5:1:1001`,
      notAfter: Math.floor(Date.now() / 1000) - 1,
    });

    assert.equal(run.exitCode, EXIT.ok);
    assert.equal(run.report.complete, true);
    assert.deepEqual(
      run.report.outcomes.map((o) => o.status),
      ['refused', 'refused'],
    );
    assert.match(run.report.outcomes[0]!.reason, /notAfter .* has passed/);
    assert.deepEqual(run.signals.sent, []);
    assert.deepEqual(run.tools.calls, []);
  });

  it('runs no order at all when one value is hostile', async () => {
    const proc = hostWith();

    const run = await execute(proc, {
      orders: `${PID}:5000:force-kill:-:-:1001,1; kill -9 ${PID}`,
    });

    assert.equal(run.exitCode, EXIT.usage);
    assert.equal(run.report.outcomes.length, 0);
    assert.equal(run.report.rejections[0]?.field, 'orders');
    assert.equal(run.report.complete, true);
    assert.match(run.warnings[0] ?? '', /no order was carried out/);
    assert.deepEqual(run.signals.sent, []);
    assert.ok(proc.processes.has(PID));
  });

  it('prints at most 10 rejected values', async () => {
    const items = Array.from(
      { length: 25 },
      (_, i) => `1:${i}:force-kill:-:-:-`,
    );

    const run = await execute(hostWith(), { orders: items.join(',') });

    assert.equal(run.exitCode, EXIT.usage);
    assert.equal(run.report.rejections.length, 10);
    assert.equal(run.report.done?.rejections, 10);
  });

  it("needs this instance's id", async () => {
    await assert.rejects(
      execute(hostWith(), {
        orders: `${PID}:5000:force-kill:-:-:1001`,
        env: { AWS_SSM_INSTANCE_ID: '' },
      }),
      (error: unknown) =>
        error instanceof CliError &&
        error.exitCode === EXIT.usage &&
        /AWS_SSM_INSTANCE_ID is not set/.test(error.message),
    );
  });
});
