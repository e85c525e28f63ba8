/**
 * SSM Run Command in memory: the controller's CommandPort, with the
 * delivery SSM gives in practice. Most commands reach the host within
 * seconds; some arrive late, some never do. A command not started
 * within its delivery timeout never runs and ends DeliveryTimedOut; one
 * that starts late but within it runs, and the host refuses its orders
 * if their `notAfter` has passed (sim/host-side.ts).
 *
 * Every call is counted: SendCommand, one GetCommandInvocation per
 * command whose result is asked for, and one ListCommandInvocations page
 * per lookup by order id. Run Command itself costs nothing on EC2; the
 * counts are for API calls per tick.
 */
import type { OrderParameters } from '../core/order-codec.ts';
import type {
  CommandPort,
  CommandResult,
  CommandStatus,
  SentCommand,
} from '../lambdas/ports/commands.ts';
import type { Scheduler } from './clock.ts';
import type { HostRun, HostSide } from './host-side.ts';
import type { SeededRandom } from './random.ts';
import type { World } from './world.ts';

export interface DeliveryOptions {
  /** Usual time from SendCommand to the script starting. */
  readonly deliveryMs: readonly [number, number];
  /** Share of commands delivered late, and how late. */
  readonly lateShare: number;
  readonly lateMs: readonly [number, number];
  /** Share of commands never delivered. */
  readonly lostShare: number;
}

/**
 * Assumed, not measured: AWS publishes no delivery figures. Late and
 * lost commands are rare in practice; tests raise both shares to make
 * the paths that handle them run often.
 */
export const DEFAULT_DELIVERY: DeliveryOptions = {
  deliveryMs: [500, 4_000],
  lateShare: 0.005,
  lateMs: [30_000, 180_000],
  lostShare: 0.002,
};

export interface CommandUsage {
  readonly sendCommandCalls: number;
  readonly getInvocationCalls: number;
  /** Lookups by order id, one ListCommandInvocations page each. */
  readonly listInvocationCalls: number;
  readonly delivered: number;
  readonly lost: number;
  readonly timedOut: number;
}

interface Command {
  readonly sent: SentCommand;
  readonly orderId: string;
  readonly parameters: OrderParameters;
  readonly timeoutAt: number;
  run?: HostRun;
  /** Set when it will never run. */
  undelivered?: 'DeliveryTimedOut' | 'Undeliverable';
}

export class SimCommands implements CommandPort {
  readonly #world: World;
  readonly #scheduler: Scheduler;
  readonly #hostSide: HostSide;
  readonly #random: SeededRandom;
  readonly #options: DeliveryOptions;
  readonly #commands = new Map<string, Command>();
  /** Order id → its commands, for find. */
  readonly #byOrder = new Map<string, Command[]>();
  #sends = 0;
  #gets = 0;
  #lists = 0;
  #delivered = 0;
  #lost = 0;
  #timedOut = 0;

  constructor(
    world: World,
    scheduler: Scheduler,
    hostSide: HostSide,
    random: SeededRandom,
    options: DeliveryOptions = DEFAULT_DELIVERY,
  ) {
    this.#world = world;
    this.#scheduler = scheduler;
    this.#hostSide = hostSide;
    this.#random = random;
    this.#options = options;
  }

  async send(
    host: string,
    parameters: OrderParameters,
    deliveryTimeoutSeconds: number,
    orderId: string,
  ): Promise<SentCommand> {
    this.#sends++;
    const now = this.#scheduler.clock.now();
    const sent: SentCommand = {
      commandId: `cmd-${this.#sends.toString().padStart(8, '0')}`,
      host,
      sentAt: now,
    };
    const command: Command = {
      sent,
      orderId,
      parameters: { ...parameters },
      timeoutAt: now + deliveryTimeoutSeconds * 1000,
    };
    this.#commands.set(sent.commandId, command);
    this.#byOrder.set(orderId, [
      ...(this.#byOrder.get(orderId) ?? []),
      command,
    ]);
    const target = this.#world.host(host);
    if (target === undefined) {
      command.undelivered = 'Undeliverable';
      return sent;
    }
    const { deliveryMs, lateShare, lateMs, lostShare } = this.#options;
    if (this.#random.chance(lostShare)) {
      this.#lost++;
      return sent;
    }
    const [low, high] = this.#random.chance(lateShare) ? lateMs : deliveryMs;
    const startAt = now + this.#random.between(low, high);
    this.#scheduler.at(startAt, () => {
      if (startAt > command.timeoutAt) return;
      this.#delivered++;
      command.run = this.#hostSide.start(target, command.parameters);
    });
    return sent;
  }

  async results(commands: readonly SentCommand[]): Promise<CommandResult[]> {
    const now = this.#scheduler.clock.now();
    return commands.map((sent) => {
      this.#gets++;
      const command = this.#commands.get(sent.commandId);
      if (command === undefined) {
        return { ...sent, status: 'Failed', stdout: '' };
      }
      return {
        commandId: sent.commandId,
        host: sent.host,
        status: this.#status(command, now),
        stdout: command.run?.stdout.join('\n') ?? '',
      };
    });
  }

  async find(
    host: string,
    orderId: string,
    sentBetween: readonly [number, number],
  ): Promise<SentCommand | undefined> {
    this.#lists++;
    const [from, to] = sentBetween;
    return this.#byOrder
      .get(orderId)
      ?.map((command) => command.sent)
      .find(
        (sent) =>
          sent.host === host && sent.sentAt >= from && sent.sentAt <= to,
      );
  }

  usage(): CommandUsage {
    return {
      sendCommandCalls: this.#sends,
      getInvocationCalls: this.#gets,
      listInvocationCalls: this.#lists,
      delivered: this.#delivered,
      lost: this.#lost,
      timedOut: this.#timedOut,
    };
  }

  #status(command: Command, now: number): CommandStatus {
    if (command.undelivered !== undefined) return command.undelivered;
    const run = command.run;
    if (run === undefined) {
      if (now < command.timeoutAt) return 'Pending';
      command.undelivered = 'DeliveryTimedOut';
      this.#timedOut++;
      return 'DeliveryTimedOut';
    }
    return run.end ?? 'InProgress';
  }
}
