/**
 * Turns the PICK items of one command into exact orders, from this
 * host's own look at its workers (core/pick.ts chooses).
 *
 *   pick          one sample with the pool; the biggest workers over the
 *                 limit become graceful orders for their exact identity.
 *   pick-orphans  a first sample; only if it shows a worker of the app
 *                 missing from the pool, a second one `confirmSeconds`
 *                 later; workers missing from both become orphan-term
 *                 orders.
 *
 * A worker that an exact order of the same command names is never picked:
 * the controller already chose what to do with it. Each order still goes
 * through Executor.carryOut, which re-checks the process before it acts,
 * so a pick never loosens a safety check: it only names the targets.
 */
import { MIN_ORPHAN_CONFIRM_SECONDS } from '../../core/config.ts';
import type { OrderBatch, WirePick } from '../../core/order-codec.ts';
import type { Order } from '../../core/order.ts';
import { pickOrphans, pickVictims } from '../../core/pick.ts';
import type { Observation, Worker } from '../../core/worker.ts';
import { collectSample } from '../collector.ts';
import type { PassengerTools, ProcSource } from '../host.ts';

/** The youngest orphan a pick may take, as the local rules default. */
export const PICK_ORPHAN_MIN_AGE_SECONDS = 60;

export interface PickContext {
  /** This instance's id, which every identity carries. */
  readonly host: string;
  readonly proc: ProcSource;
  readonly tools: PassengerTools;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** One sentence per pick: what it chose, or why nothing. */
  readonly note: (line: string) => void;
  /** Seconds between the two orphan samples. @default 6 */
  readonly confirmSeconds?: number;
}

/** An exact order a pick made, and its grace time. */
export interface PickedOrder {
  readonly order: Order;
  readonly graceSeconds: number;
}

export async function ordersForPicks(
  batch: OrderBatch,
  context: PickContext,
): Promise<PickedOrder[]> {
  const picks = batch.picks ?? [];
  if (picks.length === 0) return [];
  const named = new Set(batch.orders.map((order) => order.pid));
  const first = await sampleWithout(named, context);
  const picked: PickedOrder[] = [];
  for (const pick of picks) {
    const workers =
      pick.kind === 'pick'
        ? victimsOf(batch, pick, first)
        : await orphansOf(batch, pick, first, named, context);
    context.note(describePick(batch.app, pick, workers, first));
    for (const worker of workers) {
      picked.push({
        order: orderFor(batch, pick, worker),
        graceSeconds: pick.graceSeconds,
      });
    }
  }
  return picked;
}

function victimsOf(
  batch: OrderBatch,
  pick: Extract<WirePick, { kind: 'pick' }>,
  observation: Observation,
): Worker[] {
  // detach acts through the pool, so it needs the pool to list the pid;
  // a signal reaches any process, and verify.ts re-checks it first
  const allowUnknownPool = pick.graceful.type === 'signal';
  return pickVictims(
    observation,
    batch.app,
    pick.limitKb,
    batch.measure,
    pick.count,
    { allowUnknownPool },
  ).map(({ worker }) => worker);
}

async function orphansOf(
  batch: OrderBatch,
  pick: Extract<WirePick, { kind: 'pick-orphans' }>,
  first: Observation,
  named: ReadonlySet<number>,
  context: PickContext,
): Promise<Worker[]> {
  const confirmSeconds = context.confirmSeconds ?? MIN_ORPHAN_CONFIRM_SECONDS;
  const suspects = first.workers.filter((w) => w.inPool === false);
  // without a suspect the second sample (and its wait) can change nothing
  if (!first.poolKnown || suspects.length === 0) return [];
  await context.sleep(confirmSeconds * 1000);
  const second = await sampleWithout(named, context);
  return pickOrphans(first, second, batch.app, pick.count, confirmSeconds, {
    minAgeSeconds: PICK_ORPHAN_MIN_AGE_SECONDS,
  });
}

async function sampleWithout(
  named: ReadonlySet<number>,
  context: PickContext,
): Promise<Observation> {
  const { host, proc, tools, now } = context;
  const sample = await collectSample({ host, proc, tools, now });
  const { observation } = sample;
  return {
    ...observation,
    workers: observation.workers.filter(
      (worker) => !named.has(worker.identity.pid),
    ),
  };
}

function orderFor(batch: OrderBatch, pick: WirePick, worker: Worker): Order {
  const common = {
    identity: worker.identity,
    // the group the worker was seen in, which verify.ts compares exactly
    app: worker.app.group,
    measure: batch.measure,
    notAfter: batch.notAfter * 1000,
    ...(worker.uid === undefined ? {} : { uid: worker.uid }),
  };
  if (pick.kind === 'pick-orphans') {
    return { ...common, action: 'orphan-term' };
  }
  return {
    ...common,
    action: 'graceful',
    graceful: pick.graceful,
    limitKb: pick.limitKb,
  };
}

function describePick(
  app: string,
  pick: WirePick,
  chosen: readonly Worker[],
  observation: Observation,
): string {
  const what =
    pick.kind === 'pick'
      ? `pick of up to ${pick.count} worker(s) of '${app}' over ` +
        `${pick.limitKb} kB`
      : `pick of up to ${pick.count} orphan(s) of '${app}'`;
  if (chosen.length > 0) {
    const pids = chosen.map((worker) => worker.identity.pid).join(', ');
    return `${what}: chose pid(s) ${pids}`;
  }
  const pool = observation.poolKnown
    ? "Passenger's pool was read"
    : "Passenger's pool could not be read";
  return (
    `${what}: none qualified among ${observation.workers.length} app ` +
    `worker(s) on this host (${pool})`
  );
}
