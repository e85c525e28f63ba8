/**
 * The demo's script: which simulated Passenger processes exist and what
 * each worker does over time, plus the enforcer configuration that goes
 * with it.
 *
 * Every time is a fraction of the run's duration, so that `--duration 15`
 * in the tests plays the same story as the minute-long `npm start`, only
 * faster. Memory is dirtied in 20 MB steps from about 73 MB (Node's own
 * ~8 MB plus 65 MB), so a worker is at 113 MB one step before it crosses
 * a 120 MB limit and 133 MB one step after: far enough on either side
 * that the few MB Node's baseline varies by never decide a case.
 */
import type { ConfigInput } from '../../core/config.ts';
import type { Measure } from '../../core/measure.ts';

/** What a worker is in the story. */
export type WorkerPart =
  /** Grows past the limit and leaves when detached. */
  | 'grower'
  /** Grows past the limit and ignores detach and TERM: needs SIGKILL. */
  | 'frozen'
  /** Grows past the limit and is in a long request when detached. */
  | 'busy'
  /** Stays under the limit: must never be touched. */
  | 'steady';

export interface ScriptStep {
  /** Milliseconds after the host started. */
  readonly atMs: number;
  /** A line for the titled child: `grow <MB>` or `busy <ms>`. */
  readonly line: string;
}

export interface ScenarioWorker {
  /** The app's short name, e.g. `shop`. */
  readonly app: string;
  readonly part: WorkerPart;
  readonly initialMb: number;
  readonly steps: readonly ScriptStep[];
}

export interface ScenarioApp {
  readonly name: string;
  /** As Passenger shows it: `/data/<name>/current`. */
  readonly root: string;
  readonly limitMb: number;
}

export interface Scenario {
  readonly durationMs: number;
  /** How often the demo asks the enforcer for a pass. */
  readonly tickMs: number;
  readonly graceSeconds: number;
  /** Consecutive samples over the limit before the enforcer acts. */
  readonly sustainedSamples: number;
  /** Which figure is compared with the limit, by the enforcer and judge. */
  readonly measure: Measure;
  readonly apps: readonly ScenarioApp[];
  readonly workers: readonly ScenarioWorker[];
  /** What a freshly spawned replacement dirties at start. */
  readonly replacementMb: number;
  /** The preloader is over every limit on purpose: it must be left alone. */
  readonly preloaderMb: number;
  /**
   * A `busy` worker's request still runs this long when it is detached,
   * so it leaves only after the request, well before its deadline.
   */
  readonly busyOnDetachMs: number;
}

export const MIN_DURATION_S = 10;
export const MAX_DURATION_S = 600;
export const DEFAULT_DURATION_S = 60;

const LIMIT_MB = 120;
const START_MB = 65;
const STEP_MB = 20;
/** The story is told in twelfths of the duration. */
const BEATS = 12;

export function demoScenario(durationS: number = DEFAULT_DURATION_S): Scenario {
  if (
    !Number.isInteger(durationS) ||
    durationS < MIN_DURATION_S ||
    durationS > MAX_DURATION_S
  ) {
    throw new RangeError(
      `duration must be a whole number of seconds from ${MIN_DURATION_S} ` +
        `to ${MAX_DURATION_S}, got ${durationS}`,
    );
  }
  const durationMs = durationS * 1000;
  const beatMs = durationMs / BEATS;
  const growAt = (...beats: number[]): ScriptStep[] =>
    beats.map((beat) => ({
      atMs: Math.round(beat * beatMs),
      line: `grow ${STEP_MB}`,
    }));
  const graceSeconds = Math.min(15, Math.max(4, Math.round(durationS / 4)));
  const busyOnDetachMs = Math.round((graceSeconds * 1000) / 2);

  return {
    durationMs,
    tickMs: 1000,
    graceSeconds,
    sustainedSamples: 2,
    measure: 'private',
    apps: [
      { name: 'shop', root: '/data/shop/current', limitMb: LIMIT_MB },
      { name: 'blog', root: '/data/blog/current', limitMb: LIMIT_MB },
    ],
    workers: [
      // Crosses at beat 3 and is gone within a couple of ticks.
      {
        app: 'shop',
        part: 'grower',
        initialMb: START_MB,
        steps: growAt(1, 2, 3, 4, 5),
      },
      // Starts growing once the first grower is done, so that the
      // one-in-grace-per-app budget does not hold it back.
      {
        app: 'shop',
        part: 'frozen',
        initialMb: START_MB,
        steps: growAt(5, 6, 7, 8),
      },
      // 108 MB: close to the limit, never over it.
      { app: 'shop', part: 'steady', initialMb: 100, steps: [] },
      {
        app: 'blog',
        part: 'busy',
        initialMb: START_MB,
        steps: [
          ...growAt(1, 2, 3),
          { atMs: Math.round(3 * beatMs), line: `busy ${busyOnDetachMs}` },
        ],
      },
      {
        app: 'blog',
        part: 'grower',
        initialMb: START_MB,
        steps: growAt(7, 8, 9, 10),
      },
      { app: 'blog', part: 'steady', initialMb: START_MB, steps: [] },
    ],
    replacementMb: 40,
    preloaderMb: 140,
    busyOnDetachMs,
  };
}

/** The enforcer's configuration for the scenario, before parseConfig. */
export function demoConfig(scenario: Scenario): ConfigInput {
  return {
    defaults: {
      graceSeconds: scenario.graceSeconds,
      measure: scenario.measure,
      // auto picks detach-process for these 6.0.17 Ruby workers.
      gracefulAction: 'auto',
      sustainedSamples: scenario.sustainedSamples,
      maxInGracePerHost: 1,
    },
    apps: Object.fromEntries(
      scenario.apps.map((app) => [app.name, { limitMb: app.limitMb }]),
    ),
    // Only the two simulated apps are ours to police.
    unlistedApps: 'ignore',
  };
}

/** The last moment any script step runs, in ms after the start. */
export function lastStepMs(scenario: Scenario): number {
  const times = scenario.workers.flatMap((w) => w.steps.map((s) => s.atMs));
  return Math.max(0, ...times);
}

/** The scenario's app of that short name; throws when there is none. */
export function appOf(scenario: Scenario, name: string): ScenarioApp {
  const app = scenario.apps.find((candidate) => candidate.name === name);
  if (app === undefined) {
    throw new Error(
      `scenario worker names app '${name}', which is not among ` +
        scenario.apps.map((a) => a.name).join(', '),
    );
  }
  return app;
}
