/**
 * Lying metrics and processes that are never signalled. Every target is a
 * real process on this host (or a pid that no longer exists), and every
 * order names the shop app and claims the target is one of its workers:
 * the executor must refuse each one, through the Executor and through
 * `passenger-fleet execute`, and nothing may be signalled.
 *
 * The app's workers run as `nobody` here, so that a refusal is never just
 * the root check: each target differs from a real shop worker in exactly
 * the way its name says. Passenger's pool is made to lie too: it lists
 * every target under the shop group.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runExecute } from '../../agent/cli/execute-command.ts';
import { EXIT } from '../../agent/cli/exit-codes.ts';
import { Executor } from '../../agent/executor.ts';
import type { Signaller } from '../../agent/host.ts';
import { LinuxProc } from '../../agent/proc.ts';
import type { GracefulAction } from '../../core/actions.ts';
import type { Order, OrderAction } from '../../core/order.ts';
import { parseOutcomeReport } from '../../core/outcome-report.ts';
import { StandInTools } from '../unit/executor-stand-ins.ts';
import {
  APP_UID,
  holdProcess,
  holdZombie,
  isAlive,
  OTHER_UID,
  startTimeOf,
  stateOf,
  type HeldProcess,
  type HeldZombie,
} from './support/held-process.ts';
import { SafetyTally } from './support/tally.ts';

const tally = new SafetyTally(import.meta.url);

const INSTANCE = 'i-0123456789abcdef0';
const SHOP = '/data/shop/current (production)';
const SHOP_WORKER = `Passenger RubyApp: ${SHOP}`;
/** What the lying metrics claim: a 5 GB worker, over a 4 GB limit. */
const CLAIMED_LIMIT_KB = 4 * 1024 * 1024;

interface Target {
  readonly name: string;
  readonly pid: number;
  readonly startTime: number;
  /** The uid the order names; the app's user unless said otherwise. */
  readonly orderUid?: number;
  /** The graceful limit the order names. @default 1 kB */
  readonly limitKb?: number;
  /**
   * Only a graceful step is refused: a real shop worker that merely is
   * not as big as claimed may still be force-killed at its deadline.
   */
  readonly gracefulOnly?: boolean;
  /** What must still hold after every order: usually "alive". */
  readonly intact: () => boolean;
}

const held: HeldProcess[] = [];
let zombie: HeldZombie | undefined;
let pythonHome = '';
const targets: Target[] = [];

async function heldTarget(
  name: string,
  title: string,
  extra: {
    uid?: number;
    cwd?: string;
    orderUid?: number;
    limitKb?: number;
  } = {},
): Promise<void> {
  const process = await holdProcess({ title, ...extra });
  held.push(process);
  targets.push({
    name,
    pid: process.pid,
    startTime: startTimeOf(process.pid),
    ...(extra.orderUid === undefined ? {} : { orderUid: extra.orderUid }),
    ...(extra.limitKb === undefined
      ? {}
      : { limitKb: extra.limitKb, gracefulOnly: true }),
    intact: () => process.alive(),
  });
}

/**
 * Signals reach only the processes this file started, and are all
 * recorded: a wrong kill shows up both as a record and as a dead target,
 * yet can never reach pid 1 or the test runner.
 */
class GuardedSignaller implements Signaller {
  readonly sent: { pid: number; signal: string }[] = [];
  kill(pid: number, signal: NodeJS.Signals): void {
    this.sent.push({ pid, signal });
    if (held.some((p) => p.pid === pid)) process.kill(pid, signal);
  }
}

