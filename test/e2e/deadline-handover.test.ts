/**
 * The deadline handover on real processes: when `passenger-fleet execute`
 * dies while it waits for a victim's deadline, the agent daemon keeps the
 * promise execute left in the deadline spool, through the same re-checks
 * and at the same deadline; the promise of a live execute is never taken
 * from it.
 *
 * As in order-pick.test.ts: the Command document's script lines run by
 * bash with the environment SSM would give, the agent from its sources,
 * real titled processes as workers, a stand-in `passenger-status` first
 * in the PATH (no Passenger runs here). The handover runs in this
 * process, built as the daemon builds it (agent/cli/agent-command.ts).
 *
 * The script cannot pass --spool-dir, so execute spools under the default
 * directory. This file removes only the files named for its own workers,
 * and refuses to run a handover while that directory holds anyone else's
 * promise, which the handover would otherwise act on.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
} from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  hostDeadlineHandover,
  type DeadlineHandover,
} from '../../agent/deadline-handover.ts';
import { DEFAULT_SPOOL_DIR } from '../../agent/deadline-spool.ts';
import {
  startTitledProcess,
  type SignalManner,
  type TitledProcess,
} from '../../agent/demo/titled-process.ts';
import { LinuxProc } from '../../agent/proc.ts';
import { PassengerCommandTools } from '../../agent/tools.ts';
import {
  parseOutcomeReport,
  type OutcomeReport,
} from '../../core/outcome-report.ts';
import { isRunning, readStat, readTitle } from './support/procfs.ts';
import { waitFor } from './support/wait.ts';
import {
  scriptEnvironment,
  TEST_INSTANCE,
  writeOrderScript,
} from './support/order-script.ts';

const INSTANCE = TEST_INSTANCE;
const ROOT = '/data/handover/current';
const APP = `${ROOT} (production)`;
const WORKER_TITLE = `Passenger RubyApp: ${APP}`;
const OTHER_APP_TITLE = 'Passenger RubyApp: /data/blog/current (production)';
const NON_PASSENGER_TITLE = 'ruby /opt/reports/nightly.rb';
const UID = process.getuid?.() ?? 0;
/** Every titled worker dirties more than this, so every one is over it. */
const LIMIT_KB = 1024;
/** Long enough to kill execute and adopt before the deadline. */
const SHORT_GRACE_SECONDS = 5;
/** Long enough that the worker leaves well before its deadline. */
const LONG_GRACE_SECONDS = 30;
/** How late after its deadline a forced kill may still count as on time. */
const KILL_LATENESS_BOUND_MS = 5_000;
/** A backstop: no script run outlives this, whatever the test does. */
const SCRIPT_TIMEOUT_MS = 60_000;
const WAIT = { timeoutMs: 20_000, intervalMs: 50 };
const LONG_WAIT = {
  timeoutMs: SHORT_GRACE_SECONDS * 1000 + 20_000,
  intervalMs: 50,
};

