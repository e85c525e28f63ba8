/**
 * The Command document's script, run for real: its runCommand lines in a
 * file, as the SSM Agent writes `_script.sh`, started by a shell with the
 * environment SSM would give it (the parameters as SSM_* variables, the
 * instance id as AWS_SSM_INSTANCE_ID), against real titled processes.
 *
 * The script runs the agent from its sources: PASSENGER_FLEET_AGENT points
 * at agent/cli/main.ts and NODE_OPTIONS loads tsx. No Passenger is needed:
 * graceful orders use a signal, and a detach order can only be refused.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { after, afterEach, before, describe, it } from 'node:test';
import {
  startTitledProcess,
  type TitledProcess,
} from '../../agent/demo/titled-process.ts';
import { LinuxProc } from '../../agent/proc.ts';
import { decodeOrderParameters } from '../../core/order-codec.ts';
import {
  matchOutcomes,
  parseOutcomeReport,
  type OrderOutcomes,
  type ParsedReport,
} from '../../core/outcome-report.ts';
import {
  AGENT_SOURCE,
  scriptEnvironment,
  TEST_INSTANCE,
  writeOrderScript,
} from './support/order-script.ts';

const INSTANCE = TEST_INSTANCE;
const APP = '/data/fleetapp/current (production)';
const WORKER_TITLE = `Passenger RubyApp: ${APP}`;
const UID = process.getuid?.() ?? 0;
const SCRIPT_TIMEOUT_MS = 30_000;

interface ScriptRun {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly report: ParsedReport;
  readonly elapsedMs: number;
}

let workDir: string;
let scriptPath: string;
const started: TitledProcess[] = [];
const proc = new LinuxProc();

/** Runs the document's script as the SSM Agent would, bounded in time. */
function runScript(
  parameters: Record<string, string>,
  options: { shell?: string; agent?: string } = {},
): Promise<ScriptRun> {
  const env: NodeJS.ProcessEnv = {
    ...scriptEnvironment(
      process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      options.agent ?? AGENT_SOURCE,
    ),
    AWS_SSM_REGION_NAME: 'us-east-1',
  };
  for (const [name, value] of Object.entries(parameters)) {
    env[`SSM_${name}`] = value;
  }
  const startedAt = Date.now();
  const child = spawn(options.shell ?? 'bash', [scriptPath], {
    cwd: workDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, SCRIPT_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      resolve({
        exitCode,
        stdout,
        stderr,
        timedOut,
        report: parseOutcomeReport(stdout),
        elapsedMs: Date.now() - startedAt,
      });
    });
  });
}

async function titled(
  title: string,
  onSignal: 'exit' | 'ignore' = 'exit',
): Promise<TitledProcess & { startTime: number }> {
  const child = await startTitledProcess({ title, onSignal });
  started.push(child);
  const stat = proc.stat(child.pid);
  assert.ok(stat.ok, `stat of pid ${child.pid}`);
  return Object.assign(child, { startTime: stat.value.startTime });
}

function isAlive(child: TitledProcess): boolean {
  return child.child.exitCode === null && child.child.signalCode === null;
}

/** Resolves false when the child is still running after `ms`. */
async function exitsWithin(child: TitledProcess, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const exited = await Promise.race([child.exited().then(() => true), timeout]);
  clearTimeout(timer);
  return exited;
}

function parametersFor(orders: string, notAfterDelta = 60) {
  return {
    instanceId: INSTANCE,
    app: APP,
    measure: 'private',
    notAfter: String(Math.floor(Date.now() / 1000) + notAfterDelta),
    orders,
  };
}

