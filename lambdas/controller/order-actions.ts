/**
 * Carries out the fleet policy's decisions: each order is claimed in the
 * record store (a conditional write) before its command is sent, and a
 * claim another tick won means this tick sends nothing for it.
 *
 * A send SSM surely refused: a pick is finished as `send-failed` and the
 * next tick decides again from fresh metrics; a forced kill stays claimed
 * and a later tick claims it again and re-sends it, since the mark can be
 * force-killed only once.
 *
 * A send whose answer was lost, or whose `orderSent` write failed, may
 * have reached the host: the order stays claimed, and later ticks look
 * its command up by order id before anything else happens to it.
 *
 *   claimed ──(stale: RESEND_AFTER_MS)──> find(order id)
 *     found                      record it sent; its report is read back
 *     none, a forced kill        claim again and send again (the host
 *                                re-checks the worker, so a second copy
 *                                finds it gone)
 *     none, a pick, before       wait: a late command may still show up
 *       notAfter + SETTLED_MS
 *     none, a pick, after        finished `not-sent`: had it run, SSM
 *                                would list it; arriving now, the host
 *                                refuses it
 *     lookup failed              the next tick looks again
 */
import type { FleetDecision } from '../../core/fleet-policy.ts';
import { OrderCodecError } from '../../core/order-codec.ts';
import { identityKey } from '../../core/worker.ts';
import {
  CommandNotSentError,
  type CommandPort,
  type SentCommand,
} from '../ports/commands.ts';
import { RaceLostError } from '../store/errors.ts';
import {
  OrderRaceLostError,
  type NewOrder,
  type OrderRecord,
} from '../store/order-records.ts';
import type { MarkRecord, RecordStore } from '../store/record-store.ts';
import type { ApiCall, ControllerLog } from './controller-ports.ts';
import {
  DELIVERY_TIMEOUT_SECONDS,
  forceKillOrder,
  groupPicks,
  NOT_AFTER_WINDOW_MS,
  orderParameters,
  pickOrder,
} from './order-building.ts';

/**
 * A claimed order older than this was left by a tick that failed to send
 * it (or died); younger, another tick may be sending it right now.
 */
export const RESEND_AFTER_MS = 30_000;

/**
 * A pick whose command is not found this long after its notAfter was
 * never sent: a command created in time was delivered or timed out by
 * notAfter plus the delivery timeout, and SSM lists what it delivered;
 * the rest is for SSM's listing to catch up.
 */
export const SETTLED_MS = DELIVERY_TIMEOUT_SECONDS * 1000 + 30_000;

/**
 * Where a lookup searches, around the claim: a tick sends right after it
 * claims, within its Lambda timeout (at most 15 minutes), and the clocks
 * of the Lambda and SSM may differ a little.
 */
const CLOCK_SKEW_MS = 5 * 60_000;
/**
 * Orders one tick looks up at most: lookups are for the rare lost send,
 * and a backlog (after an outage, say) must not eat the tick's time.
 */
export const MAX_LOOKUPS_PER_TICK = 25;
const LONGEST_TICK_MS = 15 * 60_000;

export interface OrderActionDeps {
  readonly store: RecordStore;
  readonly commands: CommandPort;
  readonly log: ControllerLog;
  readonly newOrderId: () => string;
  readonly counted: <T>(call: ApiCall, run: () => Promise<T>) => Promise<T>;
  readonly failed: (step: string, error: unknown, consequence: string) => void;
  readonly now: number;
}

type SendOutcome = 'sent' | 'send-failed' | 'send-unknown' | 'invalid';

export class OrderActions {
  picksSent = 0;
  forceKillsSent = 0;
  racesLost = 0;
  readonly #deps: OrderActionDeps;

  constructor(deps: OrderActionDeps) {
    this.#deps = deps;
  }

