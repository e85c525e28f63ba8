/**
 * How the controller sends orders to hosts (SSM Run Command with the
 * document of lambdas/ssm/) and reads back what each host reported.
 */
import type { OrderParameters } from '../../core/order-codec.ts';

export interface SentCommand {
  readonly commandId: string;
  readonly host: string;
  /** Epoch ms. */
  readonly sentAt: number;
}

/** Terminal and pending statuses of one command on one host. */
export type CommandStatus =
  | 'Pending'
  | 'InProgress'
  | 'Delayed'
  | 'Success'
  | 'DeliveryTimedOut'
  | 'ExecutionTimedOut'
  | 'Failed'
  | 'Cancelled'
  | 'Undeliverable'
  | 'Terminated';

export interface CommandResult {
  readonly commandId: string;
  readonly host: string;
  readonly status: CommandStatus;
  /** The first 24,000 characters of stdout, once there is any. */
  readonly stdout: string;
}

export interface CommandPort {
  /**
   * One command to one host. `deliveryTimeoutSeconds` is SendCommand's
   * TimeoutSeconds: an order not delivered by then never runs. `orderId`
   * goes with the command, so that `find` can tell it again.
   *
   * Throws CommandNotSentError when the service surely took nothing. Any
   * other error leaves it open whether the command exists and will run.
   */
  send(
    host: string,
    parameters: OrderParameters,
    deliveryTimeoutSeconds: number,
    orderId: string,
  ): Promise<SentCommand>;
  /** Current status and output of earlier commands. */
  results(commands: readonly SentCommand[]): Promise<CommandResult[]>;
  /**
   * The command sent to `host` for `orderId` within `sentBetween` (epoch
   * ms, both ends included), if the service has one: how a caller whose
   * `send` failed without an answer, or who lost what `send` answered,
   * learns whether the command exists. Undefined only when the whole
   * window was read and holds none; throws when that is not known.
   */
  find(
    host: string,
    orderId: string,
    sentBetween: readonly [number, number],
  ): Promise<SentCommand | undefined>;
}

/**
 * `send` failed and the service surely took nothing: it refused or
 * throttled the call. Sending again cannot make a second copy.
 */
export class CommandNotSentError extends Error {
  readonly host: string;

  constructor(host: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CommandNotSentError';
    this.host = host;
  }
}