before(async () => {
  await heldTarget(
    'the preloader',
    'Passenger AppPreloader: /data/shop/current',
  );
  await heldTarget("Passenger's core", 'Passenger core');
  await heldTarget("Passenger's watchdog", 'Passenger watchdog');
  await heldTarget('an Apache master', '/usr/sbin/apache2 -k start');
  await heldTarget(
    'an Nginx master',
    'nginx: master process /usr/sbin/nginx -g daemon on;',
  );
  await heldTarget(
    'a spawner',
    'Passenger ApplicationSpawner: /data/shop/current',
  );
  await heldTarget(
    "another app's worker",
    'Passenger RubyApp: /data/blog/current (production)',
  );
  await heldTarget('a shop worker of another user', SHOP_WORKER, {
    uid: OTHER_UID,
  });
  await heldTarget(
    'a shop worker of root, the order naming no uid',
    SHOP_WORKER,
    {
      uid: 0,
      orderUid: -1,
    },
  );
  await heldTarget(
    'a non-Passenger process',
    'bundle exec sidekiq -C /data/shop/current/config/sidekiq.yml',
  );
  pythonHome = mkdtempSync(join(tmpdir(), 'safety-blog-'));
  const blogRelease = join(pythonHome, 'blog', 'releases', '20261201');
  mkdirSync(blogRelease, { recursive: true });
  await heldTarget(
    "another app's Python worker",
    '/usr/bin/python3 /usr/share/passenger/helper-scripts/wsgi-loader.py',
    { cwd: blogRelease },
  );
  await heldTarget('a 5 GB shop worker that is really small', SHOP_WORKER, {
    limitKb: CLAIMED_LIMIT_KB,
  });

  zombie = await holdZombie();
  const zombiePid = zombie.pid;
  targets.push({
    name: 'a zombie',
    pid: zombiePid,
    startTime: startTimeOf(zombiePid),
    intact: () => stateOf(zombiePid) === 'Z',
  });
  const vanished = await holdProcess({ title: SHOP_WORKER });
  const vanishedStart = startTimeOf(vanished.pid);
  await vanished.stop();
  targets.push({
    name: 'a 5 GB shop worker that does not exist',
    pid: vanished.pid,
    startTime: vanishedStart,
    limitKb: CLAIMED_LIMIT_KB,
    intact: () =>
      !isAlive(vanished.pid) || startTimeOf(vanished.pid) !== vanishedStart,
  });
  targets.push({
    name: 'this agent itself',
    pid: process.pid,
    startTime: startTimeOf(process.pid),
    intact: () => isAlive(process.pid),
  });
  targets.push({
    name: "this agent's parent",
    pid: process.ppid,
    startTime: startTimeOf(process.ppid),
    intact: () => isAlive(process.ppid),
  });
});

after(async () => {
  await Promise.all(held.map((process) => process.stop()));
  await zombie?.stop();
  if (pythonHome !== '') rmSync(pythonHome, { recursive: true, force: true });
});

/** A pool that lists every target as a shop worker. */
function lyingPool(): StandInTools {
  return new StandInTools().listing([
    {
      name: SHOP,
      appRoot: '/data/shop/current',
      pids: [...targets.map((t) => t.pid), 1],
    },
  ]);
}

const STEPS: readonly { action: OrderAction; graceful?: GracefulAction }[] = [
  { action: 'graceful', graceful: { type: 'detach' } },
  { action: 'graceful', graceful: { type: 'signal', signal: 'TERM' } },
  { action: 'force-kill' },
  { action: 'orphan-term' },
];

function orderFor(
  target: Pick<Target, 'pid' | 'startTime' | 'orderUid' | 'limitKb'>,
  step: (typeof STEPS)[number],
): Order {
  const uid = target.orderUid ?? APP_UID;
  return {
    identity: { host: INSTANCE, pid: target.pid, startTime: target.startTime },
    app: SHOP,
    action: step.action,
    measure: 'private',
    notAfter: Date.now() + 300_000,
    ...(uid >= 0 && { uid }),
    ...(step.graceful && {
      graceful: step.graceful,
      limitKb: target.limitKb ?? 1,
    }),
  };
}

function stepsFor(target: Target): typeof STEPS {
  return target.gracefulOnly ? STEPS.filter((s) => s.graceful) : STEPS;
}

function stepName(step: (typeof STEPS)[number]): string {
  const how = step.graceful;
  if (how === undefined) return step.action;
  return how.type === 'signal' ? `signal-${how.signal}` : how.type;
}

function assertUntouched(
  signaller: GuardedSignaller,
  tools: StandInTools,
  what: string,
): void {
  const acted = tools.calls.filter(
    (call) => call.tool === 'detach' || call.tool === 'run',
  );
  const broken = targets.filter((target) => !target.intact());
  tally.expectNoWrongKill(
    signaller.sent.length === 0 && acted.length === 0 && broken.length === 0,
    `${what}: signals ${JSON.stringify(signaller.sent)}, tool calls ` +
      `${JSON.stringify(acted)}, no longer intact: ` +
      `${broken.map((t) => t.name).join(', ') || 'none'}`,
  );
}

