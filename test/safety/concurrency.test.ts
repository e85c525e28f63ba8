/**
 * Concurrency: 2 to 8 controller ticks run at once against one DynamoDB
 * table (dynalite, in this process, on 127.0.0.1), sharing one record
 * store, one metrics source and one command port, over rounds a minute
 * apart until the fleet is settled. Most rounds give every tick the same
 * `now`; every third one starts them a few ms apart, each with its own
 * `now` within the minute, so their claims overlap differently.
 *
 * The hosts are played honestly (support/played-fleet.ts): they choose
 * their victims, detach them, and report in the real outcome format;
 * frozen workers stay until killed, others leave in their grace. A third
 * of the hosts kill at the deadline themselves; a third lose their agent
 * mid-grace and a third have their command hang past the deadline, so
 * the controller's forced kills are needed. Counted from the commands
 * sent and what the hosts did:
 *
 *   - at most one pick per host-app per round, and never two running;
 *   - exactly one graceful action for every worker over its limit, and
 *     no second one in the controller's audit;
 *   - at most one forced kill per marked worker, the host's SIGKILL at
 *     the deadline and the controller's orders together; exactly one
 *     SIGKILL for each frozen worker;
 *   - no forced kill naming a worker no host acted on.
 *
 * Claims must actually have been lost (TickReport.racesLost), so the ones
 * above come from ticks that raced, not from ticks that took turns.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { InMemoryParameterSource } from '../../agent/parameters/in-memory-parameter-source.ts';
import { identityKey } from '../../core/worker.ts';
import { Controller } from '../../lambdas/controller/controller.ts';
import type {
  ControllerLog,
  TickReport,
} from '../../lambdas/controller/controller-ports.ts';
import { MAX_AUDIT_READ } from '../../lambdas/store/audit-rules.ts';
import { DynamoRecordStore } from '../../lambdas/store/dynamo-record-store.ts';
import {
  startLocalDynamo,
  type LocalDynamo,
} from '../integration/support/local-table.ts';
import { LIMIT_MB, PlayedFleet } from './support/played-fleet.ts';
import { readSentOrders } from './support/sent-orders.ts';
import { SafetyTally } from './support/tally.ts';

const tally = new SafetyTally(import.meta.url);

/** 2026-12-03 13:00:00 UTC. */
const T0 = Date.UTC(2026, 11, 3, 13, 0, 0);
const MINUTE = 60_000;
const ROOT = '/passenger-fleet/prod';
const SEED = 20_261_203;
/** Longer than a minute, so marks stay open across ticks. */
const GRACE_SECONDS = 90;
/** Settling takes seven or eight rounds; twice that is a hang. */
const MAX_ROUNDS = 16;
/** A hung dynalite call fails the case instead of holding the suite. */
const CASE_TIMEOUT_MS = 120_000;
const STAGGER_EVERY = 3;
/** Staggered ticks: `now` this far apart, started this many ms apart. */
const STAGGER_NOW_MS = 1_300;
const STAGGER_START_MS = 2;
const TICKS_AT_ONCE = [2, 3, 4, 5, 6, 7, 8];
/** Runs again with lost SendCommand answers. */
const LOSING_TICKS = [3, 8];
const LOSE_EVERY = 3;

interface LogLine {
  readonly level: 'warn' | 'error';
  readonly message: string;
}

interface ScenarioRun {
  readonly fleet: PlayedFleet;
  readonly reports: readonly TickReport[];
  /** Per round: `<host> <app>` → picks sent in that round. */
  readonly picksPerRound: readonly Map<string, number>[];
  readonly rounds: number;
  readonly openMarks: number;
  readonly openOrders: number;
  readonly complaints: readonly LogLine[];
  /** Worker identity key → graceful steps the controller audited. */
  readonly auditedGraceful: ReadonlyMap<string, number>;
  readonly auditEntries: number;
}