interface Ending {
  readonly at: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

interface Worker extends TitledProcess {
  readonly startTime: number;
  /** Set by the child's exit event, with the time it was seen. */
  ending?: Ending;
}

interface ExecuteRun {
  /** The shell's pid, which leads the run's own process group. */
  readonly pid: number;
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  ending?: Ending;
}

/** The file execute spools, as this test reads it without agent code. */
interface SpoolFile {
  readonly order: {
    readonly identity: {
      readonly host: string;
      readonly pid: number;
      readonly startTime: number;
    };
    readonly app: string;
    readonly action: string;
  };
  readonly deadlineMs: number;
  readonly writer: { readonly pid: number; readonly startTime: number };
}

interface LoggedLine {
  readonly level: string;
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

let workDir: string;
let binDir: string;
let scriptPath: string;
const workers: Worker[] = [];
const runs: ExecuteRun[] = [];
const handovers: DeadlineHandover[] = [];
/** Spool file names of this file's workers: the only ones it touches. */
const ownSpoolNames = new Set<string>();
const proc = new LinuxProc();

/** Why this file cannot run here, or false when it can. */
function spoolUnusable(): string | false {
  try {
    mkdirSync(DEFAULT_SPOOL_DIR, { recursive: true, mode: 0o700 });
    accessSync(DEFAULT_SPOOL_DIR, constants.W_OK);
    return false;
  } catch (error) {
    return (
      `the deadline spool ${DEFAULT_SPOOL_DIR} is not writable here ` +
      `(${(error as Error).message}); run as root`
    );
  }
}

async function worker(
  title: string,
  onSignal: SignalManner = 'exit',
): Promise<Worker> {
  const child = await startTitledProcess({ title, onSignal });
  const stat = readStat(child.pid);
  assert.ok(stat !== undefined, `stat of pid ${child.pid}`);
  const started: Worker = Object.assign(child, { startTime: stat.startTime });
  child.child.once('exit', (code, signal) => {
    started.ending = { at: Date.now(), code, signal };
  });
  workers.push(started);
  return started;
}

/** The stand-in passenger-status: a pool that lists the given workers. */
async function providePool(listed: readonly Worker[]): Promise<void> {
  const name = APP.replace('(', '&#40;').replace(')', '&#41;');
  const processes = listed
    .map(
      ({ pid }) =>
        `<process><pid>${pid}</pid><sessions>0</sessions>` +
        '<life_status>ALIVE</life_status><enabled>ENABLED</enabled></process>',
    )
    .join('');
  const xml =
    '<?xml version="1.0" encoding="iso-8859-1" ?>\n' +
    '<info version="3"><passenger_version>6.0.17</passenger_version>' +
    `<supergroups><supergroup><name>${name}</name><group><name>${name}` +
    `</name><app_root>${ROOT}</app_root><processes>${processes}` +
    '</processes></group></supergroup></supergroups></info>\n';
  await writeFile(join(binDir, 'pool.xml'), xml);
  await writeFile(
    join(binDir, 'passenger-status'),
    `#!/bin/sh\ncat '${join(binDir, 'pool.xml')}'\n`,
    { mode: 0o755 },
  );
}

function searchPath(): string {
  return `${binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`;
}

/** One graceful TERM for this worker, as the controller would order it. */
function gracefulOrder(target: Worker, graceSeconds: number): string {
  ownSpoolNames.add(spoolName(target));
  return (
    `${target.pid}:${target.startTime}:signal-TERM:${graceSeconds}:` +
    `${LIMIT_KB}:${UID}`
  );
}

/**
 * Starts the document's script as the SSM Agent would, in a process group
 * of its own so that all of it can be killed at once.
 */
function startExecute(orders: string): ExecuteRun {
  const env: NodeJS.ProcessEnv = {
    ...scriptEnvironment(searchPath()),
    SSM_instanceId: INSTANCE,
    SSM_app: APP,
    SSM_measure: 'private',
    SSM_notAfter: String(Math.floor(Date.now() / 1000) + 60),
    SSM_orders: orders,
  };
  const child = spawn('bash', [scriptPath], {
    cwd: workDir,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  assert.ok(pid !== undefined, 'the script started');
  const run: ExecuteRun = { pid, child, stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (text) => (run.stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text) => (run.stderr += text));
  const backstop = setTimeout(() => killGroup(run), SCRIPT_TIMEOUT_MS);
  child.once('exit', (code, signal) => {
    clearTimeout(backstop);
    run.ending = { at: Date.now(), code, signal };
  });
  runs.push(run);
  return run;
}

function killGroup(run: ExecuteRun): void {
  try {
    process.kill(-run.pid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function describeRun(run: ExecuteRun): string {
  const ending = run.ending
    ? `ended ${run.ending.code ?? run.ending.signal}`
    : 'running';
  return `${ending}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
}

/** Waits for the graceful step's PF-OUTCOME line about this worker. */
async function gracefulStep(
  run: ExecuteRun,
  target: Worker,
): Promise<OutcomeReport> {
  const line = await waitFor(
    `the graceful PF-OUTCOME line of pid ${target.pid}`,
    () =>
      parseOutcomeReport(run.stdout).outcomes.find(
        (outcome) => outcome.pid === target.pid && outcome.step === 'graceful',
      ),
    WAIT,
    () => describeRun(run),
  );
  assert.equal(line.status, 'signalled', describeRun(run));
  assert.equal(line.hostWaits, true, describeRun(run));
  assert.ok(line.deadline !== undefined, describeRun(run));
  return line;
}

function spoolName(target: Worker): string {
  return `${target.pid}-${target.startTime}.json`;
}

function spoolPath(target: Worker): string {
  return join(DEFAULT_SPOOL_DIR, spoolName(target));
}

/** Waits for execute's spool file about this worker, and reads it. */
async function spooledFor(target: Worker, run: ExecuteRun): Promise<SpoolFile> {
  const path = spoolPath(target);
  const entry = await waitFor(
    `the spool file ${path}`,
    () =>
      existsSync(path)
        ? (JSON.parse(readFileSync(path, 'utf8')) as SpoolFile)
        : undefined,
    WAIT,
    () => describeRun(run),
  );
  assert.deepEqual(entry.order.identity, {
    host: INSTANCE,
    pid: target.pid,
    startTime: target.startTime,
  });
  assert.equal(entry.order.action, 'force-kill');
  assert.equal(entry.order.app, APP);
  return entry;
}

/**
 * The writer the file names is the `execute` of this run, running now:
 * same pid and start time, in the run's process group, with `execute` in
 * its command line.
 */
function assertWrittenByLiveExecute(entry: SpoolFile, run: ExecuteRun): void {
  const { pid, startTime } = entry.writer;
  const stat = proc.stat(pid);
  assert.ok(stat.ok, `the writer pid ${pid} runs`);
  assert.equal(stat.value.startTime, startTime, 'the writer start time');
  assert.equal(stat.value.pgrp, run.pid, 'the writer is in the run group');
  assert.match(readTitle(pid), /\bmain\.ts execute$/, 'the writer title');
}

/** SIGKILLs the whole run and waits until the writer is gone. */
async function killExecute(run: ExecuteRun, entry: SpoolFile): Promise<void> {
  killGroup(run);
  const ending = await waitFor('the script to end', () => run.ending, WAIT);
  assert.equal(ending.signal, 'SIGKILL', describeRun(run));
  await waitFor(
    `the execute pid ${entry.writer.pid} to be gone`,
    () => (isRunning(entry.writer.pid) ? undefined : true),
    WAIT,
  );
}

/** The handover as the daemon builds it, with a log that keeps lines. */
function startHandover() {
  const lines: LoggedLine[] = [];
  const record =
    (level: string) =>
    (message: string, fields: Record<string, unknown> = {}) =>
      lines.push({ level, message, fields });
  const tools = new PassengerCommandTools({
    timeoutMs: 5_000,
    baseEnv: { ...process.env, PATH: searchPath() },
  });
  const handover = hostDeadlineHandover({
    host: INSTANCE,
    proc: new LinuxProc(),
    tools,
    log: { info: record('info'), warn: record('warn'), error: record('error') },
  });
  handovers.push(handover);
  return { handover, lines, tools };
}

/**
 * The handover acts on every orphaned promise in the directory: refuse
 * to run it while the directory holds a promise this file did not make.
 */
function assertSpoolHoldsOnlyOurs(): void {
  const foreign = readdirSync(DEFAULT_SPOOL_DIR).filter(
    (name) => ![...ownSpoolNames].some((own) => name.startsWith(own)),
  );
  assert.deepEqual(
    foreign,
    [],
    `${DEFAULT_SPOOL_DIR} holds promises this test did not make; a ` +
      'handover here would act on them, so it is not run',
  );
}

function eventFor(
  lines: readonly LoggedLine[],
  event: string,
  target: Worker,
): LoggedLine | undefined {
  return lines.find(
    (line) => line.fields.event === event && line.fields.pid === target.pid,
  );
}

async function settledEvent(
  lines: readonly LoggedLine[],
  target: Worker,
  wait = WAIT,
): Promise<LoggedLine> {
  return waitFor(
    `the handover to settle pid ${target.pid}`,
    () => eventFor(lines, 'deadline-settled', target),
    wait,
    () => JSON.stringify(lines),
  );
}

async function endingOf(target: Worker): Promise<Ending> {
  return waitFor(`pid ${target.pid} to exit`, () => target.ending, WAIT);
}

describe(
  'the deadline handover of a dead execute',
  { timeout: 180_000, skip: spoolUnusable() },
  () => {
    before(async () => {
      workDir = await mkdtemp(join(tmpdir(), 'pfleet-handover-'));
      binDir = join(workDir, 'bin');
      mkdirSync(binDir);
      scriptPath = join(workDir, '_script.sh');
      await writeOrderScript(scriptPath);
    });

    afterEach(async () => {
      for (const handover of handovers.splice(0)) handover.close();
      for (const run of runs.splice(0)) {
        if (run.ending === undefined) killGroup(run);
      }
      await Promise.all(workers.splice(0).map((child) => child.stop()));
    });

    after(async () => {
      for (const name of ownSpoolNames) {
        await rm(join(DEFAULT_SPOOL_DIR, name), { force: true });
      }
      if (workDir) await rm(workDir, { recursive: true, force: true });
    });

    it('SIGKILLs the frozen worker at its deadline, and nothing else', async (t) => {
      const frozen = await worker(WORKER_TITLE, 'ignore');
      const sibling = await worker(WORKER_TITLE);
      const otherApp = await worker(OTHER_APP_TITLE);
      const stranger = await worker(NON_PASSENGER_TITLE);
      await providePool([frozen, sibling]);
      const run = startExecute(gracefulOrder(frozen, SHORT_GRACE_SECONDS));
      const step = await gracefulStep(run, frozen);
      const entry = await spooledFor(frozen, run);
      assertWrittenByLiveExecute(entry, run);
      assert.equal(entry.deadlineMs, step.deadline);

      await killExecute(run, entry);

      assert.ok(
        isRunning(frozen.pid, frozen.startTime),
        'the frozen worker outlived execute',
      );
      assert.ok(
        !parseOutcomeReport(run.stdout).outcomes.some(
          (outcome) => outcome.step === 'deadline',
        ),
        `execute died before the deadline: ${describeRun(run)}`,
      );
      const { handover, lines, tools } = startHandover();
      const pool = await tools.poolXml();
      assert.equal(pool.exitCode, 0, 'the handover reaches the stand-in');
      assert.match(pool.stdout, new RegExp(`<pid>${frozen.pid}</pid>`));
      assertSpoolHoldsOnlyOurs();

      assert.equal(handover.adopt(), 1, JSON.stringify(lines));
      // Adopted early, the kill below shows the handover waits for it.
      assert.ok(Date.now() < step.deadline!, 'adopted before the deadline');
      assert.equal(handover.adopt(), 0, 'a promise is adopted once');
      const settled = await settledEvent(lines, frozen, LONG_WAIT);
      const ending = await endingOf(frozen);

      assert.equal(settled.fields.outcome, 'killed', JSON.stringify(lines));
      assert.equal(ending.signal, 'SIGKILL');
      const lateness = ending.at - step.deadline!;
      assert.ok(lateness >= 0, `killed ${-lateness} ms before its deadline`);
      assert.ok(
        lateness <= KILL_LATENESS_BOUND_MS,
        `killed ${lateness} ms after its deadline`,
      );
      t.diagnostic(`SIGKILLed ${lateness} ms after its deadline`);
      assert.equal(
        eventFor(lines, 'deadline-adopted', frozen)?.fields.writerPid,
        entry.writer.pid,
      );
      assert.equal(existsSync(spoolPath(frozen)), false, 'the file is gone');
      assert.equal(handover.adopted, 0);
      for (const bystander of [sibling, otherApp, stranger]) {
        assert.ok(
          isRunning(bystander.pid, bystander.startTime),
          `pid ${bystander.pid} ('${bystander.title}') untouched`,
        );
      }
    });

    it('settles a worker that left after execute died as gone, no signal', async () => {
      const leaver = await worker(WORKER_TITLE, 'ignore');
      await providePool([leaver]);
      const run = startExecute(gracefulOrder(leaver, LONG_GRACE_SECONDS));
      const step = await gracefulStep(run, leaver);
      const entry = await spooledFor(leaver, run);
      assertWrittenByLiveExecute(entry, run);
      await killExecute(run, entry);
      const { handover, lines } = startHandover();
      assertSpoolHoldsOnlyOurs();
      assert.equal(handover.adopt(), 1, JSON.stringify(lines));

      leaver.send('exit');
      const ending = await endingOf(leaver);
      const settled = await settledEvent(lines, leaver);

      // It ignores TERM: only its own exit ends it with code 0 and no signal.
      assert.deepEqual([ending.code, ending.signal], [0, null]);
      assert.ok(ending.at < step.deadline!, 'it left before its deadline');
      assert.equal(settled.fields.outcome, 'gone', JSON.stringify(lines));
      assert.equal(existsSync(spoolPath(leaver)), false, 'the file is gone');
      assert.equal(handover.adopted, 0);
      assert.equal(handover.adopt(), 0, 'nothing is left to adopt');
    });

    it('leaves a live execute its promise; it removes the file itself', async () => {
      const waiting = await worker(WORKER_TITLE, 'ignore');
      await providePool([waiting]);
      const run = startExecute(gracefulOrder(waiting, LONG_GRACE_SECONDS));
      await gracefulStep(run, waiting);
      const entry = await spooledFor(waiting, run);
      assertWrittenByLiveExecute(entry, run);
      const { handover, lines } = startHandover();
      assertSpoolHoldsOnlyOurs();

      assert.equal(handover.adopt(), 0, JSON.stringify(lines));
      assert.equal(handover.adopted, 0);
      assert.ok(existsSync(spoolPath(waiting)), 'the file stays with execute');
      assert.ok(isRunning(waiting.pid, waiting.startTime), 'worker untouched');

      waiting.send('exit');
      const ending = await waitFor(
        'execute to finish',
        () => run.ending,
        WAIT,
        () => describeRun(run),
      );

      assert.equal(ending.code, 0, describeRun(run));
      const report = parseOutcomeReport(run.stdout);
      assert.equal(report.complete, true, describeRun(run));
      const deadlineLine = report.outcomes.find(
        (outcome) => outcome.pid === waiting.pid && outcome.step === 'deadline',
      );
      assert.equal(deadlineLine?.status, 'gone', describeRun(run));
      assert.equal(existsSync(spoolPath(waiting)), false, 'execute removed it');
      assert.equal(handover.adopt(), 0, 'nothing is left to adopt');
      assert.equal(eventFor(lines, 'deadline-adopted', waiting), undefined);
    });
  },
);
