/**
 * `passenger-fleet execute`: carries out the orders of one SSM Run Command
 * on this instance and reports each on stdout for the controller.
 *
 * The orders come only from the `SSM_*` variables that the SSM Agent sets
 * for a document parameter with `interpolationType: ENV_VAR`; nothing in
 * argv or in the script's text carries them. They are decoded and checked
 * again here, whatever the document's patterns let through: one bad value
 * and no order runs.
 *
 *   decode ─ bad value ──> PF-REJECTED lines, PF-DONE, exit 64
 *     │
 *   for each order, one after the other:
 *     past notAfter, or for another instance ──> refused
 *     otherwise Executor.carryOut (re-checks the process first)
 *     graceful step carried out ──> deadline = its time + graceSeconds
 *   then the PICK items (execute-picks.ts): unless past notAfter or for
 *     another instance, a sample of this host chooses the workers, and
 *     each becomes an exact order carried out as above
 *   PF-OUTCOME line per order; then, unless --no-wait, a `deadline` line
 *   per carried-out step when the DeadlineWatcher SIGKILLs the worker or
 *   sees it leave; PF-DONE (`orders` counts the exact orders and the
 *   workers picked); exit 0.
 *
 * Each deadline waited for is also written to the deadline spool
 * (deadline-spool.ts) until it is settled: if this process dies before,
 * the agent daemon keeps the promise.
 *
 * A pick that chooses nothing prints no PF-OUTCOME line (there is no pid
 * to name); one sentence on stderr says what it saw.
 */
import {
  decodeOrderParameters,
  parametersFromEnvironment,
  toOrder,
  type OrderBatch,
} from '../../core/order-codec.ts';
import type { Order, Outcome } from '../../core/order.ts';
import {
  formatDoneLine,
  formatOutcomeLine,
  formatRejectedLine,
  type OutcomeReport,
} from '../../core/outcome-report.ts';
import { describeProblem } from '../../core/field-problem.ts';
import { DeadlineWatcher } from '../deadlines.ts';
import {
  DeadlineSpool,
  thisWriter,
  type SpoolWriter,
} from '../deadline-spool.ts';
import { Executor } from '../executor.ts';
import type { PassengerTools, ProcSource, Signaller } from '../host.ts';
import { LinuxProc } from '../proc.ts';
import { PassengerCommandTools } from '../tools.ts';
import { ordersForPicks } from './execute-picks.ts';
import { CliError, EXIT } from './exit-codes.ts';

export interface ExecuteFlags {
  /** false with `--no-wait`: report the steps, leave the deadlines. */
  readonly wait?: boolean;
  /** This instance's id; @default $AWS_SSM_INSTANCE_ID */
  readonly host?: string;
  readonly toolTimeout?: string;
  /** Hidden: where deadlines are spooled. @default DEFAULT_SPOOL_DIR */
  readonly spoolDir?: string;
}

/** What a test may replace; each defaults to the real host. */
export interface ExecuteDependencies {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly now?: () => number;
  /** Receives one line at a time, without its newline. */
  readonly print?: (line: string) => void;
  readonly warn?: (line: string) => void;
  readonly proc?: ProcSource;
  readonly tools?: PassengerTools;
  readonly signaller?: Signaller;
  /** How often waiting victims are looked at. @default 250 */
  readonly pollMs?: number;
  /** The wait between the two samples of an orphan pick. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Where deadlines outlive this process; by default under /run. */
  readonly spool?: DeadlineSpool;
  /** This process as the spool names it; by default from /proc/self. */
  readonly writer?: SpoolWriter;
}

/** Set by the SSM Agent itself for every command it runs. */
export const INSTANCE_ID_VARIABLE = 'AWS_SSM_INSTANCE_ID';

/** Most rejected values reported; the rest are counted. */
const MAX_REJECTION_LINES = 10;

