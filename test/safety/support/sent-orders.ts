/**
 * What the controller actually sent, read back from the command port's
 * record with the real order codec: the pick commands per host-app and
 * the forced kills per worker, so the concurrency suite counts actions
 * from the wire and not from what the controller says it did.
 */
import { decodeOrderParameters } from '../../../core/order-codec.ts';
import { identityKey } from '../../../core/worker.ts';
import type { DeliveredCommand } from '../../../lambdas/controller/in-memory-ports.ts';

export interface SentOrders {
  /** `<host> <app>` → pick commands sent. */
  readonly picksByHostApp: Map<string, number>;
  /** Worker identity key → forced kills sent for it. */
  readonly killsByWorker: Map<string, number>;
  /** Commands whose parameters would not decode: must be none. */
  readonly undecodable: string[];
}

export function readSentOrders(
  commands: readonly DeliveredCommand[],
): SentOrders {
  const picksByHostApp = new Map<string, number>();
  const killsByWorker = new Map<string, number>();
  const undecodable: string[] = [];
  for (const command of commands) {
    const decoded = decodeOrderParameters(command.parameters, command.sentAt);
    if (!decoded.ok) {
      undecodable.push(command.commandId);
      continue;
    }
    const { batch } = decoded;
    if ((batch.picks ?? []).some((pick) => pick.kind === 'pick')) {
      const key = `${command.host} ${batch.app}`;
      picksByHostApp.set(key, (picksByHostApp.get(key) ?? 0) + 1);
    }
    for (const order of batch.orders) {
      if (order.action !== 'force-kill') continue;
      const key = identityKey({
        host: command.host,
        pid: order.pid,
        startTime: order.startTime,
      });
      killsByWorker.set(key, (killsByWorker.get(key) ?? 0) + 1);
    }
  }
  return { picksByHostApp, killsByWorker, undecodable };
}