  async carryOut(
    decisions: readonly FleetDecision[],
    openMarks: ReadonlyMap<string, MarkRecord>,
  ): Promise<void> {
    for (const decision of decisions) {
      if (decision.kind === 'pick' || decision.kind === 'pick-orphans')
        continue;
      if (decision.kind === 'force-kill') {
        const mark = openMarks.get(identityKey(decision.mark.identity));
        await this.#forceKill(decision, mark);
        continue;
      }
      this.#logDecision(decision, undefined, 'none');
    }
    for (const group of groupPicks(decisions)) {
      const order = pickOrder(group, this.#deps.newOrderId(), this.#deps.now);
      const outcome = await this.#claimAndSend(order);
      for (const decision of [group.pick, group.orphans]) {
        if (decision) this.#logDecision(decision, order.orderId, outcome);
      }
      if (outcome === 'sent') this.picksSent++;
    }
  }

  /**
   * Orders claimed and not known to be sent (a tick died, a send's answer
   * or its record was lost), and forced kills claimed without an order.
   */
  async settleUnsent(
    orders: readonly OrderRecord[],
    openMarks: ReadonlyMap<string, MarkRecord>,
  ): Promise<void> {
    const { now } = this.#deps;
    const stale = (at: number) => at + RESEND_AFTER_MS <= now;
    // Forced kills first: their deadlines have passed already.
    const unsent = orders
      .filter((o) => o.state === 'claimed' && stale(o.claimedAt))
      .sort(
        (a, b) =>
          Number(a.kind === 'pick') - Number(b.kind === 'pick') ||
          a.claimedAt - b.claimedAt,
      );
    for (const order of unsent.slice(0, MAX_LOOKUPS_PER_TICK)) {
      // A failed lookup (throttled, say): the rest wait for next tick.
      if (!(await this.#settle(order))) break;
    }
    const killing = new Set(
      orders
        .filter((o) => o.kind === 'force-kill' && o.identity)
        .map((o) =>
          identityKey(o.identity ?? { host: '', pid: 0, startTime: 0 }),
        ),
    );
    for (const mark of openMarks.values()) {
      if (mark.state !== 'force-kill-claimed') continue;
      if (killing.has(identityKey(mark.identity))) continue;
      if (!stale(mark.forceKillClaimedAt ?? mark.claimedAt)) continue;
      const order = this.#killOrderFor(mark);
      if ((await this.#claimAndSend(order)) === 'sent') this.forceKillsSent++;
    }
  }

  /** False when the lookup failed. */
  async #settle(order: OrderRecord): Promise<boolean> {
    const { store, commands, counted, failed, now } = this.#deps;
    let found: SentCommand | undefined;
    try {
      found = await counted('find', () =>
        commands.find(order.host, order.orderId, [
          order.claimedAt - CLOCK_SKEW_MS,
          order.claimedAt + LONGEST_TICK_MS + CLOCK_SKEW_MS,
        ]),
      );
    } catch (error) {
      failed(
        `look up order ${order.orderId} on ${order.host}`,
        error,
        'it and the orders after it stay claimed and are looked up next tick',
      );
      return false;
    }
    if (found !== undefined) {
      try {
        await store.orderSent(order, found.commandId, now);
      } catch (error) {
        if (!(error instanceof OrderRaceLostError)) throw error;
        this.racesLost++;
        return true;
      }
      this.#logSettled(order, 'found', found.commandId);
      return true;
    }
    if (order.kind === 'pick') {
      if (now < order.notAfter + SETTLED_MS) {
        this.#logSettled(order, 'waiting', null);
        return true;
      }
      await this.#finish(
        order,
        'not-sent',
        'claimed, and no command for it was found after its notAfter',
      );
      this.#logSettled(order, 'not-sent', null);
      return true;
    }
    let again: OrderRecord;
    try {
      again = await store.reclaimOrder(order, now + NOT_AFTER_WINDOW_MS, now);
    } catch (error) {
      if (!(error instanceof OrderRaceLostError)) throw error;
      this.racesLost++;
      return true;
    }
    this.#logSettled(order, 'sent-again', null);
    if ((await this.#send(again)) === 'sent') this.forceKillsSent++;
    return true;
  }

  /** One line per order looked up, with what became of it. */
  #logSettled(
    order: OrderRecord,
    outcome: 'found' | 'waiting' | 'not-sent' | 'sent-again',
    commandId: string | null,
  ): void {
    this.#deps.log.info('unsent order looked up', {
      host: order.host,
      app: order.app,
      decision: order.kind,
      orderId: order.orderId,
      attempt: order.attempt,
      commandId,
      outcome,
    });
  }

  async #forceKill(
    decision: Extract<FleetDecision, { kind: 'force-kill' }>,
    mark: MarkRecord | undefined,
  ): Promise<void> {
    if (mark === undefined) {
      this.#logDecision(decision, undefined, 'mark-gone');
      return;
    }
    try {
      await this.#deps.store.claimForceKill(mark, this.#deps.now);
    } catch (error) {
      if (!(error instanceof RaceLostError)) throw error;
      this.racesLost++;
      this.#logDecision(decision, mark.orderId, 'claim-lost');
      return;
    }
    const order = this.#killOrderFor(mark);
    const outcome = await this.#claimAndSend(order);
    this.#logDecision(decision, order.orderId, outcome);
    if (outcome === 'sent') this.forceKillsSent++;
  }

  #killOrderFor(mark: MarkRecord): NewOrder {
    return forceKillOrder(
      mark,
      mark.measure,
      mark.uid,
      this.#deps.newOrderId(),
      this.#deps.now,
    );
  }

