/**
 * Runs inside a pid namespace of its own (pid-reuse.test.ts starts it with
 * `unshare --pid --fork --mount-proc`), where it is pid 1 and /proc shows
 * only its own processes. There it makes pid reuse happen for real:
 *
 *   victim (an app worker) ── observed: pid P, start time S
 *   victim exits
 *   /proc/sys/kernel/ns_last_pid := P - 1
 *   successor spawned ── gets pid P, start time S' ≠ S, same title,
 *                        same app, same owner: only the start time differs
 *   an order for (P, S) arrives
 *
 * and checks that the successor survives each way an order reaches the
 * host. It prints one JSON line, `{"cases":[...]}`, for the test to judge.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runExecute } from '../../../agent/cli/execute-command.ts';
import { Executor } from '../../../agent/executor.ts';
import type { Signaller } from '../../../agent/host.ts';
import { LinuxProc } from '../../../agent/proc.ts';
import { parseOutcomeReport } from '../../../core/outcome-report.ts';
import {
  APP_UID,
  holdProcess,
  isAlive,
  startTimeOf,
  type HeldProcess,
} from './held-process.ts';
import { StandInTools } from '../../unit/executor-stand-ins.ts';

const INSTANCE = 'i-0123456789abcdef0';
const APP = '/data/shop/current (production)';
const TITLE = `Passenger RubyApp: ${APP}`;
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface ReuseCase {
  readonly name: string;
  readonly pid: number;
  readonly victimStart: number;
  readonly successorStart: number;
  readonly status: string;
  readonly reason: string;
  /** Signals any path tried to send to the reused pid. */
  readonly signalsToPid: number;
  readonly successorAlive: boolean;
}

interface Reused {
  readonly pid: number;
  readonly victimStart: number;
  readonly successor: HeldProcess;
}

/** A signaller that keeps a list and really delivers. */
class CountingSignaller implements Signaller {
  readonly sent: { pid: number; signal: string }[] = [];
  kill(pid: number, signal: NodeJS.Signals): void {
    this.sent.push({ pid, signal });
    process.kill(pid, signal);
  }
}

/** Makes a victim, lets it exit, and steers a successor onto its pid. */
async function reusePid(victimGoes: (victim: HeldProcess) => Promise<void>) {
  const victim = await holdProcess({ title: TITLE });
  const victimStart = startTimeOf(victim.pid);
  await victimGoes(victim);
  // a start time is counted in 10 ms ticks: make sure the next one differs
  await new Promise((resolve) => setTimeout(resolve, 30));
  for (let attempt = 0; attempt < 5; attempt++) {
    writeFileSync('/proc/sys/kernel/ns_last_pid', String(victim.pid - 1));
    const successor = await holdProcess({ title: TITLE });
    if (successor.pid === victim.pid) {
      return { pid: victim.pid, victimStart, successor } satisfies Reused;
    }
    // another task took the pid first (a libuv thread): try again
    await successor.stop();
  }
  throw new Error(`pid ${victim.pid} could not be handed to a successor`);
}

function caseOf(
  name: string,
  reused: Reused,
  status: string,
  reason: string,
  signalsToPid: number,
): ReuseCase {
  return {
    name,
    pid: reused.pid,
    victimStart: reused.victimStart,
    successorStart: startTimeOf(reused.pid),
    status,
    reason,
    signalsToPid,
    successorAlive: isAlive(reused.pid) && reused.successor.alive(),
  };
}

/** The controller's forced kill at a deadline, through the Executor. */
async function executorForceKill(): Promise<ReuseCase> {
  const reused = await reusePid((victim) => victim.stop());
  const signaller = new CountingSignaller();
  const executor = new Executor({
    host: INSTANCE,
    proc: new LinuxProc(),
    tools: new StandInTools(),
    signaller,
    now: Date.now,
  });
  const outcome = await executor.carryOut({
    identity: {
      host: INSTANCE,
      pid: reused.pid,
      startTime: reused.victimStart,
    },
    app: APP,
    action: 'force-kill',
    uid: APP_UID,
  });
  const sent = signaller.sent.filter((s) => s.pid === reused.pid).length;
  const result = caseOf(
    'Executor force-kill',
    reused,
    outcome.status,
    outcome.reason,
    sent,
  );
  await reused.successor.stop();
  return result;
}

