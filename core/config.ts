/**
 * The one configuration schema, for the fleet (SSM Parameter Store) and
 * for the single-host enforcer (a file or flags) alike.
 *
 * Every error names the field, the rule and the value, so that a person
 * reading a rejected parameter or a cron mail knows what to change.
 */
import { z } from 'zod';
import {
  GRACEFUL_SIGNALS,
  PID_PLACEHOLDER,
  type GracefulChoice,
} from './actions.ts';
import { appMatches } from './app.ts';
import { MEASURES } from './measure.ts';
import type { AppRef } from './worker.ts';

/** passenger_monitor4's own defaults: 250 MB, 30 s. */
export const DEFAULT_LIMIT_MB = 250;
export const DEFAULT_GRACE_SECONDS = 30;
/** Passenger notices a dead worker only every 5 s; 6 s clears that lag. */
export const MIN_ORPHAN_CONFIRM_SECONDS = 6;

/** Fleet brakes: see `fleet` in the schema below. */
export const DEFAULT_BREAKER_PERCENT = 50;
export const DEFAULT_MIN_HOSTS_FOR_BREAKER = 4;
/**
 * A fleet budget by default: a limit pushed too low must not restart a
 * whole app while agents take it up one by one and the share of
 * breaching hosts is still below the breaker's.
 */
export const DEFAULT_MAX_IN_GRACE_PERCENT = 10;
/** The agent's heartbeat is sparse (core/metric-schema.ts): hours, not minutes. */
export const DEFAULT_SILENT_AFTER_SECONDS = 6 * 3600;

const MAX_LIMIT_MB = 1024 * 1024;
const MAX_GRACE_SECONDS = 24 * 60 * 60;

const wholeNumber = (rule: { min: number; max: number }) =>
  z
    .number({ error: 'must be a number' })
    .int({ error: 'must be a whole number' })
    .min(rule.min, { error: `must be at least ${rule.min}` })
    .max(rule.max, { error: `must be at most ${rule.max}` });

const flag = z.boolean({ error: 'must be true or false' });

/**
 * The graceful step as a user writes it: `auto`, `detach`, `signal:TERM`,
 * or an object `{ "type": "command", "argv": ["/usr/local/bin/x", "{pid}"] }`.
 */
const gracefulChoice = z.union(
  [
    z.enum(['auto', 'detach']).transform((type) => ({ type })),
    z
      .string()
      .regex(/^signal:[A-Z0-9]+$/, { error: 'must be signal:<NAME>' })
      .transform((text) => text.slice('signal:'.length))
      .pipe(
        z.enum(GRACEFUL_SIGNALS, {
          error: `signal must be one of ${GRACEFUL_SIGNALS.join(', ')}`,
        }),
      )
      .transform((signal) => ({ type: 'signal' as const, signal })),
    z.object({
      type: z.literal('signal'),
      signal: z.enum(GRACEFUL_SIGNALS, {
        error: `must be one of ${GRACEFUL_SIGNALS.join(', ')}`,
      }),
    }),
    z.object({ type: z.enum(['auto', 'detach']) }),
    z.object({
      type: z.literal('command'),
      argv: z
        .array(z.string().min(1, { error: 'arguments must not be empty' }))
        .min(1, { error: 'needs at least the program' })
        .max(32, { error: 'takes at most 32 arguments' })
        .refine((argv) => argv[0]?.startsWith('/'), {
          error: 'the program must be an absolute path',
        })
        .refine((argv) => argv.includes(PID_PLACEHOLDER), {
          error: `must pass the worker's pid as an argument "${PID_PLACEHOLDER}"`,
        }),
    }),
  ],
  {
    error:
      'must be "auto", "detach", "signal:<NAME>" or ' +
      '{"type":"command","argv":[...]}',
  },
);

