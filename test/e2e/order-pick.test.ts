/**
 * PICK orders through the Command document's script, for real: the
 * script's lines in a file run by bash with the environment SSM would
 * give it, the agent from its sources, real titled processes as workers.
 *
 * No Passenger runs here, so a stand-in `passenger-status` first in the
 * PATH answers for the pool: it prints a pool file the test writes, or
 * fails as the real one does with no Passenger running (exit 1), which
 * leaves every worker's pool membership unknown.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  startTitledProcess,
  type TitledProcess,
} from '../../agent/demo/titled-process.ts';
import { LinuxProc } from '../../agent/proc.ts';
import {
  parseOutcomeReport,
  type OutcomeReport,
  type ParsedReport,
} from '../../core/outcome-report.ts';
import { runCommand } from './support/command.ts';
import {
  scriptEnvironment,
  TEST_INSTANCE,
  writeOrderScript,
} from './support/order-script.ts';

const INSTANCE = TEST_INSTANCE;
const ROOT = '/data/pickapp/current';
const GROUP = `${ROOT} (production)`;
const WORKER_TITLE = `Passenger RubyApp: ${GROUP}`;
const SCRIPT_TIMEOUT_MS = 30_000;
/** What separates a bloated worker from a lean one here. */
const BLOAT_MB = 64;

interface ScriptRun {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly report: ParsedReport;
}

let workDir: string;
let binDir: string;
let scriptPath: string;
const started: TitledProcess[] = [];
const proc = new LinuxProc();

async function runScript(orders: string): Promise<ScriptRun> {
  const env: NodeJS.ProcessEnv = {
    ...scriptEnvironment(`${binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`),
    SSM_instanceId: INSTANCE,
    SSM_app: 'pickapp',
    SSM_measure: 'private',
    SSM_notAfter: String(Math.floor(Date.now() / 1000) + 60),
    SSM_orders: orders,
  };
  const result = await runCommand('bash', [scriptPath], {
    env,
    cwd: workDir,
    timeoutMs: SCRIPT_TIMEOUT_MS,
  });
  assert.equal(result.timedOut, false, 'the script finished in time');
  return { ...result, report: parseOutcomeReport(result.stdout) };
}

/** The stand-in passenger-status: the pool file, or no Passenger at all. */
async function providePool(listed: readonly number[] | 'no-passenger') {
  const script =
    listed === 'no-passenger'
      ? 'echo "ERROR: Phusion Passenger does not seem to be running." >&2\n' +
        'exit 1\n'
      : `cat '${join(binDir, 'pool.xml')}'\n`;
  await writeFile(join(binDir, 'passenger-status'), `#!/bin/sh\n${script}`, {
    mode: 0o755,
  });
  if (listed !== 'no-passenger') {
    await writeFile(join(binDir, 'pool.xml'), poolXml(listed));
  }
}

function poolXml(pids: readonly number[]): string {
  const name = GROUP.replace('(', '&#40;').replace(')', '&#41;');
  const processes = pids
    .map(
      (pid) =>
        `<process><pid>${pid}</pid><sessions>0</sessions>` +
        '<life_status>ALIVE</life_status><enabled>ENABLED</enabled></process>',
    )
    .join('');
  return (
    '<?xml version="1.0" encoding="iso-8859-1" ?>\n' +
    '<info version="3"><passenger_version>6.0.17</passenger_version>' +
    `<supergroups><supergroup><name>${name}</name><group><name>${name}` +
    `</name><app_root>${ROOT}</app_root><processes>${processes}` +
    '</processes></group></supergroup></supergroups></info>\n'
  );
}

async function titled(
  title: string,
  initialMb: number,
  onSignal: 'exit' | 'ignore' = 'exit',
) {
  const child = await startTitledProcess({ title, initialMb, onSignal });
  started.push(child);
  return child;
}

/** The limit in kB: a worker that grew BLOAT_MB is over it, a lean one not. */
function limitBetween(lean: TitledProcess): number {
  const memory = proc.memory(lean.pid);
  assert.ok(memory.ok && memory.value.privateDirtyKb !== null);
  return memory.value.privateDirtyKb + (BLOAT_MB / 2) * 1024;
}

function linesFor(run: ScriptRun, pid: number): OutcomeReport[] {
  return run.report.outcomes.filter((line) => line.pid === pid);
}

function isAlive(child: TitledProcess): boolean {
  return child.child.exitCode === null && child.child.signalCode === null;
}

