/**
 * CommandPort over SSM Run Command, with the Command document of
 * lambdas/ssm/.
 *
 * send: one SendCommand per host. SendCommand takes at most 50 instance
 * ids (a 51st fails with a misleading "Rate exceeded"), but every host
 * gets its own orders here, so a call never names more than one. A
 * throttled SendCommand, which SSM refused, may be retried by the SDK;
 * one whose fate is unknown never is (send-once.ts), and surfaces as
 * CommandOutcomeUnknownError. The order id goes in the Comment.
 *
 * find: the command of an order, by its id (order-command-lookup.ts).
 *
 * results: GetCommandInvocation per command and host, which returns the
 * first 24,000 characters of stdout (ListCommandInvocations gives only
 * 2,500 of a plugin's output). Reads are paced: at most `maxReadsPerCall`
 * calls and `readBudgetMs` per results(), least recently read first, and
 * the first throttled or timed-out read stops the round. Commands not
 * read are simply missing from the answer: ask again next tick. The
 * adaptive client meanwhile slows its later calls. `lastRound` tells what
 * happened, for the controller's log and metrics.
 */
import {
  GetCommandInvocationCommand,
  SendCommandCommand,
  SSMClient,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import type { OrderParameters } from '../../core/order-codec.ts';
import {
  CommandNotSentError,
  type CommandPort,
  type CommandResult,
  type SentCommand,
} from '../ports/commands.ts';
import { sendCommandParameters } from '../ssm/order-document.ts';
import {
  CallTimedOutError,
  CommandOutcomeUnknownError,
  CommandRejectedError,
  DoubtfulDataError,
  describeError,
  ThrottledError,
  withinBudget,
} from './aws-errors.ts';
import { clientConfig, type AwsClientOptions } from './client-options.ts';
import { commandStatusOf } from './command-status.ts';
import { wholeAbove0 } from './option-checks.ts';
import {
  checkOrderId,
  findOrderCommand,
  orderComment,
} from './order-command-lookup.ts';
import { sendOnce, UnknownFate } from './send-once.ts';

/** SendCommand's TimeoutSeconds bounds. */
export const MIN_DELIVERY_TIMEOUT_SECONDS = 30;
export const MAX_DELIVERY_TIMEOUT_SECONDS = 2_592_000;

/** SendCommand's answers that mean: refused, nothing sent. */
const REJECTIONS = new Set([
  'InvalidInstanceId',
  'InvalidDocument',
  'InvalidDocumentVersion',
  'InvalidParameters',
  'InvalidOutputFolder',
  'InvalidRole',
  'InvalidNotificationConfig',
  'DuplicateInstanceId',
  'MaxDocumentSizeExceeded',
  'UnsupportedPlatformType',
  'ValidationException',
  'AccessDeniedException',
]);

export interface SsmCommandPortOptions {
  /** Default: createCommandClient() in the Lambda's region. */
  readonly client?: SSMClient;
  /** The order document's name, as the stack created it. */
  readonly documentName: string;
  /** A pinned version; SSM's default version when left out. */
  readonly documentVersion?: string;
  /** GetCommandInvocation calls per results(). Default 100. */
  readonly maxReadsPerCall?: number;
  /** Time one results() may spend. Default 20 s. */
  readonly readBudgetMs?: number;
  /**
   * ListCommandInvocations pages one find() may read before it gives up,
   * since "not found" must mean the whole window was read. Default 10.
   */
  readonly maxFindPages?: number;
  /** One call, its retries included, gives up after this. Default 10 s. */
  readonly callBudgetMs?: number;
  /** Epoch ms; Date.now by default. */
  readonly now?: () => number;
}

/** What the latest results() did. */
export interface ReadRound {
  readonly asked: number;
  readonly read: number;
  /** Not read this round (cap, budget or throttling): ask again. */
  readonly leftForNextTick: number;
  /** The round stopped early on throttling or a timeout. */
  readonly throttled: boolean;
  /** Reads that failed otherwise, e.g. an unknown command id. */
  readonly failures: readonly {
    readonly commandId: string;
    readonly host: string;
    readonly error: string;
  }[];
  /** Status words this port did not know, read as InProgress. */
  readonly unknownStatuses: readonly string[];
}

export class SsmCommandPort implements CommandPort {
  readonly #client: SSMClient;
  readonly #documentName: string;
  readonly #documentVersion: string | undefined;
  readonly #maxReads: number;
  readonly #readBudgetMs: number;
  readonly #maxFindPages: number;
  readonly #callBudgetMs: number;
  readonly #now: () => number;
  /** Key → round it was last read in, to read the longest-waiting first. */
  #lastRead = new Map<string, number>();
  #round = 0;
  #lastRound: ReadRound | undefined;

  constructor(options: SsmCommandPortOptions) {
    if (!/^[A-Za-z0-9_.:/-]{3,128}$/.test(options.documentName ?? '')) {
      throw new RangeError(
        'documentName must be 3 to 128 letters, digits or _.-:/ ' +
          `(got ${JSON.stringify(options.documentName)})`,
      );
    }
    this.#client = options.client ?? createCommandClient();
    this.#documentName = options.documentName;
    this.#documentVersion = options.documentVersion;
    this.#maxReads = wholeAbove0(
      'maxReadsPerCall',
      options.maxReadsPerCall ?? 100,
    );
    this.#readBudgetMs = wholeAbove0(
      'readBudgetMs',
      options.readBudgetMs ?? 20_000,
    );
    this.#maxFindPages = wholeAbove0(
      'maxFindPages',
      options.maxFindPages ?? 10,
    );
    this.#callBudgetMs = wholeAbove0(
      'callBudgetMs',
      options.callBudgetMs ?? 10_000,
    );
    this.#now = options.now ?? Date.now;
  }

  get lastRound(): ReadRound | undefined {
    return this.#lastRound;
  }

  async send(
    host: string,
    parameters: OrderParameters,
    deliveryTimeoutSeconds: number,
    orderId: string,
  ): Promise<SentCommand> {
    checkOrderId(orderId);
    if (parameters.instanceId !== host) {
      throw new RangeError(
        `parameters.instanceId must be the host the command goes to ` +
          `(${host}), got ${JSON.stringify(parameters.instanceId)}`,
      );
    }
    const timeout = deliveryTimeoutSeconds;
    if (
      !Number.isInteger(timeout) ||
      timeout < MIN_DELIVERY_TIMEOUT_SECONDS ||
      timeout > MAX_DELIVERY_TIMEOUT_SECONDS
    ) {
      throw new RangeError(
        'deliveryTimeoutSeconds must be whole seconds from ' +
          `${MIN_DELIVERY_TIMEOUT_SECONDS} to ${MAX_DELIVERY_TIMEOUT_SECONDS} ` +
          `(got ${timeout})`,
      );
    }

    const command = sendOnce(
      new SendCommandCommand({
        DocumentName: this.#documentName,
        ...(this.#documentVersion === undefined
          ? {}
          : { DocumentVersion: this.#documentVersion }),
        InstanceIds: [host],
        Parameters: sendCommandParameters(parameters),
        TimeoutSeconds: timeout,
        Comment: orderComment(orderId),
        CloudWatchOutputConfig: { CloudWatchOutputEnabled: false },
      }),
    );

    let output;
    try {
      output = await withinBudget(
        'SSM',
        'SendCommand',
        this.#callBudgetMs,
        (abortSignal) => this.#client.send(command, { abortSignal }),
      );
    } catch (error) {
      if (error instanceof UnknownFate) {
        throw new CommandOutcomeUnknownError(host, error.original);
      }
      if (error instanceof Error && REJECTIONS.has(error.name)) {
        throw new CommandRejectedError(host, error);
      }
      if (error instanceof ThrottledError) {
        // Every attempt was refused: send-once.ts lets the SDK retry
        // nothing else.
        throw new CommandNotSentError(
          host,
          `${error.message}; nothing was sent`,
          { cause: error },
        );
      }
      throw error;
    }
    const commandId = output.Command?.CommandId;
    if (!commandId) {
      throw new DoubtfulDataError(
        'SSM',
        'SendCommand',
        `answered for ${host} without a CommandId; the command may run ` +
          'but its outcome cannot be read',
      );
    }
    return { commandId, host, sentAt: this.#now() };
  }

  async results(commands: readonly SentCommand[]): Promise<CommandResult[]> {
    const round = ++this.#round;
    const unique = new Map(commands.map((c) => [keyOf(c), c]));
    // Forget commands no longer asked about, so the map stays small.
    this.#lastRead = new Map(
      [...this.#lastRead].filter(([key]) => unique.has(key)),
    );
    const queue = [...unique.entries()].sort(
      ([a], [b]) => (this.#lastRead.get(a) ?? 0) - (this.#lastRead.get(b) ?? 0),
    );

    const started = this.#now();
    const found = new Map<string, CommandResult>();
    const failures: ReadRound['failures'][number][] = [];
    const unknownStatuses: string[] = [];
    let throttled = false;
    let calls = 0;
    for (const [key, command] of queue) {
      const outOfBudget =
        calls >= this.#maxReads || this.#now() - started >= this.#readBudgetMs;
      if (throttled || outOfBudget) break;
      calls++;
      try {
        const output = await this.#readInvocation(command);
        const result = resultOf(command, output);
        if (!result.known) {
          unknownStatuses.push(`${output.Status}/${output.StatusDetails}`);
        }
        found.set(key, result.result);
      } catch (error) {
        if (error instanceof Error && error.name === 'InvocationDoesNotExist') {
          // SSM has not registered the invocation yet.
          found.set(key, {
            commandId: command.commandId,
            host: command.host,
            status: 'Pending',
            stdout: '',
          });
        } else if (
          error instanceof ThrottledError ||
          error instanceof CallTimedOutError
        ) {
          throttled = true;
          continue;
        } else {
          failures.push({
            commandId: command.commandId,
            host: command.host,
            error: describeError(error),
          });
        }
      }
      this.#lastRead.set(key, round);
    }

    this.#lastRound = {
      asked: unique.size,
      read: found.size,
      leftForNextTick: unique.size - found.size - failures.length,
      throttled,
      failures,
      unknownStatuses,
    };
    // In the order asked, not the order read.
    return [...unique.keys()]
      .map((key) => found.get(key))
      .filter((result): result is CommandResult => result !== undefined);
  }

  find(
    host: string,
    orderId: string,
    sentBetween: readonly [number, number],
  ): Promise<SentCommand | undefined> {
    return findOrderCommand(
      {
        client: this.#client,
        documentName: this.#documentName,
        callBudgetMs: this.#callBudgetMs,
        maxPages: this.#maxFindPages,
      },
      host,
      orderId,
      sentBetween,
    );
  }

  #readInvocation(
    command: SentCommand,
  ): Promise<GetCommandInvocationCommandOutput> {
    return withinBudget(
      'SSM',
      'GetCommandInvocation',
      this.#callBudgetMs,
      (abortSignal) =>
        this.#client.send(
          new GetCommandInvocationCommand({
            CommandId: command.commandId,
            InstanceId: command.host,
          }),
          { abortSignal },
        ),
    );
  }
}

/** A client in adaptive retry mode; see client-options.ts. */
export function createCommandClient(options: AwsClientOptions = {}): SSMClient {
  return new SSMClient(clientConfig(options));
}

function resultOf(
  command: SentCommand,
  output: GetCommandInvocationCommandOutput,
): { result: CommandResult; known: boolean } {
  const { status, known } = commandStatusOf(
    output.Status,
    output.StatusDetails,
    (output.ExecutionStartDateTime ?? '') !== '',
  );
  return {
    result: {
      commandId: command.commandId,
      host: command.host,
      status,
      stdout: output.StandardOutputContent ?? '',
    },
    known,
  };
}

function keyOf(command: SentCommand): string {
  return `${command.commandId}\n${command.host}`;
}