export async function runExecute(
  flags: ExecuteFlags,
  dependencies: ExecuteDependencies = {},
): Promise<number> {
  const env = dependencies.env ?? process.env;
  const now = dependencies.now ?? Date.now;
  const print =
    dependencies.print ?? ((line) => process.stdout.write(`${line}\n`));
  const warn =
    dependencies.warn ??
    ((line) => process.stderr.write(`passenger-fleet: ${line}\n`));
  const localInstance = thisInstance(flags, env);
  const toolTimeoutMs = toolTimeout(flags.toolTimeout ?? '10');

  const decoded = decodeOrderParameters(parametersFromEnvironment(env), now());
  if (!decoded.ok) {
    const shown = decoded.problems.slice(0, MAX_REJECTION_LINES);
    for (const problem of shown) print(formatRejectedLine(problem));
    print(formatDoneLine({ orders: 0, outcomes: 0, rejections: shown.length }));
    warn(
      `no order was carried out: ${decoded.problems.length} invalid ` +
        `value(s); first: ${describeProblem(decoded.problems[0]!)}`,
    );
    return EXIT.usage;
  }

  const proc = dependencies.proc ?? new LinuxProc();
  const tools =
    dependencies.tools ??
    new PassengerCommandTools({ timeoutMs: toolTimeoutMs });
  const executor = new Executor({
    host: localInstance,
    proc,
    tools,
    now,
    ...(dependencies.signaller && { signaller: dependencies.signaller }),
  });
  const run = new OrderRun(decoded.batch, localInstance, now, print);
  const promises = new SpooledPromises(
    dependencies.spool ??
      new DeadlineSpool({
        proc,
        ...(flags.spoolDir !== undefined && { dir: flags.spoolDir }),
      }),
    dependencies.writer ?? thisWriter(proc),
    warn,
  );
  const watcher = new DeadlineWatcher({
    executor,
    proc,
    now,
    onSettled: (order, outcome) => {
      run.report(order, 'deadline', outcome);
      promises.kept(order);
    },
    ...(dependencies.pollMs && { pollMs: dependencies.pollMs }),
  });
  const carryOut = async (order: Order, graceSeconds?: number) => {
    const outcome = run.refusal(order) ?? (await executor.carryOut(order));
    const deadline = deadlineAfter(graceSeconds, outcome);
    const hostWaits = deadline !== undefined && flags.wait !== false;
    // Spooled before it is reported, so that a controller told the host
    // waits can count on a promise that outlives this process (a spool
    // that refuses it is said on stderr).
    const forceKill = forceKillOf(order);
    if (hostWaits) promises.made(forceKill, deadline);
    run.report(order, order.action, outcome, deadline, hostWaits);
    if (hostWaits) watcher.watch(forceKill, deadline);
  };
  let orders = decoded.batch.orders.length;
  try {
    for (const wire of decoded.batch.orders) {
      await carryOut(toOrder(decoded.batch, wire), wire.graceSeconds);
    }
    const picks = decoded.batch.picks ?? [];
    const refusal = picks.length > 0 ? run.batchRefusal() : undefined;
    if (refusal !== undefined) {
      warn(`no pick was carried out: ${refusal}`);
    } else if (picks.length > 0) {
      const picked = await ordersForPicks(decoded.batch, {
        host: localInstance,
        proc,
        tools,
        now,
        sleep: dependencies.sleep ?? sleep,
        note: warn,
      });
      orders += picked.length;
      for (const { order, graceSeconds } of picked) {
        await carryOut(order, graceSeconds);
      }
    }
    await watcher.settled();
  } finally {
    watcher.close();
  }
  print(formatDoneLine({ orders, outcomes: run.lines, rejections: 0 }));
  return EXIT.ok;
}

/**
 * The spool entries of this run. A spool that refuses a write costs only
 * the safety net: this process still waits for the deadline itself.
 */
class SpooledPromises {
  constructor(
    private readonly spool: DeadlineSpool,
    private readonly writer: SpoolWriter | undefined,
    private readonly warn: (line: string) => void,
  ) {}

