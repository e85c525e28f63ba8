/**
 * The re-check that stands between an order and a signal.
 *
 * An order was decided on an observation that may be seconds old: the
 * worker may have exited, its pid may belong to someone else by now, it
 * may have shrunk, or Passenger may have let it go. So right before every
 * action the host reads the process again and carries the order out only
 * when it is still the same app worker of the same app, owned by the same
 * user, and (for the graceful step) still over its limit.
 *
 * This is pure logic over /proc reads: no clock, no signals. The caller
 * hands in the time and, where a check needs it, Passenger's pool.
 */
import { sameApp } from '../core/app.ts';
import { classifyTitle, titleFromCmdline } from '../core/classify.ts';
import { measuredKb } from '../core/measure.ts';
import type { Order, OrderAction } from '../core/order.ts';
import {
  kbToMbRounded,
  type AppRef,
  type ProcessRole,
} from '../core/worker.ts';
import type { ProcRead, ProcSource, ProcStat } from './host.ts';
import type { PoolView } from './pool-view.ts';

export interface VerifyContext {
  readonly host: string;
  readonly proc: ProcSource;
  /** Epoch ms, compared with `order.notAfter`. */
  readonly now: number;
  /** The agent's own pid and its parent's: never targets. */
  readonly selfPid: number;
  readonly parentPid: number;
  /** Absent when the step needs no pool; see `checkPool`. */
  readonly pool?: PoolView;
}

export type Verdict =
  | {
      readonly ok: true;
      readonly title: string;
      readonly stat: ProcStat;
      /** By the order's measure; null unless the step compares memory. */
      readonly memoryKb: number | null;
    }
  | {
      readonly ok: false;
      readonly status: 'gone' | 'refused';
      readonly reason: string;
    };

type Refusal = Extract<Verdict, { ok: false }>;

/** Kernel states of a process that has already exited. */
const EXITED_STATES = new Set(['Z', 'X']);

const ROLE_NAMES: Record<ProcessRole, string> = {
  'app-worker': 'an app worker',
  preloader: 'the preloader',
  core: "Passenger's core",
  watchdog: "Passenger's watchdog",
  agent: 'a Passenger agent',
  spawner: 'a Passenger spawner',
  'web-server': 'a web server',
  other: 'not a Passenger app worker',
};

/** Re-checks one order's target for one step; see the module comment. */
export function verifyTarget(
  order: Order,
  step: OrderAction,
  context: VerifyContext,
): Verdict {
  const { pid, startTime } = order.identity;
  const { proc } = context;

  if (order.notAfter !== undefined && context.now > order.notAfter) {
    return refuse(
      `order for pid ${pid} expired at ${isoTime(order.notAfter)}; ` +
        `it is now ${isoTime(context.now)}`,
    );
  }
  const targetProblem = checkTargetPid(order, context);
  if (targetProblem !== undefined) return refuse(targetProblem);

  // identity: the same process, not a namesake that reused the pid
  const statRead = proc.stat(pid);
  if (!statRead.ok) return failedRead(pid, 'stat', statRead);
  const stat = statRead.value;
  if (stat.startTime !== startTime) {
    return gone(startTimeChanged(pid, stat.startTime, startTime));
  }
  if (EXITED_STATES.has(stat.state)) return gone(exitedState(pid, stat.state));

  // role: only an app worker is ever touched
  const cmdlineRead = proc.cmdline(pid);
  if (!cmdlineRead.ok) return failedRead(pid, 'cmdline', cmdlineRead);
  const title = titleFromCmdline(cmdlineRead.value);
  const titleClass = classifyTitle(title);
  if (titleClass.role !== 'app-worker') {
    return refuse(
      `pid ${pid} is ${ROLE_NAMES[titleClass.role]} ` +
        `('${title || 'no title'}'); never touched`,
    );
  }

  // app: the title's group, or where a Python worker runs from
  let workerApp: AppRef;
  if (titleClass.group !== undefined) {
    workerApp = { group: titleClass.group };
  } else {
    const cwdRead = proc.cwd(pid);
    if (!cwdRead.ok) return failedRead(pid, 'cwd', cwdRead);
    workerApp = { group: cwdRead.value, root: cwdRead.value };
  }
  if (!sameApp({ group: order.app }, workerApp)) {
    return refuse(
      `pid ${pid} belongs to app '${workerApp.group}', not to the ` +
        `ordered app '${order.app}'`,
    );
  }

  // owner
  const uidRead = proc.uid(pid);
  if (!uidRead.ok) return failedRead(pid, 'uid', uidRead);
  const ownerProblem = checkOwner(pid, uidRead.value, order.uid);
  if (ownerProblem !== undefined) return refuse(ownerProblem);

  // memory: it may have shrunk since it was observed
  let memoryKb: number | null = null;
  if (step === 'graceful') {
    const memory = checkStillOver(order, proc);
    if (!memory.ok) return memory;
    memoryKb = memory.kb;
  }

  const poolProblem = checkPool(order, step, context.pool);
  if (poolProblem !== undefined) return refuse(poolProblem);

  return { ok: true, title, stat, memoryKb };
}

/**
 * Why the process named by `identity` no longer exists, or undefined while
 * it may still run. A stat we may not read counts as still running: only
 * a vanished entry, a new start time or an exited state prove it gone.
 */
export function exitedSince(
  proc: ProcSource,
  identity: { readonly pid: number; readonly startTime: number },
): string | undefined {
  const { pid, startTime } = identity;
  const statRead = proc.stat(pid);
  if (!statRead.ok) {
    return statRead.failure === 'gone'
      ? `pid ${pid} has exited (${statRead.detail})`
      : undefined;
  }
  if (statRead.value.startTime !== startTime) {
    return startTimeChanged(pid, statRead.value.startTime, startTime);
  }
  if (EXITED_STATES.has(statRead.value.state)) {
    return exitedState(pid, statRead.value.state);
  }
  return undefined;
}