async function runScenario(
  local: LocalDynamo,
  ticks: number,
  loseEvery?: number,
): Promise<ScenarioRun> {
  const store = new DynamoRecordStore({
    tableName: await local.createTable(),
    client: local.client,
  });
  const fleet = new PlayedFleet(SEED + ticks, T0);
  if (loseEvery !== undefined) {
    // The command goes out, its answer is lost, as a timeout would: the
    // controllers must look it up by id, never send it blind again.
    fleet.commands.loseSendAnswers(
      new Error('TimeoutError: answer lost'),
      loseEvery,
    );
  }
  const parameters = new InMemoryParameterSource({
    [`${ROOT}/defaults/limitMb`]: String(LIMIT_MB),
    [`${ROOT}/defaults/graceSeconds`]: String(GRACE_SECONDS),
    [`${ROOT}/defaults/gracefulAction`]: 'detach',
    [`${ROOT}/defaults/maxInGracePerHost`]: '2',
    // Every host breaches at once here; the breaker and the fleet budget
    // would rightly slow that down, and this run is about the actions
    // themselves.
    [`${ROOT}/fleet/breakerPercent`]: '100',
    [`${ROOT}/fleet/maxInGracePercent`]: '100',
  });
  const complaints: LogLine[] = [];
  const log: ControllerLog = {
    info: () => {},
    warn: (message) => void complaints.push({ level: 'warn', message }),
    error: (message) => void complaints.push({ level: 'error', message }),
  };
  const controllers = Array.from(
    { length: ticks },
    () =>
      new Controller({
        fleet: 'prod',
        metrics: fleet.metrics,
        commands: fleet.commands,
        store,
        parameters,
        log,
        sink: { count: () => {} },
      }),
  );

  const reports: TickReport[] = [];
  const picksPerRound: Map<string, number>[] = [];
  let rounds = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const sentBefore = fleet.commands.sent.length;
    const base = T0 + round * MINUTE;
    const staggered = round % STAGGER_EVERY === 1;
    fleet.advanceTo(base);
    const tickReports = await Promise.all(
      controllers.map(async (controller, index) => {
        const now = staggered ? base + index * STAGGER_NOW_MS : base;
        if (staggered) await delay(index * STAGGER_START_MS);
        fleet.advanceTo(now);
        return controller.tick(now);
      }),
    );
    reports.push(...tickReports);
    const sent = fleet.commands.sent.slice(sentBefore);
    picksPerRound.push(readSentOrders(sent).picksByHostApp);
    rounds++;
    const settled =
      fleet.settled() &&
      (await store.openOrders()).length === 0 &&
      (await store.openRecords()).length === 0;
    if (settled) break;
  }
  const audit = await store.recentAudit(MAX_AUDIT_READ);
  const auditedGraceful = new Map<string, number>();
  for (const entry of audit) {
    if (entry.decision !== 'graceful') continue;
    const key = identityKey(entry);
    auditedGraceful.set(key, (auditedGraceful.get(key) ?? 0) + 1);
  }
  return {
    fleet,
    reports,
    auditedGraceful,
    auditEntries: audit.length,
    picksPerRound,
    rounds,
    openMarks: (await store.openRecords()).length,
    openOrders: (await store.openOrders()).length,
    complaints,
  };
}