describe('orders for processes that are never signalled', () => {
  it('the Executor refuses every target for every step', async () => {
    assert.ok(targets.length >= 16, 'every target was set up');
    for (const target of targets) {
      for (const step of stepsFor(target)) {
        const signaller = new GuardedSignaller();
        const tools = lyingPool();
        const executor = new Executor({
          host: INSTANCE,
          proc: new LinuxProc(),
          tools,
          signaller,
          now: Date.now,
        });
        const what = `${stepName(step)} of ${target.name} (pid ${target.pid})`;

        const outcome = await executor.carryOut(orderFor(target, step));

        assertUntouched(signaller, tools, what);
        assert.ok(
          outcome.status === 'refused' || outcome.status === 'gone',
          `${what}: ${outcome.status}: ${outcome.reason}`,
        );
        assert.ok(outcome.reason.includes(String(target.pid)), what);
        tally.tried();
      }
    }
  });

  it('the Executor refuses pid 1 for every step', async () => {
    for (const step of STEPS) {
      const signaller = new GuardedSignaller();
      const tools = lyingPool();
      const executor = new Executor({
        host: INSTANCE,
        proc: new LinuxProc(),
        tools,
        signaller,
        now: Date.now,
      });
      const init = { pid: 1, startTime: startTimeOf(1) };

      const outcome = await executor.carryOut(orderFor(init, step));

      assertUntouched(signaller, tools, `${stepName(step)} of pid 1`);
      assert.equal(outcome.status, 'refused', outcome.reason);
      assert.match(outcome.reason, /pid must be a safe integer of at least 2/);
      tally.tried();
    }
  });

  for (const step of STEPS) {
    it(`passenger-fleet execute refuses every target: ${stepName(step)}`, async () => {
      const signaller = new GuardedSignaller();
      const tools = lyingPool();
      const lines: string[] = [];
      const aimed = targets.filter((t) => stepsFor(t).includes(step));
      const items = aimed.map((target) => {
        const uid =
          (target.orderUid ?? APP_UID) >= 0
            ? (target.orderUid ?? APP_UID)
            : '-';
        const grace = step.action === 'force-kill' ? '-' : '30';
        const limit = step.graceful ? String(target.limitKb ?? 1) : '-';
        return [
          target.pid,
          target.startTime,
          stepName(step),
          grace,
          limit,
          uid,
        ].join(':');
      });

      const exitCode = await runExecute(
        { wait: true },
        {
          env: {
            AWS_SSM_INSTANCE_ID: INSTANCE,
            SSM_instanceId: INSTANCE,
            SSM_app: SHOP,
            SSM_measure: 'private',
            SSM_notAfter: String(Math.floor(Date.now() / 1000) + 300),
            SSM_orders: items.join(','),
          },
          proc: new LinuxProc(),
          tools,
          signaller,
          print: (line) => lines.push(line),
          warn: () => {},
          pollMs: 50,
        },
      );

      assertUntouched(signaller, tools, `execute ${stepName(step)}`);
      assert.equal(exitCode, EXIT.ok, lines.join('\n'));
      const report = parseOutcomeReport(lines.join('\n'));
      assert.equal(report.complete, true, lines.join('\n'));
      assert.equal(report.outcomes.length, aimed.length);
      for (const outcome of report.outcomes) {
        assert.ok(
          outcome.status === 'refused' || outcome.status === 'gone',
          `pid ${outcome.pid}: ${outcome.status}: ${outcome.reason}`,
        );
      }
      tally.tried(aimed.length);
    });
  }

  it('passenger-fleet execute rejects a command naming pid 1', async () => {
    const signaller = new GuardedSignaller();
    const tools = lyingPool();
    const lines: string[] = [];

    const exitCode = await runExecute(
      {},
      {
        env: {
          AWS_SSM_INSTANCE_ID: INSTANCE,
          SSM_instanceId: INSTANCE,
          SSM_app: SHOP,
          SSM_measure: 'private',
          SSM_notAfter: String(Math.floor(Date.now() / 1000) + 300),
          SSM_orders: `1:${startTimeOf(1)}:force-kill:-:-:0`,
        },
        proc: new LinuxProc(),
        tools,
        signaller,
        print: (line) => lines.push(line),
        warn: () => {},
      },
    );

    assertUntouched(signaller, tools, 'execute force-kill of pid 1');
    assert.equal(exitCode, EXIT.usage);
    const report = parseOutcomeReport(lines.join('\n'));
    assert.equal(report.outcomes.length, 0);
    assert.equal(report.rejections[0]?.field, 'orders[0].pid');
    tally.tried();
  });
});