  async #claimAndSend(order: NewOrder): Promise<SendOutcome | 'claim-lost'> {
    let claimed: OrderRecord;
    try {
      claimed = await this.#deps.store.claimOrder(order, this.#deps.now);
    } catch (error) {
      if (!(error instanceof OrderRaceLostError)) throw error;
      this.racesLost++;
      return 'claim-lost';
    }
    return this.#send(claimed);
  }

  async #send(order: OrderRecord): Promise<SendOutcome> {
    const { store, commands, counted, failed, now } = this.#deps;
    let parameters;
    try {
      parameters = orderParameters(order, now);
    } catch (error) {
      if (!(error instanceof OrderCodecError)) throw error;
      this.#deps.log.error('order cannot be encoded; not sent', {
        host: order.host,
        app: order.app,
        orderId: order.orderId,
        error: error.message,
      });
      await this.#finish(order, 'invalid', error.message);
      return 'invalid';
    }
    let commandId: string;
    try {
      const sent = await counted('send', () =>
        commands.send(
          order.host,
          parameters,
          DELIVERY_TIMEOUT_SECONDS,
          order.orderId,
        ),
      );
      commandId = sent.commandId;
    } catch (error) {
      const step = `send ${order.kind} order ${order.orderId} to ${order.host}`;
      if (!(error instanceof CommandNotSentError)) {
        failed(
          step,
          error,
          'the command may exist: the order stays claimed and is looked ' +
            'up by order id before anything is sent again',
        );
        return 'send-unknown';
      }
      const retry = order.kind === 'force-kill';
      failed(
        step,
        error,
        retry
          ? 'the forced kill stays claimed and is sent again next tick'
          : 'the pick is dropped; the next tick decides again',
      );
      if (!retry) await this.#finish(order, 'send-failed', String(error));
      return 'send-failed';
    }
    try {
      await store.orderSent(order, commandId, now);
    } catch (error) {
      failed(
        `record command ${commandId} of order ${order.orderId}`,
        error,
        'the order stays claimed; a later tick finds the command by ' +
          'order id and reads its outcome back',
      );
    }
    return 'sent';
  }

  async #finish(
    order: OrderRecord,
    status: string,
    reason: string,
  ): Promise<void> {
    const { now } = this.#deps;
    try {
      await this.#deps.store.finishOrder(
        order,
        { status, reason, at: now },
        now,
      );
    } catch (error) {
      if (!(error instanceof OrderRaceLostError)) throw error;
      this.racesLost++;
    }
  }

  #logDecision(
    decision: FleetDecision,
    orderId: string | undefined,
    outcome: string,
  ): void {
    const count = 'count' in decision ? decision.count : undefined;
    const fields = {
      host: decision.host,
      app: decision.app,
      decision: decision.kind,
      reason: decision.reason,
      count: count ?? null,
      orderId: orderId ?? null,
      outcome,
      ...('mark' in decision && {
        pid: decision.mark.identity.pid,
        startTime: decision.mark.identity.startTime,
      }),
    };
    this.#deps.log.info('decision', fields);
  }
}