function ssmEnvironment(orders: string): Record<string, string> {
  return {
    AWS_SSM_INSTANCE_ID: INSTANCE,
    SSM_instanceId: INSTANCE,
    SSM_app: APP,
    SSM_measure: 'private',
    SSM_notAfter: String(Math.floor(Date.now() / 1000) + 300),
    SSM_orders: orders,
  };
}

/** The same order through the installed command line, as SSM runs it. */
async function commandForceKill(): Promise<ReuseCase> {
  const reused = await reusePid((victim) => victim.stop());
  const orders = `${reused.pid}:${reused.victimStart}:force-kill:-:-:${APP_UID}`;
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'agent/cli/main.ts', 'execute', '--no-wait'],
    {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...ssmEnvironment(orders),
      },
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  const report = parseOutcomeReport(run.stdout ?? '');
  const outcome = report.outcomes.find((o) => o.pid === reused.pid);
  const result = caseOf(
    'passenger-fleet execute (command line) force-kill',
    reused,
    outcome?.status ?? `no outcome (exit ${run.status})`,
    outcome?.reason ?? `${run.stderr ?? ''}`.slice(0, 400),
    0,
  );
  await reused.successor.stop();
  return result;
}

/**
 * A graceful TERM with a one-second grace: the victim leaves at once, its
 * pid goes to a successor during the grace, and the host's own deadline
 * watcher must not SIGKILL the successor when the deadline comes.
 */
async function graceThenReuse(): Promise<ReuseCase> {
  const signaller = new CountingSignaller();
  let reused: Reused | undefined;
  const lines: string[] = [];
  const victim = await holdProcess({ title: TITLE });
  const victimPid = victim.pid;
  const victimStart = startTimeOf(victim.pid);
  const orders = `${victimPid}:${victimStart}:signal-TERM:1:1:${APP_UID}`;
  const execute = runExecute(
    { wait: true },
    {
      env: ssmEnvironment(orders),
      print: (line) => lines.push(line),
      warn: () => {},
      tools: new StandInTools(),
      signaller,
      pollMs: 400,
    },
  );
  // the victim obeys TERM; take its pid the moment it is free
  await victimExited(victim);
  await new Promise((resolve) => setTimeout(resolve, 30));
  for (let attempt = 0; attempt < 5 && reused === undefined; attempt++) {
    writeFileSync('/proc/sys/kernel/ns_last_pid', String(victimPid - 1));
    const successor = await holdProcess({ title: TITLE });
    if (successor.pid === victimPid) {
      reused = { pid: victimPid, victimStart, successor };
    } else {
      await successor.stop();
    }
  }
  await execute;
  if (reused === undefined) throw new Error(`pid ${victimPid} not reused`);
  const report = parseOutcomeReport(lines.join('\n'));
  const deadline = report.outcomes.find((o) => o.step === 'deadline');
  const kills = signaller.sent.filter(
    (s) => s.pid === victimPid && s.signal === 'SIGKILL',
  ).length;
  const result = caseOf(
    'passenger-fleet execute graceful, pid reused in the grace time',
    reused,
    deadline?.status ?? 'no deadline line',
    deadline?.reason ?? lines.join(' | ').slice(0, 400),
    kills,
  );
  await reused.successor.stop();
  return result;
}

function victimExited(victim: HeldProcess): Promise<void> {
  return new Promise((resolve) => {
    if (victim.child.exitCode !== null || victim.child.signalCode !== null) {
      resolve();
    } else {
      victim.child.once('exit', () => resolve());
    }
  });
}

const cases = [
  await executorForceKill(),
  await commandForceKill(),
  await graceThenReuse(),
];
process.stdout.write(`${JSON.stringify({ cases })}\n`);
process.exit(0);