const appPolicyShape = {
  /** Memory limit per worker, MB. */
  limitMb: z
    .number({ error: 'must be a number' })
    .gt(0, { error: 'must be greater than 0' })
    .max(MAX_LIMIT_MB, { error: `must be at most ${MAX_LIMIT_MB}` }),
  /** Seconds between the graceful action and the forced kill. */
  graceSeconds: wholeNumber({ min: 1, max: MAX_GRACE_SECONDS }),
  measure: z.enum(MEASURES, {
    error: `must be one of ${MEASURES.join(', ')}`,
  }),
  gracefulAction: gracefulChoice,
  /** Consecutive samples over the limit before acting. */
  sustainedSamples: wholeNumber({ min: 1, max: 100 }),
  /** Workers of one app on one host in grace at once. */
  maxInGracePerHost: wholeNumber({ min: 1, max: 1000 }),
  /** Live workers of one app on one host never to go below. */
  minLiveWorkers: wholeNumber({ min: 0, max: 1000 }),
  /** Un-mark a worker whose memory went back under the limit. */
  unmarkWhenBelow: flag,
  dryRun: flag,
};

const appPolicySchema = z.strictObject(appPolicyShape);
const appOverrideSchema = z.strictObject(appPolicyShape).partial();

const orphanSchema = z.strictObject({
  enabled: flag.default(true),
  /** A process younger than this is never called an orphan. */
  minAgeSeconds: wholeNumber({ min: 0, max: MAX_GRACE_SECONDS }).default(60),
  /** Missing from the pool in two samples at least this far apart. */
  confirmSeconds: wholeNumber({
    min: MIN_ORPHAN_CONFIRM_SECONDS,
    max: 3600,
  }).default(MIN_ORPHAN_CONFIRM_SECONDS),
  /** Between TERM and SIGKILL. */
  graceSeconds: wholeNumber({ min: 1, max: MAX_GRACE_SECONDS }).default(
    DEFAULT_GRACE_SECONDS,
  ),
});

/**
 * Fleet-wide brakes, read by the controller only (the single-host
 * enforcer has its per-host budget). `maxInGracePercent` applies by
 * default (100 lifts it); with `maxInGrace` too, the lower.
 */
const fleetSchema = z.strictObject({
  /** Workers of one app in grace at once across the fleet. */
  maxInGrace: wholeNumber({ min: 1, max: 1_000_000 }).optional(),
  /** The same, as a percentage of the app's workers in the census. */
  maxInGracePercent: z
    .number({ error: 'must be a number' })
    .gt(0, { error: 'must be greater than 0' })
    .max(100, { error: 'must be at most 100' })
    .default(DEFAULT_MAX_IN_GRACE_PERCENT),
  /** More than this percentage of an app's hosts breaching: act on none. */
  breakerPercent: z
    .number({ error: 'must be a number' })
    .gt(0, { error: 'must be greater than 0' })
    .max(100, { error: 'must be at most 100' })
    .default(DEFAULT_BREAKER_PERCENT),
  /** Below this many hosts of an app, the breaker never opens. */
  minHostsForBreaker: wholeNumber({ min: 1, max: 1_000_000 }).default(
    DEFAULT_MIN_HOSTS_FOR_BREAKER,
  ),
  /** A host's agent heard from longer ago than this is reported silent. */
  silentAfterSeconds: wholeNumber({ min: 60, max: 7 * 24 * 3600 }).default(
    DEFAULT_SILENT_AFTER_SECONDS,
  ),
});

export const configSchema = z.strictObject({
  defaults: appPolicySchema.partial().default({}),
  /** Per app, keyed by a selector: short name, deploy dir, root or group. */
  apps: z
    .record(
      z.string().min(1, { error: 'app names must not be empty' }),
      appOverrideSchema,
    )
    .default({}),
  /** What to do with apps no selector names. */
  unlistedApps: z
    .enum(['enforce', 'ignore'], { error: 'must be enforce or ignore' })
    .default('enforce'),
  orphans: orphanSchema.default({
    enabled: true,
    minAgeSeconds: 60,
    confirmSeconds: MIN_ORPHAN_CONFIRM_SECONDS,
    graceSeconds: DEFAULT_GRACE_SECONDS,
  }),
  dryRun: flag.default(false),
  fleet: fleetSchema.default({
    maxInGracePercent: DEFAULT_MAX_IN_GRACE_PERCENT,
    breakerPercent: DEFAULT_BREAKER_PERCENT,
    minHostsForBreaker: DEFAULT_MIN_HOSTS_FOR_BREAKER,
    silentAfterSeconds: DEFAULT_SILENT_AFTER_SECONDS,
  }),
});

