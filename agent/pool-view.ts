/**
 * Passenger's pool as the executor's re-checks need it: which pids it
 * lists, and under which app.
 */
import { parsePoolXml, poolPids } from '../core/pool-status.ts';
import type { AppRef } from '../core/worker.ts';
import type { PassengerTools } from './host.ts';
import { toolFailure, withBackstop } from './tool-calls.ts';

/** `ok: false` when passenger-status gave no usable answer. */
export type PoolView =
  | {
      readonly ok: true;
      readonly members: ReadonlyMap<number, AppRef>;
      /**
       * Parts of the answer that could not be understood. A pool read in
       * part still proves a pid is listed, but never that one is not.
       */
      readonly skipped?: readonly string[];
    }
  | { readonly ok: false; readonly reason: string };

const POOL_CALL = 'passenger-status --show=xml';

/** Asks passenger-status for the pool; never throws for a bad answer. */
export async function readPoolView(
  tools: PassengerTools,
  backstopMs: number,
): Promise<PoolView> {
  const result = await withBackstop(tools.poolXml(), POOL_CALL, backstopMs);
  const failure = toolFailure(result, 'passenger-status', POOL_CALL);
  if (failure !== undefined) return { ok: false, reason: failure };
  const parsed = parsePoolXml(result.stdout);
  if (!parsed.ok) {
    return { ok: false, reason: `${POOL_CALL} gave no pool: ${parsed.reason}` };
  }
  const members = new Map<number, AppRef>();
  for (const [pid, { group }] of poolPids(parsed.snapshot)) {
    const app: AppRef =
      group.appRoot === null
        ? { group: group.name }
        : { group: group.name, root: group.appRoot };
    members.set(pid, app);
  }
  return { ok: true, members, skipped: parsed.skipped };
}
