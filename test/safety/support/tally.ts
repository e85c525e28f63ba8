/**
 * The safety suite's score: how many cases each test file tried, and how
 * many wrong kills, missed deadlines and double actions it saw.
 *
 * Each test file runs in its own process under `node --test`, so each
 * keeps its own counts and writes them, when the process exits, as one
 * JSON file in the tally directory; test/safety/summary.ts adds them up
 * and prints the suite's last line.
 *
 * The directory is `$SAFETY_TALLY_DIR`, which `npm run test:safety` sets
 * to a fresh temporary directory; a file run on its own writes to
 * `<os.tmpdir()>/passenger-fleet-safety` instead.
 *
 * A counter only moves inside a check: `expectNoWrongKill` and its
 * siblings count the breach and then fail the test, so a non-zero count
 * always comes with a red test, and a zero means the check ran and held.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export const TALLY_DIR_VARIABLE = 'SAFETY_TALLY_DIR';
export const DEFAULT_TALLY_DIR = join(tmpdir(), 'passenger-fleet-safety');

export interface TallyCounts {
  /** The test file that wrote the counts. */
  readonly file: string;
  readonly cases: number;
  readonly wrongKills: number;
  readonly missedDeadlines: number;
  readonly doubleActions: number;
  /** One line per breach, for the summary. */
  readonly breaches: readonly string[];
}

/**
 * What the fleet simulator scores per run (sim/run.ts RunReport has these
 * fields): the hook for the controller concurrency, fault and mass-breach
 * files still to come.
 */
export interface SimulationScore {
  readonly ticks: number;
  readonly wrongKills: number;
  readonly doubleActions: number;
  /** Marked workers still alive a tick after their deadline. */
  readonly frozenOverdue: number;
}

export class SafetyTally {
  readonly #file: string;
  #cases = 0;
  #wrongKills = 0;
  #missedDeadlines = 0;
  #doubleActions = 0;
  readonly #breaches: string[] = [];

  constructor(testFileUrl: string) {
    this.#file = basename(new URL(testFileUrl).pathname);
    process.once('exit', () => this.#write());
  }

  /** Counts cases that ran to the end of their checks. */
  tried(count = 1): void {
    this.#cases += count;
  }

  /** A process that must not have been touched was touched. */
  expectNoWrongKill(untouched: boolean, what: string): void {
    if (untouched) return;
    this.#wrongKills++;
    this.#fail(`wrong kill: ${what}`);
  }

  /** A marked worker outlived its deadline by more than allowed. */
  expectDeadlineMet(met: boolean, what: string): void {
    if (met) return;
    this.#missedDeadlines++;
    this.#fail(`missed deadline: ${what}`);
  }

  /** One worker was acted on more than once for one mark. */
  expectSingleAction(actions: number, what: string): void {
    if (actions <= 1) return;
    this.#doubleActions++;
    this.#fail(`double action (${actions} actions): ${what}`);
  }

  /** Adds a simulator run's score: its ticks count as cases. */
  recordSimulation(score: SimulationScore, what: string): void {
    this.#wrongKills += score.wrongKills;
    this.#doubleActions += score.doubleActions;
    this.#missedDeadlines += score.frozenOverdue;
    const bad = score.wrongKills + score.doubleActions + score.frozenOverdue;
    if (bad > 0) {
      this.#fail(
        `${what}: ${score.wrongKills} wrong kill(s), ${score.doubleActions} ` +
          `double action(s), ${score.frozenOverdue} missed deadline(s)`,
      );
    }
    this.#cases += score.ticks;
  }

  counts(): TallyCounts {
    return {
      file: this.#file,
      cases: this.#cases,
      wrongKills: this.#wrongKills,
      missedDeadlines: this.#missedDeadlines,
      doubleActions: this.#doubleActions,
      breaches: [...this.#breaches],
    };
  }

  #fail(message: string): never {
    this.#breaches.push(message);
    assert.fail(message);
  }

  #write(): void {
    const dir = process.env[TALLY_DIR_VARIABLE] || DEFAULT_TALLY_DIR;
    mkdirSync(dir, { recursive: true });
    const name = `${this.#file}.${process.pid}.json`;
    writeFileSync(join(dir, name), `${JSON.stringify(this.counts())}\n`);
  }
}
