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
 * find: ListCommandInvocations for the instance and the order document
 * within the time window, matched on the Comment. SSM may leave out an
 * invocation still Pending on the instance; the controller asks again
 * until the order's notAfter plus its delivery timeout have passed, and
 * by then an invocation that can still run has been delivered.
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
  ListCommandInvocationsCommand,
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
import { sendOnce, UnknownFate } from './send-once.ts';

/** SendCommand's TimeoutSeconds bounds. */
export const MIN_DELIVERY_TIMEOUT_SECONDS = 30;
export const MAX_DELIVERY_TIMEOUT_SECONDS = 2_592_000;
/** SendCommand's Comment is at most this long. */
const MAX_COMMENT_LENGTH = 100;
const COMMENT_PREFIX = 'passenger-fleet order ';
/** ListCommandInvocations answers at most 50 a page. */
const LIST_PAGE_SIZE = 50;

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
        Comment: commentFor(orderId),
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

  async find(
    host: string,
    orderId: string,
    sentBetween: readonly [number, number],
  ): Promise<SentCommand | undefined> {
    checkOrderId(orderId);
    const [from, to] = sentBetween;
    if (!(Number.isFinite(from) && Number.isFinite(to) && from <= to)) {
      throw new RangeError(
        'sentBetween must be two epoch ms times, the first not after the ' +
          `second (got ${JSON.stringify(sentBetween)})`,
      );
    }
    const comment = commentFor(orderId);
    let nextToken: string | undefined;
    for (let page = 0; page < this.#maxFindPages; page++) {
      const output = await withinBudget(
        'SSM',
        'ListCommandInvocations',
        this.#callBudgetMs,
        (abortSignal) =>
          this.#client.send(
            new ListCommandInvocationsCommand({
              InstanceId: host,
              Filters: [
                { key: 'DocumentName', value: this.#documentName },
                { key: 'InvokedAfter', value: isoSeconds(from, 'floor') },
                { key: 'InvokedBefore', value: isoSeconds(to, 'ceil') },
              ],
              MaxResults: LIST_PAGE_SIZE,
              NextToken: nextToken,
            }),
            { abortSignal },
          ),
      );
      const match = (output.CommandInvocations ?? []).find(
        (invocation) =>
          invocation.Comment === comment && invocation.InstanceId === host,
      );
      if (match?.CommandId) {
        return {
          commandId: match.CommandId,
          host,
          sentAt: match.RequestedDateTime?.getTime() ?? from,
        };
      }
      nextToken = output.NextToken;
      if (!nextToken) return undefined;
    }
    throw new DoubtfulDataError(
      'SSM',
      'ListCommandInvocations',
      `more than ${this.#maxFindPages} pages of commands between ` +
        `${new Date(from).toISOString()} and ${new Date(to).toISOString()}; ` +
        `order ${orderId} on ${host} is neither found nor ruled out`,
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

function commentFor(orderId: string): string {
  return `${COMMENT_PREFIX}${orderId}`;
}

/** An order id must fit the Comment whole, or find could not match it. */
function checkOrderId(orderId: string): void {
  const room = MAX_COMMENT_LENGTH - COMMENT_PREFIX.length;
  if (typeof orderId !== 'string' || !/^[A-Za-z0-9_.:-]+$/.test(orderId)) {
    throw new RangeError(
      'orderId must be letters, digits or _.:- ' +
        `(got ${JSON.stringify(orderId)})`,
    );
  }
  if (orderId.length > room) {
    throw new RangeError(
      `orderId must be at most ${room} characters to fit the command's ` +
        `Comment (got ${orderId.length})`,
    );
  }
}

/** SSM's filters take whole seconds; round outward to keep the window. */
function isoSeconds(ms: number, round: 'floor' | 'ceil'): string {
  const seconds =
    round === 'floor' ? Math.floor(ms / 1000) : Math.ceil(ms / 1000);
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

function keyOf(command: SentCommand): string {
  return `${command.commandId}\n${command.host}`;
}