function describeRun(run: ScriptRun): string {
  return `exit ${run.exitCode}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
}

describe('PICK orders through the document script', { timeout: 90_000 }, () => {
  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'pfleet-pick-'));
    binDir = join(workDir, 'bin');
    await runCommand('mkdir', [binDir], { timeoutMs: 5_000 });
    scriptPath = join(workDir, '_script.sh');
    await writeOrderScript(scriptPath);
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map((child) => child.stop()));
  });

  after(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('picks the biggest pooled workers, SIGKILLs the frozen one at its deadline, and nothing else', async () => {
    const lean = await titled(WORKER_TITLE, 0);
    const frozen = await titled(WORKER_TITLE, BLOAT_MB + 16, 'ignore');
    const obedient = await titled(WORKER_TITLE, BLOAT_MB);
    const unpooled = await titled(WORKER_TITLE, BLOAT_MB + 32);
    const preloader = await titled(`Passenger AppPreloader: ${ROOT}`, 96);
    const otherApp = await titled('Passenger RubyApp: /data/blog/current', 96);
    await providePool([lean.pid, frozen.pid, obedient.pid]);
    const limitKb = limitBetween(lean);

    const run = await runScript(`pick:3:signal-TERM:2:${limitKb}:-`);

    assert.equal(run.exitCode, 0, describeRun(run));
    assert.equal(run.report.complete, true, describeRun(run));
    assert.equal(run.report.done?.orders, 2, describeRun(run));
    // biggest first: the frozen worker, then the obedient one
    assert.deepEqual(
      run.report.outcomes
        .filter((line) => line.step === 'graceful')
        .map((line) => line.pid),
      [frozen.pid, obedient.pid],
      describeRun(run),
    );
    const [frozenStep, frozenDeadline] = linesFor(run, frozen.pid);
    assert.equal(frozenStep?.status, 'signalled');
    assert.equal(frozenStep?.hostWaits, true);
    assert.equal(frozenStep?.deadline, frozenStep!.at + 2000);
    assert.equal(frozenDeadline?.step, 'deadline');
    assert.equal(frozenDeadline?.status, 'killed', describeRun(run));
    const lateness = frozenDeadline!.at - frozenStep!.deadline!;
    assert.ok(lateness >= 0 && lateness < 1500, `${lateness} ms late`);
    const [obedientStep, obedientDeadline] = linesFor(run, obedient.pid);
    assert.equal(obedientStep?.status, 'signalled');
    assert.equal(obedientDeadline?.status, 'gone', describeRun(run));
    assert.match(run.stderr, /chose pid\(s\) \d+, \d+/);

    await Promise.all([frozen.exited(), obedient.exited()]);
    for (const child of [lean, unpooled, preloader, otherApp]) {
      assert.ok(isAlive(child), `pid ${child.pid} ('${child.title}') alive`);
    }
  });

  it('with the pool unknown, picks for a signal but never for detach', async () => {
    const lean = await titled(WORKER_TITLE, 0);
    const bloated = await titled(WORKER_TITLE, BLOAT_MB);
    await providePool('no-passenger');
    const limitKb = limitBetween(lean);

    const detach = await runScript(`pick:3:detach:2:${limitKb}:-`);

    assert.equal(detach.exitCode, 0, describeRun(detach));
    assert.equal(detach.report.complete, true, describeRun(detach));
    assert.deepEqual(detach.report.outcomes, []);
    assert.match(detach.stderr, /none qualified .*pool could not be read/);
    assert.ok(isAlive(bloated), 'detach picked nothing');

    const signal = await runScript(`pick:3:signal-TERM:2:${limitKb}:-`);

    assert.equal(signal.exitCode, 0, describeRun(signal));
    const lines = linesFor(signal, bloated.pid);
    assert.deepEqual(
      lines.map((line) => [line.step, line.status]),
      [
        ['graceful', 'signalled'],
        ['deadline', 'gone'],
      ],
      describeRun(signal),
    );
    assert.equal(linesFor(signal, lean.pid).length, 0);
    assert.ok(isAlive(lean), 'the lean worker is alive');
  });

  it('never picks a worker an exact order of the same command names', async () => {
    const lean = await titled(WORKER_TITLE, 0);
    const bloated = await titled(WORKER_TITLE, BLOAT_MB);
    await providePool([lean.pid, bloated.pid]);
    const stat = proc.stat(bloated.pid);
    assert.ok(stat.ok);
    const limitKb = limitBetween(lean);
    // an exact order for a start time that is not the process's: refused
    const exact = `${bloated.pid}:${stat.value.startTime + 1}:force-kill:-:-:-`;

    const run = await runScript(`${exact},pick:3:signal-TERM:2:${limitKb}:-`);

    assert.equal(run.exitCode, 0, describeRun(run));
    assert.deepEqual(
      linesFor(run, bloated.pid).map((line) => [line.step, line.status]),
      [['force-kill', 'gone']],
      describeRun(run),
    );
    assert.ok(isAlive(bloated), 'the named worker was left alone');
  });
});