function startTimeChanged(pid: number, found: number, ordered: number) {
  return (
    `pid ${pid} now belongs to another process: start time ${found}, ` +
    `ordered ${ordered}`
  );
}

function exitedState(pid: number, state: string): string {
  const what = state === 'Z' ? 'a zombie' : 'dead';
  return `pid ${pid} is ${what} (state ${state}): it has already exited`;
}

function checkTargetPid(
  order: Order,
  context: VerifyContext,
): string | undefined {
  const { pid, host } = order.identity;
  if (!Number.isSafeInteger(pid) || pid < 2) {
    return `order.identity.pid must be a safe integer of at least 2, got ${pid}`;
  }
  if (pid === context.selfPid) {
    return `pid ${pid} is this agent itself; never touched`;
  }
  if (pid === context.parentPid) {
    return `pid ${pid} is this agent's parent; never touched`;
  }
  if (host !== context.host) {
    return (
      `order.identity.host must be this host '${context.host}', ` +
      `got '${host}'`
    );
  }
  return undefined;
}

function checkOwner(
  pid: number,
  uid: number,
  orderedUid: number | undefined,
): string | undefined {
  if (orderedUid !== undefined && uid !== orderedUid) {
    return `pid ${pid} is owned by uid ${uid}, the order saw uid ${orderedUid}`;
  }
  if (uid === 0 && orderedUid !== 0) {
    return (
      `pid ${pid} is owned by root (uid 0) and the order did not name ` +
      'uid 0; never touched'
    );
  }
  return undefined;
}

function checkStillOver(
  order: Order,
  proc: ProcSource,
): { readonly ok: true; readonly kb: number } | Refusal {
  const pid = order.identity.pid;
  const limitKb = order.limitKb;
  if (limitKb === undefined || !Number.isFinite(limitKb) || limitKb < 0) {
    return refuse(
      `order.limitKb must be a number of kB for a graceful step, got ` +
        `${limitKb}; pid ${pid} cannot be re-checked`,
    );
  }
  const measure = order.measure ?? 'private';
  const memoryRead = proc.memory(pid);
  if (!memoryRead.ok) return failedRead(pid, 'memory', memoryRead);
  const kb = measuredKb(memoryRead.value, measure);
  if (kb === null) {
    return refuse(
      `memory of pid ${pid} by ${measure} is unreadable, so it cannot be ` +
        'confirmed over its limit',
    );
  }
  if (kb <= limitKb) {
    return refuse(
      `pid ${pid} is now ${kbToMbRounded(kb)} MB by ${measure}, no longer ` +
        `over the ${kbToMbRounded(limitKb)} MB limit`,
    );
  }
  return { ok: true, kb };
}

/**
 * Detach only works on a pid Passenger lists, and an orphan is by
 * definition one it does not list. Both need an answer from the pool;
 * other steps do not look at it.
 */
function checkPool(
  order: Order,
  step: OrderAction,
  pool: PoolView | undefined,
): string | undefined {
  const pid = order.identity.pid;
  if (step === 'orphan-term') {
    if (pool === undefined || !pool.ok) {
      const why = pool === undefined ? '' : ` (${pool.reason})`;
      return (
        `Passenger's pool could not be read${why}, so the orphan pid ` +
        `${pid} cannot be confirmed`
      );
    }
    const listedUnder = pool.members.get(pid);
    if (listedUnder !== undefined) {
      return (
        `pid ${pid} is in Passenger's pool (group '${listedUnder.group}'), ` +
        'so it is no orphan'
      );
    }
    if (pool.skipped !== undefined && pool.skipped.length > 0) {
      return (
        `Passenger's pool was read only in part (skipped: ` +
        `${pool.skipped.join('; ')}), so the orphan pid ${pid} cannot be ` +
        'confirmed'
      );
    }
    return undefined;
  }
  const detaching = step === 'graceful' && order.graceful?.type === 'detach';
  if (!detaching || pool === undefined) return undefined;
  if (!pool.ok) {
    return (
      `Passenger's pool could not be read (${pool.reason}), so pid ${pid} ` +
      'cannot be confirmed as one of its workers'
    );
  }
  const listedUnder = pool.members.get(pid);
  if (listedUnder === undefined) {
    return `pid ${pid} is not in Passenger's pool, so it cannot be detached`;
  }
  if (!sameApp({ group: order.app }, listedUnder)) {
    return (
      `Passenger's pool lists pid ${pid} under '${listedUnder.group}', ` +
      `not under the ordered app '${order.app}'`
    );
  }
  return undefined;
}

/** A vanished process is 'gone'; one we may not read is refused. */
function failedRead(
  pid: number,
  what: string,
  read: Extract<ProcRead<unknown>, { ok: false }>,
): Refusal {
  if (read.failure === 'gone') {
    return gone(`pid ${pid} has exited (its ${what} is gone: ${read.detail})`);
  }
  return refuse(
    `the ${what} of pid ${pid} could not be read (${read.failure}: ` +
      `${read.detail}), so it cannot be re-checked`,
  );
}

function refuse(reason: string): Refusal {
  return { ok: false, status: 'refused', reason };
}

function gone(reason: string): Refusal {
  return { ok: false, status: 'gone', reason };
}

function isoTime(epochMs: number): string {
  return Number.isFinite(epochMs) ? new Date(epochMs).toISOString() : 'never';
}