  made(order: Order, deadlineMs: number): void {
    const pid = order.identity.pid;
    if (this.writer === undefined) {
      this.warn(
        `deadline of pid ${pid} not spooled: /proc does not show this ` +
          'process; only this process keeps it',
      );
      return;
    }
    try {
      this.spool.write(order, deadlineMs, this.writer);
    } catch (error) {
      this.warn(
        `deadline of pid ${pid} not spooled in ${this.spool.dir}: ` +
          `${(error as Error).message}; only this process keeps it`,
      );
    }
  }

  kept(order: Order): void {
    try {
      this.spool.remove(order);
    } catch (error) {
      this.warn(
        `spooled deadline of pid ${order.identity.pid} not removed from ` +
          `${this.spool.dir}: ${(error as Error).message}; the agent ` +
          'will find the worker settled',
      );
    }
  }
}

/** Prints the outcome lines of one command and counts them. */
class OrderRun {
  lines = 0;

  constructor(
    private readonly batch: OrderBatch,
    private readonly localInstance: string,
    private readonly now: () => number,
    private readonly print: (line: string) => void,
  ) {}

  /**
   * Why no order of the batch may run here, checked before the executor
   * (which checks both again right before it acts).
   */
  refusal(order: Order): Outcome | undefined {
    const at = this.now();
    const why = this.batchRefusal(at);
    if (why === undefined) return undefined;
    return refused(
      `${why}; order for pid ${order.identity.pid} not carried out`,
      at,
    );
  }

  /** Why no order of the batch may run here now, if none may. */
  batchRefusal(at: number = this.now()): string | undefined {
    const notAfterMs = this.batch.notAfter * 1000;
    if (at > notAfterMs) {
      return (
        `the command's notAfter ${new Date(notAfterMs).toISOString()} has ` +
        `passed (it is ${new Date(at).toISOString()})`
      );
    }
    if (this.batch.instanceId !== this.localInstance) {
      return (
        `instanceId must be this instance '${this.localInstance}', got ` +
        `'${this.batch.instanceId}'`
      );
    }
    return undefined;
  }

  report(
    order: Order,
    step: OutcomeReport['step'],
    outcome: Outcome,
    deadline?: number,
    hostWaits?: boolean,
  ): void {
    this.print(
      formatOutcomeLine({
        pid: order.identity.pid,
        startTime: order.identity.startTime,
        step,
        status: outcome.status,
        reason: outcome.reason,
        at: outcome.at,
        ...(deadline !== undefined && { deadline, hostWaits }),
      }),
    );
    this.lines++;
  }
}

/** When the SIGKILL is due, for a graceful or orphan step that was sent. */
function deadlineAfter(
  graceSeconds: number | undefined,
  outcome: Outcome,
): number | undefined {
  const sent = outcome.status === 'detached' || outcome.status === 'signalled';
  if (!sent || graceSeconds === undefined) return undefined;
  return outcome.at + graceSeconds * 1000;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The forced kill at the deadline. It carries no notAfter: the command's
 * notAfter limits when the graceful step may start, and the deadline that
 * step set lies after it by design.
 */
function forceKillOf(order: Order): Order {
  return {
    identity: order.identity,
    app: order.app,
    action: 'force-kill',
    ...(order.measure && { measure: order.measure }),
    ...(order.uid !== undefined && { uid: order.uid }),
  };
}

function refused(reason: string, at: number): Outcome {
  return { status: 'refused', reason, at };
}

function thisInstance(
  flags: ExecuteFlags,
  env: Readonly<Record<string, string | undefined>>,
): string {
  const id = flags.host ?? env[INSTANCE_ID_VARIABLE];
  if (id === undefined || id.trim() === '') {
    throw new CliError(
      `this instance's id is unknown: ${INSTANCE_ID_VARIABLE} is not set ` +
        '(the SSM Agent sets it for every command) and --host was not given',
      EXIT.usage,
    );
  }
  return id;
}

function toolTimeout(raw: string): number {
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 600) {
    throw new CliError(
      `--tool-timeout must be a number of seconds from 1 to 600, got ` +
        JSON.stringify(raw),
      EXIT.usage,
    );
  }
  return seconds * 1000;
}
