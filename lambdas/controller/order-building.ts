/**
 * From decisions to orders, and from orders to the SSM command's
 * parameters. An order is written to the store (claimed) before it is
 * sent, and its parameters are rebuilt from the stored order alone, so a
 * retry sends exactly what was claimed.
 */
import type { FleetDecision, FleetMark } from '../../core/fleet-policy.ts';
import {
  encodeOrderParameters,
  type OrderParameters,
  type WireOrder,
  type WirePick,
} from '../../core/order-codec.ts';
import { MAX_WORKERS_PER_COMMAND } from '../../core/order-items.ts';
import type { NewOrder, PickRequest } from '../store/order-records.ts';
import type { MarkRecord } from '../store/record-store.ts';

/** SendCommand's smallest TimeoutSeconds: undelivered by then, never run. */
export const DELIVERY_TIMEOUT_SECONDS = 30;
/**
 * The host refuses an order after this. Delivery takes at most the
 * timeout above; the rest covers the host's clock and its start-up.
 */
export const NOT_AFTER_WINDOW_MS = 60_000;

type PickDecision = Extract<FleetDecision, { kind: 'pick' }>;
type OrphanDecision = Extract<FleetDecision, { kind: 'pick-orphans' }>;

/** The pick and orphan pick for one host-app, sent as one command. */
export interface HostAppPicks {
  readonly host: string;
  readonly app: string;
  readonly pick?: PickDecision;
  readonly orphans?: OrphanDecision;
}

/** Groups pick decisions by host-app, in the order they were decided. */
export function groupPicks(
  decisions: readonly FleetDecision[],
): HostAppPicks[] {
  const groups = new Map<string, HostAppPicks>();
  for (const decision of decisions) {
    if (decision.kind !== 'pick' && decision.kind !== 'pick-orphans') continue;
    const key = `${decision.host}\n${decision.app}`;
    const group = groups.get(key) ?? { host: decision.host, app: decision.app };
    groups.set(
      key,
      decision.kind === 'pick'
        ? { ...group, pick: decision }
        : { ...group, orphans: decision },
    );
  }
  return [...groups.values()];
}

export function pickOrder(
  group: HostAppPicks,
  orderId: string,
  now: number,
): NewOrder {
  const { pick, orphans } = group;
  const count = pick?.count ?? 0;
  // A command touches at most MAX_WORKERS_PER_COMMAND workers in all;
  // workers over their limit come first.
  const orphanCount = Math.min(
    orphans?.count ?? 0,
    MAX_WORKERS_PER_COMMAND - count,
  );
  const request: PickRequest = {
    count,
    ...(pick && {
      graceful: pick.graceful,
      graceSeconds: pick.graceSeconds,
      limitKb: pick.limitKb,
    }),
    ...(orphans &&
      orphanCount > 0 && {
        orphanCount,
        orphanGraceSeconds: orphans.graceSeconds,
      }),
  };
  return {
    host: group.host,
    app: group.app,
    kind: 'pick',
    orderId,
    measure: pick?.measure ?? orphans?.measure ?? 'private',
    notAfter: now + NOT_AFTER_WINDOW_MS,
    pick: request,
  };
}

export function forceKillOrder(
  mark: FleetMark | MarkRecord,
  measure: NewOrder['measure'],
  uid: number | undefined,
  orderId: string,
  now: number,
): NewOrder {
  return {
    host: mark.identity.host,
    app: mark.app,
    kind: 'force-kill',
    orderId,
    measure,
    notAfter: now + NOT_AFTER_WINDOW_MS,
    identity: mark.identity,
    ...(uid === undefined ? {} : { uid }),
  };
}

/**
 * The command's parameters. Throws OrderCodecError if the order could not
 * pass SSM's patterns or the host's checks: a controller bug shows here.
 */
export function orderParameters(order: NewOrder, now: number): OrderParameters {
  const orders: WireOrder[] = [];
  const picks: WirePick[] = [];
  if (order.kind === 'force-kill' && order.identity !== undefined) {
    orders.push({
      pid: order.identity.pid,
      startTime: order.identity.startTime,
      action: 'force-kill',
      ...(order.uid === undefined ? {} : { uid: order.uid }),
    });
  }
  const request = order.pick;
  if (order.kind === 'pick' && request !== undefined) {
    const { graceful, graceSeconds, limitKb } = request;
    if (request.count > 0 && graceful && graceSeconds && limitKb) {
      picks.push({
        kind: 'pick',
        count: request.count,
        graceful,
        graceSeconds,
        limitKb,
      });
    }
    if (request.orphanCount && request.orphanGraceSeconds) {
      picks.push({
        kind: 'pick-orphans',
        count: request.orphanCount,
        graceSeconds: request.orphanGraceSeconds,
      });
    }
  }
  return encodeOrderParameters(
    {
      instanceId: order.host,
      app: order.app,
      measure: order.measure,
      notAfter: Math.floor(order.notAfter / 1000),
      orders,
      ...(picks.length > 0 && { picks }),
    },
    now,
  );
}