export type FleetBrakes = z.output<typeof fleetSchema>;
export type AppPolicy = Omit<
  z.output<typeof appPolicySchema>,
  'gracefulAction'
> & { readonly gracefulAction: GracefulChoice };
export type FleetConfig = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export const BUILT_IN_POLICY: AppPolicy = {
  limitMb: DEFAULT_LIMIT_MB,
  graceSeconds: DEFAULT_GRACE_SECONDS,
  measure: 'private',
  gracefulAction: { type: 'auto' },
  sustainedSamples: 1,
  maxInGracePerHost: 1,
  minLiveWorkers: 0,
  unmarkWhenBelow: false,
  dryRun: false,
};

export interface ConfigProblem {
  /** Dotted path, e.g. `apps.shop.limitMb`. */
  readonly field: string;
  readonly rule: string;
  readonly value: unknown;
}

export type ConfigParse =
  | { readonly ok: true; readonly config: FleetConfig }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

export function parseConfig(input: unknown): ConfigParse {
  const result = configSchema.safeParse(input);
  if (result.success) return { ok: true, config: result.data };
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String);
    const unknownKeys =
      issue.code === 'unrecognized_keys' ? issue.keys : undefined;
    if (unknownKeys !== undefined) {
      // an empty key must still show, or the problem names nothing
      const named = unknownKeys.map((key) => key || '""');
      return {
        field: [...path.map((key) => key || '""'), named[0] ?? '""'].join('.'),
        rule: `is not a known setting (${named.join(', ')})`,
        value: valueAt(input, [...path, unknownKeys[0] ?? '']),
      };
    }
    // A bad record key reports the rule of the key schema underneath.
    const keyRule =
      issue.code === 'invalid_key' ? issue.issues[0]?.message : undefined;
    return {
      field: path.map((key) => key || '""').join('.') || '(root)',
      rule: keyRule ?? issue.message,
      value: valueAt(input, path),
    };
  });
  return { ok: false, problems };
}

/** `apps.shop.limitMb must be greater than 0 (got -5)` */
export function describeProblem(problem: ConfigProblem): string {
  const shown =
    problem.value === undefined ? 'nothing' : JSON.stringify(problem.value);
  return `${problem.field} ${problem.rule} (got ${shown})`;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map(describeProblem).join('; '));
  }
}

/** parseConfig, throwing a ConfigError that lists every problem. */
export function loadConfig(input: unknown): FleetConfig {
  const parsed = parseConfig(input);
  if (!parsed.ok) throw new ConfigError(parsed.problems);
  return parsed.config;
}

/**
 * The policy for one app: built-in defaults, then the fleet defaults,
 * then the first app entry whose selector names it. Undefined when the
 * app is not listed and unlisted apps are ignored.
 */
export function policyFor(
  config: FleetConfig,
  app: AppRef,
): AppPolicy | undefined {
  const entry = Object.entries(config.apps).find(([selector]) =>
    appMatches(selector, app),
  );
  if (entry === undefined && config.unlistedApps === 'ignore') return undefined;
  const merged = { ...BUILT_IN_POLICY, ...config.defaults, ...entry?.[1] };
  return config.dryRun ? { ...merged, dryRun: true } : merged;
}

function valueAt(input: unknown, path: readonly string[]): unknown {
  let here: unknown = input;
  for (const key of path) {
    if (here === null || typeof here !== 'object') return undefined;
    here = (here as Record<string, unknown>)[key];
  }
  return here;
}
