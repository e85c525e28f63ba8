/**
 * Carries out one order on this host: re-check the target, then act.
 *
 * Every step re-reads the process right before it is touched (see
 * verify.ts), and every way things can go wrong (a vanished process, a
 * missing or hung tool, a refusal, a bug) ends as an outcome with a
 * reason, never as an exception: the caller logs outcomes, and one bad
 * order must not stop the others.
 */
import {
  GRACEFUL_SIGNALS,
  PID_PLACEHOLDER,
  type GracefulSignal,
} from '../core/actions.ts';
import { classifyTitle } from '../core/classify.ts';
import type { Order, OrderAction, Outcome } from '../core/order.ts';
import type { PassengerTools, ProcSource, Signaller } from './host.ts';
import { readPoolView, type PoolView } from './pool-view.ts';
import { toolFailure, withBackstop } from './tool-calls.ts';
import { exitedSince, verifyTarget, type Verdict } from './verify.ts';

export interface ExecutorOptions {
  /** This host's name, which every order must carry. */
  readonly host: string;
  readonly proc: ProcSource;
  readonly tools: PassengerTools;
  /** @default process.kill */
  readonly signaller?: Signaller;
  readonly now: () => number;
  /** Never a target. @default process.pid */
  readonly selfPid?: number;
  /** Never a target. @default process.ppid */
  readonly parentPid?: number;
  /** How long a SIGKILLed process may take to vanish. @default 2000 */
  readonly killConfirmMs?: number;
  /** How often to look whether it has. @default 20 */
  readonly killPollMs?: number;
  /**
   * A backstop over the tools' own timeouts, so that a tool that never
   * answers cannot hold an order for ever. @default 60000
   */
  readonly toolBackstopMs?: number;
}

type StepResult = Omit<Outcome, 'at'>;

const processKill: Signaller = {
  kill: (pid, signal) => {
    process.kill(pid, signal);
  },
};

export class Executor {
  readonly #options: ExecutorOptions;
  readonly #signaller: Signaller;
  readonly #selfPid: number;
  readonly #parentPid: number;
  readonly #backstopMs: number;

  constructor(options: ExecutorOptions) {
    this.#options = options;
    this.#signaller = options.signaller ?? processKill;
    this.#selfPid = options.selfPid ?? process.pid;
    this.#parentPid = options.parentPid ?? process.ppid;
    this.#backstopMs = options.toolBackstopMs ?? 60_000;
  }

  /** Re-checks and carries out one order; never throws. */
  async carryOut(order: Order): Promise<Outcome> {
    let result: StepResult;
    try {
      result = await this.#dispatch(order);
    } catch (error) {
      const pid = order?.identity?.pid;
      result = {
        status: 'failed',
        reason:
          `carrying out ${order?.action} for pid ${pid} failed ` +
          `unexpectedly: ${messageOf(error)}`,
      };
    }
    return { ...result, at: this.#options.now() };
  }

  #dispatch(order: Order): Promise<StepResult> {
    switch (order.action) {
      case 'graceful':
        return this.#graceful(order);
      case 'force-kill':
        return this.#forceKill(order);
      case 'orphan-term':
        return this.#orphanTerm(order);
      default:
        return Promise.resolve(
          refused(
            `order.action must be graceful, force-kill or orphan-term, ` +
              `got '${String((order as { action: unknown }).action)}'`,
          ),
        );
    }
  }

  async #graceful(order: Order): Promise<StepResult> {
    const pid = order.identity.pid;
    const action = order.graceful;
    if (action === undefined) {
      return refused(
        `order.graceful must name the graceful action for pid ${pid}, ` +
          'got nothing',
      );
    }
    // Only detach needs the pool: it works on pids Passenger lists.
    const pool = action.type === 'detach' ? await this.#readPool() : undefined;
    const verdict = this.#verify(order, 'graceful', pool);
    if (!verdict.ok) return stopped(verdict);

