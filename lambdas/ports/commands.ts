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
   * TimeoutSeconds: an order not delivered by then never runs. `orderId`,
   * when given, goes into the command's comment for the audit trail.
   */
  send(
    host: string,
    parameters: OrderParameters,
    deliveryTimeoutSeconds: number,
    orderId?: string,
  ): Promise<SentCommand>;
  /** Current status and output of earlier commands. */
  results(commands: readonly SentCommand[]): Promise<CommandResult[]>;
}
