/**
 * The single-host enforcer, the successor of passenger_monitor4: sample
 * the host, let the policy decide, carry out each decision through the
 * executor, and keep every promise (grace record) in the store.
 *
 * Per tick, in order:
 *   1. sample (collector: /proc and passenger-status);
 *   2. decide (core policy, pure) with the store's open records;
 *   3. record before acting: a graceful step opens its record first, so a
 *      crash right after the signal still leaves the deadline on disk;
 *   4. act (executor re-checks each process right before touching it);
 *   5. arm a deadline watcher for every open record, so the SIGKILL lands
 *      at the deadline itself and not at the next tick.
 */
import type { OrderAction, Order, Outcome } from '../core/order.ts';
import { policyFor, type FleetConfig } from '../core/config.ts';
import type { Decision } from '../core/decision.ts';
import { decide, overLimit } from '../core/policy.ts';
import type { GraceRecord } from '../core/records.ts';
import { identityKey, kbToMbRounded, type Worker } from '../core/worker.ts';
import { collectSample, type Sample } from './collector.ts';
import { DeadlineWatcher } from './deadlines.ts';
import {
  describeAction,
  type DecisionLogEntry,
  type DecisionSink,
} from './decision-log.ts';
import { Executor } from './executor.ts';
import type { PassengerTools, ProcSource, Signaller } from './host.ts';
import { MemoryCache } from './memory-cache.ts';
import type { EnforcerStore } from './store.ts';

export interface EnforcerOptions {
  readonly host: string;
  readonly config: FleetConfig;
  readonly store: EnforcerStore;
  readonly proc: ProcSource;
  readonly tools: PassengerTools;
  readonly signaller?: Signaller;
  readonly log: DecisionSink;
  /** Epoch ms. @default Date.now */
  readonly now?: () => number;
  /**
   * Read Passenger's pool at least every this many ticks even when nothing
   * is over its limit, to spot orphans. @default 6 (30 s at 5 s a tick)
   */
  readonly poolEveryTicks?: number;
}

export interface TickReport {
  readonly sample: Sample;
  readonly decisions: readonly DecisionLogEntry[];
  /** Orphan suspects that need a later sample to be confirmed. */
  readonly pendingOrphans: number;
}

export class Enforcer {
  readonly #options: EnforcerOptions;
  readonly #now: () => number;
  readonly #executor: Executor;
  readonly #watcher: DeadlineWatcher;
  /** Records the watcher holds, by identity key. */
  readonly #watched = new Map<string, GraceRecord>();
  #latest: Sample | undefined;
  readonly #memoryCache = new MemoryCache();
  readonly #poolEveryTicks: number;
  /** Starts due, so the first tick always reads the pool. */
  #ticksSincePool = Number.POSITIVE_INFINITY;