    switch (action.type) {
      case 'detach':
        return this.#detach(pid, verdict.title);
      case 'signal':
        return this.#gracefulSignal(order, action.signal);
      case 'command':
        return this.#runCommand(pid, action.argv);
      default:
        return refused(
          `order.graceful.type must be detach, signal or command, got ` +
            `'${String((action as { type: unknown }).type)}'`,
        );
    }
  }

  async #detach(pid: number, title: string): Promise<StepResult> {
    const result = await withBackstop(
      this.#options.tools.detach(pid),
      `passenger-config detach-process ${pid}`,
      this.#backstopMs,
    );
    const failure = toolFailure(
      result,
      'passenger-config',
      `passenger-config detach-process ${pid}`,
    );
    if (failure !== undefined) return { status: 'failed', reason: failure };
    return {
      status: 'detached',
      reason: `pid ${pid} ('${title}') was detached from Passenger's pool`,
    };
  }

  #gracefulSignal(order: Order, signal: GracefulSignal): StepResult {
    const pid = order.identity.pid;
    if (!(GRACEFUL_SIGNALS as readonly string[]).includes(signal)) {
      return refused(
        `order.graceful.signal must be one of ${GRACEFUL_SIGNALS.join(', ')}, ` +
          `got '${signal}'`,
      );
    }
    // Time may have passed since the first check: check once more, as
    // close to the signal as we can.
    const verdict = this.#verify(order, 'graceful');
    if (!verdict.ok) return stopped(verdict);
    const kind = classifyTitle(verdict.title).kind;
    if (signal === 'USR1' && (kind === 'node' || kind === 'meteor')) {
      return refused(
        `pid ${pid} is a ${kind} worker, and USR1 would open its Node ` +
          'inspector instead of stopping it; refusing',
      );
    }
    const failure = this.#send(pid, `SIG${signal}`);
    if (failure !== undefined) return failure;
    return {
      status: 'signalled',
      reason: `sent SIG${signal} to pid ${pid} ('${verdict.title}')`,
    };
  }

  async #runCommand(pid: number, argv: readonly string[]): Promise<StepResult> {
    if (
      !Array.isArray(argv) ||
      argv.length === 0 ||
      !argv.every((part) => typeof part === 'string') ||
      argv[0] === ''
    ) {
      return refused(
        'order.graceful.argv must be a non-empty list of strings naming ' +
          `a program, got ${JSON.stringify(argv)}`,
      );
    }
    // Only a whole `{pid}` argument is replaced: nothing is parsed, and
    // nothing ever reaches a shell.
    const withPid = argv.map((part) =>
      part === PID_PLACEHOLDER ? String(pid) : part,
    );
    const program = withPid[0] ?? '';
    const label = `${program} for pid ${pid}`;
    const result = await withBackstop(
      this.#options.tools.run(withPid),
      label,
      this.#backstopMs,
    );
    const failure = toolFailure(result, program, label);
    if (failure !== undefined) return { status: 'failed', reason: failure };
    return { status: 'signalled', reason: `ran ${label}: exit 0` };
  }

  async #forceKill(order: Order): Promise<StepResult> {
    const pid = order.identity.pid;
    const verdict = this.#verify(order, 'force-kill');
    if (!verdict.ok) return stopped(verdict);
    const failure = this.#send(pid, 'SIGKILL');
    if (failure !== undefined) return failure;
    return this.#confirmGone(order, verdict.title);
  }

  /** SIGKILL cannot be caught, but a process in D state dies late. */
  async #confirmGone(order: Order, title: string): Promise<StepResult> {
    const confirmMs = this.#options.killConfirmMs ?? 2000;
    const pollMs = this.#options.killPollMs ?? 20;
    const looks = Math.max(1, Math.ceil(confirmMs / pollMs)) + 1;
    for (let look = 0; look < looks; look++) {
      if (look > 0) await sleep(pollMs);
      if (exitedSince(this.#options.proc, order.identity) !== undefined) {
        return {
          status: 'killed',
          reason: `pid ${order.identity.pid} ('${title}') was SIGKILLed and is gone`,
        };
      }
    }
    const stat = this.#options.proc.stat(order.identity.pid);
    const state = stat.ok ? `state ${stat.value.state}` : stat.failure;
    return {
      status: 'failed',
      reason:
        `pid ${order.identity.pid} was sent SIGKILL but still ran after ` +
        `${confirmMs} ms (${state})`,
    };
  }

  async #orphanTerm(order: Order): Promise<StepResult> {
    const pid = order.identity.pid;
    const pool = await this.#readPool();
    const verdict = this.#verify(order, 'orphan-term', pool);
    if (!verdict.ok) return stopped(verdict);
    const failure = this.#send(pid, 'SIGTERM');
    if (failure !== undefined) return failure;
    return {
      status: 'signalled',
      reason: `sent SIGTERM to orphan pid ${pid} ('${verdict.title}')`,
    };
  }

  #readPool(): Promise<PoolView> {
    return readPoolView(this.#options.tools, this.#backstopMs);
  }

  #verify(order: Order, step: OrderAction, pool?: PoolView): Verdict {
    return verifyTarget(order, step, {
      host: this.#options.host,
      proc: this.#options.proc,
      now: this.#options.now(),
      selfPid: this.#selfPid,
      parentPid: this.#parentPid,
      ...(pool === undefined ? {} : { pool }),
    });
  }

  /** Undefined when sent; otherwise the outcome that ends the step. */
  #send(pid: number, signal: NodeJS.Signals): StepResult | undefined {
    try {
      this.#signaller.kill(pid, signal);
      return undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException)?.code === 'ESRCH') {
        return {
          status: 'gone',
          reason: `pid ${pid} exited before ${signal} reached it`,
        };
      }
      return {
        status: 'failed',
        reason: `sending ${signal} to pid ${pid} failed: ${messageOf(error)}`,
      };
    }
  }
}

/** The outcome of a target that failed its re-check. */
function stopped(verdict: Extract<Verdict, { ok: false }>): StepResult {
  return { status: verdict.status, reason: verdict.reason };
}

function refused(reason: string): StepResult {
  return { status: 'refused', reason };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