function describeRun(run: ScriptRun): string {
  return `exit ${run.exitCode}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
}

/** The outcomes of each order of the command, in order. */
function outcomesOf(
  run: ScriptRun,
  parameters: Record<string, string>,
): OrderOutcomes[] {
  const decoded = decodeOrderParameters(parameters, Date.now());
  assert.ok(decoded.ok, 'the test sent valid parameters');
  const { matched, strays } = matchOutcomes(
    decoded.batch.orders,
    run.report.outcomes,
  );
  assert.deepEqual(strays, [], describeRun(run));
  return matched;
}

describe('the order document script', { timeout: 120_000 }, () => {
  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'pfleet-ssm-'));
    scriptPath = join(workDir, '_script.sh');
    await writeOrderScript(scriptPath);
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map((child) => child.stop()));
  });

  after(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('acts on the ordered workers only, and SIGKILLs a frozen one at its deadline', async () => {
    const frozen = await titled(WORKER_TITLE, 'ignore');
    const doomed = await titled(WORKER_TITLE);
    const preloader = await titled(
      'Passenger AppPreloader: /data/fleetapp/current',
    );
    const reused = await titled(WORKER_TITLE);
    const detachable = await titled(WORKER_TITLE);
    const parameters = parametersFor(
      [
        `${frozen.pid}:${frozen.startTime}:signal-TERM:2:1024:${UID}`,
        `${doomed.pid}:${doomed.startTime}:force-kill:-:-:${UID}`,
        `${preloader.pid}:${preloader.startTime}:force-kill:-:-:${UID}`,
        `${reused.pid}:${reused.startTime + 1}:force-kill:-:-:${UID}`,
        `${detachable.pid}:${detachable.startTime}:detach:2:1024:${UID}`,
      ].join(','),
    );

    const run = await runScript(parameters);

    assert.equal(run.exitCode, 0, describeRun(run));
    assert.equal(run.report.complete, true, describeRun(run));
    const [
      frozenOutcome,
      doomedOutcome,
      preloaderOutcome,
      reusedOutcome,
      detachOutcome,
    ] = outcomesOf(run, parameters);

    // frozen: TERM ignored, SIGKILL at the deadline the host reported
    const step = frozenOutcome?.step;
    assert.equal(step?.status, 'signalled', describeRun(run));
    assert.equal(step?.hostWaits, true);
    const deadline = step!.deadline!;
    assert.equal(deadline, step!.at + 2000);
    assert.equal(frozenOutcome?.deadline?.status, 'killed', describeRun(run));
    const lateness = frozenOutcome!.deadline!.at - deadline;
    assert.ok(lateness >= 0 && lateness < 1500, `${lateness} ms late`);
    assert.ok(await exitsWithin(frozen, 2000), 'the frozen worker exited');

    assert.equal(doomedOutcome?.step?.status, 'killed', describeRun(run));
    assert.ok(await exitsWithin(doomed, 2000), 'the force-killed one exited');

    assert.equal(preloaderOutcome?.step?.status, 'refused');
    assert.match(preloaderOutcome!.step!.reason, /the preloader/);
    assert.equal(reusedOutcome?.step?.status, 'gone');
    assert.match(reusedOutcome!.step!.reason, /start time/);
    assert.equal(detachOutcome?.step?.status, 'refused', describeRun(run));
    assert.equal(detachOutcome?.deadline, undefined);
    for (const child of [preloader, reused, detachable]) {
      assert.ok(isAlive(child), `pid ${child.pid} ('${child.title}') alive`);
    }
  });

  for (const shell of ['bash', 'sh']) {
    it(`refuses every order after notAfter (${shell})`, async () => {
      const worker = await titled(WORKER_TITLE);
      const parameters = parametersFor(
        `${worker.pid}:${worker.startTime}:force-kill:-:-:${UID}`,
        -5,
      );

      const run = await runScript(parameters, { shell });

      assert.equal(run.exitCode, 0, describeRun(run));
      assert.equal(run.report.complete, true);
      const [outcome] = outcomesOf(run, parameters);
      assert.equal(outcome?.step?.status, 'refused');
      assert.match(outcome!.step!.reason, /notAfter .* has passed/);
      assert.ok(!(await exitsWithin(worker, 200)), 'the worker is alive');
    });
  }

  describe('hostile values', () => {
    const canary = () => join(workDir, 'canary');
    /** What to send, and the parameters each run must name. */
    const cases: [
      string,
      (pid: number, start: number) => object,
      readonly string[],
    ][] = [
      [
        'shell syntax in every parameter',
        (pid, start) => ({
          instanceId: `$(touch ${canary()})`,
          app: `\`touch ${canary()}\``,
          measure: `private; touch ${canary()}`,
          notAfter: '-1',
          orders: `${pid}:${start}:force-kill:-:-:${UID}; kill -9 ${pid}`,
        }),
        ['instanceId', 'app', 'measure', 'notAfter', 'orders'],
      ],
      [
        'a newline in orders',
        (pid, start) =>
          parametersFor(
            `${pid}:${start}:force-kill:-:-:${UID}\nkill -9 ${pid}`,
          ),
        ['orders'],
      ],
      [
        'a negative pid, which kill(2) reads as a process group',
        (pid, start) => parametersFor(`-${pid}:${start}:force-kill:-:-:${UID}`),
        ['orders'],
      ],
      [
        'more orders than one command may carry',
        (pid, start) =>
          parametersFor(
            Array.from(
              { length: 26 },
              (_, i) => `${pid + i}:${start}:force-kill:-:-:${UID}`,
            ).join(','),
          ),
        ['orders'],
      ],
    ];
    for (const [what, parametersOf, fields] of cases) {
      it(`rejects ${what} and signals nothing`, async () => {
        const worker = await titled(WORKER_TITLE);
        const parameters = parametersOf(worker.pid, worker.startTime);

        const run = await runScript(parameters as Record<string, string>);

        assert.equal(run.exitCode, 64, describeRun(run));
        assert.equal(run.report.complete, true, describeRun(run));
        assert.deepEqual(run.report.outcomes, []);
        assert.deepEqual(
          run.report.rejections.map((r) => r.field),
          fields,
          describeRun(run),
        );
        assert.match(run.stderr, /no order was carried out/);
        assert.ok(!(await exitsWithin(worker, 200)), 'the worker is alive');
        assert.equal(existsSync(canary()), false, 'nothing ran in a shell');
      });
    }
  });

  it('says so and exits 69 when the agent bundle is missing', async () => {
    const run = await runScript(parametersFor('4242:1:force-kill:-:-:-'), {
      agent: join(workDir, 'no-such-agent.mjs'),
    });

    assert.equal(run.exitCode, 69);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /agent bundle .*no-such-agent\.mjs is missing/);
  });
});
