/**
 * The controller's AWS ports in memory, for tests and the fleet
 * simulator: fleet metrics set by the caller, and a command port whose
 * host side is played by a function. Both count their calls and can be
 * made to fail, as a throttled service would.
 */
import type { OrderParameters } from '../../core/order-codec.ts';
import type {
  CommandPort,
  CommandResult,
  CommandStatus,
  SentCommand,
} from '../ports/commands.ts';
import type {
  FleetCensus,
  FleetMetricsReader,
  HostAppTrouble,
} from '../ports/fleet-metrics.ts';

export class InMemoryFleetMetrics implements FleetMetricsReader {
  trouble: HostAppTrouble[] = [];
  census: FleetCensus = { apps: [], agents: 0, at: 0 };
  /** Host → epoch ms of its newest heartbeat. */
  readonly heartbeats = new Map<string, number>();
  readonly calls = { readTrouble: 0, readCensus: 0, silentHosts: 0 };
  #failure: Error | undefined;

  /** Every read throws this until called again with undefined. */
  failWith(error: Error | undefined): void {
    this.#failure = error;
  }

  async readTrouble(): Promise<HostAppTrouble[]> {
    this.calls.readTrouble++;
    this.#check();
    return [...this.trouble];
  }

  async readCensus(): Promise<FleetCensus> {
    this.calls.readCensus++;
    this.#check();
    return this.census;
  }

  async silentHosts(
    hosts: readonly string[],
    now: number,
    silentAfterMs: number,
  ): Promise<string[]> {
    this.calls.silentHosts++;
    this.#check();
    return hosts.filter(
      (host) => now - (this.heartbeats.get(host) ?? -Infinity) > silentAfterMs,
    );
  }

  #check(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

/** A command as the host side sees it. */
export interface DeliveredCommand extends SentCommand {
  readonly parameters: OrderParameters;
  readonly deliveryTimeoutSeconds: number;
  readonly orderId: string;
}

export interface HostReply {
  readonly status: CommandStatus;
  readonly stdout: string;
}

/** Plays the host: what it answers to a command, when asked. */
export type HostPlayer = (command: DeliveredCommand) => HostReply;

export class InMemoryCommandPort implements CommandPort {
  /** Every command sent, in order. */
  readonly sent: DeliveredCommand[] = [];
  readonly calls = { send: 0, results: 0, find: 0 };
  readonly #replies = new Map<string, HostReply>();
  readonly #play: HostPlayer | undefined;
  readonly #clock: () => number;
  #failure: { send?: Error; results?: Error; find?: Error } = {};
  #lostSendAnswers: { error: Error; every: number } | undefined;
  #sends = 0;
  #next = 0;

  /**
   * Without `play`, every command stays Pending until `reply` is called.
   * `clock` stamps `sentAt`; by default the wall clock.
   */
  constructor(options: { play?: HostPlayer; clock?: () => number } = {}) {
    this.#play = options.play;
    this.#clock = options.clock ?? Date.now;
  }

  /** Sets what the host has answered so far to a command. */
  reply(commandId: string, reply: HostReply): void {
    if (!this.sent.some((c) => c.commandId === commandId)) {
      throw new Error(`no command ${commandId} was sent`);
    }
    this.#replies.set(commandId, reply);
  }

  /** Makes a call throw until called again with undefined. */
  failWith(call: 'send' | 'results' | 'find', error: Error | undefined): void {
    this.#failure = { ...this.#failure, [call]: error };
  }

  /**
   * Makes every `every`th `send` send, then throw `error` as if its
   * answer were lost, until called again with undefined.
   */
  loseSendAnswers(error: Error | undefined, every = 1): void {
    this.#lostSendAnswers = error && { error, every };
    this.#sends = 0;
  }

  async send(
    host: string,
    parameters: OrderParameters,
    deliveryTimeoutSeconds: number,
    orderId: string,
  ): Promise<SentCommand> {
    this.calls.send++;
    if (this.#failure.send) throw this.#failure.send;
    this.#next++;
    const command: DeliveredCommand = {
      commandId: `cmd-${String(this.#next).padStart(4, '0')}`,
      host,
      sentAt: this.#clock(),
      parameters,
      deliveryTimeoutSeconds,
      orderId,
    };
    this.sent.push(command);
    if (this.#play) this.#replies.set(command.commandId, this.#play(command));
    const lost = this.#lostSendAnswers;
    if (lost && ++this.#sends % lost.every === 0) throw lost.error;
    return { commandId: command.commandId, host, sentAt: command.sentAt };
  }

  async results(commands: readonly SentCommand[]): Promise<CommandResult[]> {
    this.calls.results++;
    if (this.#failure.results) throw this.#failure.results;
    return commands.map(({ commandId, host }) => {
      const reply = this.#replies.get(commandId) ?? {
        status: 'Pending' as const,
        stdout: '',
      };
      return { commandId, host, ...reply };
    });
  }

  async find(
    host: string,
    orderId: string,
    sentBetween: readonly [number, number],
  ): Promise<SentCommand | undefined> {
    this.calls.find++;
    if (this.#failure.find) throw this.#failure.find;
    const [from, to] = sentBetween;
    const found = this.sent.find(
      (c) =>
        c.host === host &&
        c.orderId === orderId &&
        c.sentAt >= from &&
        c.sentAt <= to,
    );
    return found && { commandId: found.commandId, host, sentAt: found.sentAt };
  }
}