describe('safety: 2 to 8 controller ticks at once on one DynamoDB table', () => {
  let local: LocalDynamo;
  before(async () => {
    local = await startLocalDynamo();
  });
  after(async () => {
    await local.stop();
  });

  const cases = [
    ...TICKS_AT_ONCE.map((ticks) => ({ ticks, loseEvery: undefined })),
    ...LOSING_TICKS.map((ticks) => ({ ticks, loseEvery: LOSE_EVERY })),
  ];
  for (const { ticks, loseEvery } of cases) {
    const losing =
      loseEvery === undefined
        ? ''
        : `, every ${loseEvery}rd send's answer lost`;
    it(
      `${ticks} ticks at once act once per host-app and per worker${losing}`,
      { timeout: CASE_TIMEOUT_MS },
      async () => {
        const run = await runScenario(local, ticks, loseEvery);
        const { fleet } = run;
        const seed = SEED + ticks;
        const where = (what: string) => `${ticks} ticks, seed ${seed}: ${what}`;
        const sent = readSentOrders(fleet.commands.sent);

        // one pick per host-app: per round on the wire, and on the host
        run.picksPerRound.forEach((picks, round) => {
          for (const [hostApp, count] of picks) {
            tally.expectSingleAction(
              count,
              where(`round ${round}, picks sent to ${hostApp}`),
            );
            tally.tried();
          }
        });
        for (const [hostApp, running] of fleet.picksAtOnce) {
          tally.expectSingleAction(
            running,
            where(`picks running at once on ${hostApp}`),
          );
          tally.tried();
        }

        // per worker: graceful steps carried out, forced kills
        for (const worker of fleet.allWorkers()) {
          const key = identityKey(worker.identity);
          const graceful = fleet.gracefulSteps.get(key) ?? 0;
          tally.expectSingleAction(graceful, where(`graceful steps on ${key}`));
          const killsSent = sent.killsByWorker.get(key) ?? 0;
          const hostKills = (fleet.kills.get(key) ?? []).filter(
            (by) => by === 'host',
          ).length;
          tally.expectSingleAction(
            killsSent + hostKills,
            where(
              `forced kills of ${key}: ${killsSent} sent, ${hostKills} by host`,
            ),
          );
          // the controller's own account of the step must not count it twice
          tally.expectSingleAction(
            run.auditedGraceful.get(key) ?? 0,
            where(`graceful steps audited for ${key}`),
          );
          tally.tried();
          if (!worker.overAtStart) continue;
          assert.equal(
            graceful,
            1,
            where(`${key} over its limit, not acted on`),
          );
          if (worker.fate !== 'frozen') continue;
          // frozen: gone only by a SIGKILL, and by exactly one
          const killers = fleet.kills.get(key) ?? [];
          assert.equal(killers.length, 1, where(`${key} killed by ${killers}`));
          // a restarted agent forgets its victims: the controller kills them
          if (fleet.kindOf(worker) === 'restarts') {
            assert.equal(killsSent, 1, where(`no forced kill for ${key}`));
          }
        }

        // a forced kill only ever names a worker the host acted on
        for (const [key, count] of sent.killsByWorker) {
          tally.expectNoWrongKill(
            fleet.gracefulSteps.has(key),
            where(`${count} forced kill(s) for ${key}, never marked`),
          );
          tally.tried();
        }

        // the scenario did what it is for: races, kills, leaves, settling
        const racesLost = run.reports.reduce((sum, r) => sum + r.racesLost, 0);
        assert.ok(racesLost > 0, where(`no claim was lost in ${run.rounds}`));
        const killedBy = [...fleet.kills.values()].flat();
        const hostKills = killedBy.filter((by) => by === 'host').length;
        const ordered = killedBy.length - hostKills;
        assert.ok(
          ordered >= 2,
          where(`${ordered} SIGKILLs the controller sent`),
        );
        assert.ok(hostKills >= 2, where(`${hostKills} SIGKILLs by hosts`));
        const steppedIn = fleet
          .allWorkers()
          .filter((w) => fleet.kindOf(w) === 'stalls')
          .some((w) => sent.killsByWorker.has(identityKey(w.identity)));
        assert.ok(steppedIn, where('no forced kill on a stalled host'));
        assert.ok(fleet.leftInGrace >= 2, where(`${fleet.leftInGrace} left`));
        assert.ok(fleet.settled(), where(`unsettled after ${run.rounds}`));
        assert.equal(run.openMarks, 0, where('marks left open'));
        assert.equal(run.openOrders, 0, where('orders left open'));
        assert.ok(run.auditEntries < MAX_AUDIT_READ, where('audit cut short'));
        assert.deepEqual(sent.undecodable, [], where('undecodable commands'));
        assert.equal(fleet.rejectedCommands, 0, where('commands rejected'));
        const failures = run.reports.flatMap((r) => r.failures);
        if (loseEvery === undefined) {
          assert.deepEqual(failures, [], where('tick steps failed'));
        } else {
          // Only the lost answers failed, and their orders were looked up.
          const other = failures.filter(
            (f) => !/^send \S+ order \S+ to \S+: Error: TimeoutError/.test(f),
          );
          assert.deepEqual(other, [], where('tick steps failed'));
          assert.ok(failures.length >= 2, where(`${failures.length} lost`));
          const lookups = fleet.commands.calls.find;
          assert.ok(lookups >= failures.length, where(`${lookups} lookups`));
        }
        const errors = run.complaints.filter((c) => c.level === 'error');
        assert.deepEqual(errors, [], where('controller errors'));
      },
    );
  }
});