  constructor(options: EnforcerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#poolEveryTicks = options.poolEveryTicks ?? 6;
    this.#executor = new Executor({
      host: options.host,
      proc: options.proc,
      tools: options.tools,
      now: this.#now,
      ...(options.signaller ? { signaller: options.signaller } : {}),
    });
    this.#watcher = new DeadlineWatcher({
      executor: this.#executor,
      proc: options.proc,
      now: this.#now,
      onSettled: (order, outcome) => this.#settled(order, outcome),
    });
  }

  /** The latest sample, for a live view. */
  latestSample(): Sample | undefined {
    return this.#latest;
  }

  openRecords(): GraceRecord[] {
    return this.#options.store.openRecords(this.#options.host);
  }

  async tick(): Promise<TickReport> {
    const { host, store, config } = this.#options;
    const sample = await this.#sample();
    this.#latest = sample;

    const result = decide({
      observations: [sample.observation],
      openRecords: store.openRecords(host),
      config,
      memory: store.memory(host),
      now: sample.observation.at,
    });
    store.saveMemory(host, result.memory);

    const entries = await Promise.all(
      result.decisions.map((decision) => this.#carryOut(decision)),
    );
    this.#armDeadlines();
    return {
      sample,
      decisions: entries.filter((e): e is DecisionLogEntry => e !== null),
      pendingOrphans: result.decisions.filter(
        (d) => d.type === 'skip' && d.cause === 'orphan-unconfirmed',
      ).length,
    };
  }

  /** Resolves once every armed deadline has settled. */
  async deadlinesSettled(): Promise<void> {
    await this.#watcher.settled();
  }

  get pendingDeadlines(): number {
    return this.#watcher.size;
  }

  /**
   * Stops the timers; open records stay in the store for the next run. A
   * SIGKILL already under way is let finish and reported first.
   */
  async close(): Promise<void> {
    this.#watcher.close();
    await this.#watcher.settled();
    this.#watched.clear();
  }

  /**
   * /proc alone costs a few ms; passenger-status costs 100-200 ms of CPU.
   * So the pool is read only when it can change a decision: a worker over
   * its limit, an orphan suspect to confirm, or every few ticks to spot
   * new orphans.
   */
  async #sample(): Promise<Sample> {
    const { host, proc, tools, config, store } = this.#options;
    const collect = (readPool: boolean) =>
      collectSample({
        host,
        proc,
        tools,
        now: this.#now,
        readPool,
        memoryCache: this.#memoryCache,
      });
    const cheap = await collect(false);
    const poolDue = ++this.#ticksSincePool >= this.#poolEveryTicks;
    const suspects = Object.keys(store.memory(host).orphanSuspects).length;
    const breach = cheap.observation.workers.some(
      (worker) => overLimit(worker, config) !== undefined,
    );
    if (!poolDue && suspects === 0 && !breach) return cheap;
    this.#ticksSincePool = 0;
    return collect(true);
  }

  async #carryOut(decision: Decision): Promise<DecisionLogEntry | null> {
    const { store } = this.#options;
    switch (decision.type) {
      case 'skip':
        return this.#log(entryFor(this.#options.host, decision));
      case 'gone':
      case 'unmark': {
        // The watcher may have settled this record, or be killing it,
        // since the tick began: then it, not this tick, reports it.
        if (!this.#unwatch(decision.record)) return null;
        store.closeRecord(decision.record, 'gone', this.#now());
        return this.#log(entryFor(this.#options.host, decision));
      }
      case 'force-kill':
        // The watcher owns every forced kill: it fires at once for a
        // deadline already past, and at most once per process.
        this.#watch(decision.record);
        return null;
      case 'graceful':
      case 'orphan': {
        if (!store.openRecord(decision.record)) return null;
        const action: OrderAction =
          decision.type === 'graceful' ? 'graceful' : 'orphan-term';
        const outcome = await this.#executor.carryOut(
          orderFor(decision.record, action),
        );
        if (outcome.status === 'detached' || outcome.status === 'signalled') {
          // The grace time runs from when the worker was told, not from
          // the sample: a slow passenger-config must not shorten it.
          const { markedAt, deadline } = decision.record;
          store.reschedule(decision.record, outcome.at + deadline - markedAt);
        } else {
          store.closeRecord(decision.record, outcome.status, outcome.at);
        }
        return this.#log(entryFor(this.#options.host, decision, outcome));
      }
    }
  }

  /** Every open record of an app not in dry run gets its deadline armed. */
  #armDeadlines(): void {
    for (const record of this.openRecords()) this.#watch(record);
  }

  #watch(record: GraceRecord): void {
    const key = identityKey(record.identity);
    if (this.#watched.has(key)) return;
    const policy = policyFor(this.#options.config, { group: record.app });
    if (policy?.dryRun ?? this.#options.config.dryRun) return;
    this.#watched.set(key, record);
    this.#watcher.watch(orderFor(record, 'force-kill'), record.deadline);
  }

  /**
   * Takes a record back from the watcher. False when the watcher is
   * already killing it or has settled it: the record is its to report.
   */
  #unwatch(record: GraceRecord): boolean {
    const key = identityKey(record.identity);
    if (!this.#watched.has(key)) return this.#isOpen(record);
    if (!this.#watcher.cancel(orderFor(record, 'force-kill'))) return false;
    this.#watched.delete(key);
    return true;
  }

  #isOpen(record: GraceRecord): boolean {
    const key = identityKey(record.identity);
    return this.openRecords().some((r) => identityKey(r.identity) === key);
  }

  #settled(order: Order, outcome: Outcome): void {
    const key = identityKey(order.identity);
    const record = this.#watched.get(key);
    this.#watched.delete(key);
    if (record === undefined) return;
    this.#options.store.closeRecord(record, outcome.status, outcome.at);
    const decision: Decision =
      outcome.status === 'gone'
        ? { type: 'gone', record, reason: 'the marked process has exited' }
        : {
            type: 'force-kill',
            record,
            reason: `grace time of the ${record.cause} mark is over`,
          };
    this.#log(entryFor(this.#options.host, decision, outcome));
  }

  #log(entry: DecisionLogEntry): DecisionLogEntry {
    this.#options.store.audit({
      at: this.#now(),
      host: entry.host,
      app: entry.app,
      pid: entry.pid,
      startTime: entry.startTime,
      decision: entry.decision,
      action: entry.action,
      reason: entry.reason,
      outcome: entry.outcome,
      memoryKb: entry.memoryMb === null ? null : entry.memoryMb * 1024,
      limitKb: entry.limitMb === null ? null : entry.limitMb * 1024,
    });
    this.#options.log(entry);
    return entry;
  }
}

export function orderFor(record: GraceRecord, action: OrderAction): Order {
  return {
    identity: record.identity,
    app: record.app,
    action,
    measure: record.measure,
    ...(action === 'graceful' ? { graceful: record.action } : {}),
    ...(action === 'graceful' && record.limitKb !== null
      ? { limitKb: record.limitKb }
      : {}),
    ...(record.uid === undefined ? {} : { uid: record.uid }),
  };
}

function entryFor(
  host: string,
  decision: Decision,
  outcome?: Outcome,
): DecisionLogEntry {
  const record = 'record' in decision ? decision.record : undefined;
  const worker: Worker | undefined =
    'worker' in decision ? decision.worker : undefined;
  const identity = worker?.identity ?? record?.identity;
  const memoryKb =
    decision.type === 'skip'
      ? (decision.memoryKb ?? worker?.memory.privateDirtyKb ?? null)
      : (record?.memoryKb ?? null);
  const limitKb =
    decision.type === 'skip'
      ? (decision.limitKb ?? null)
      : (record?.limitKb ?? null);
  return {
    host,
    app: worker?.app.group ?? record?.app ?? '',
    pid: identity?.pid ?? 0,
    startTime: identity?.startTime ?? 0,
    memoryMb: memoryKb === null ? null : kbToMbRounded(memoryKb),
    limitMb: limitKb === null ? null : kbToMbRounded(limitKb),
    decision: decision.type,
    action: actionOf(decision),
    reason: decision.reason,
    outcome: outcome?.status ?? null,
    detail: outcome?.reason ?? null,
  };
}

function actionOf(decision: Decision): string | null {
  switch (decision.type) {
    case 'graceful':
    case 'orphan':
      return describeAction(decision.record.action);
    case 'force-kill':
      return 'SIGKILL';
    case 'skip':
      return decision.action ? describeAction(decision.action) : null;
    default:
      return null;
  }
}
