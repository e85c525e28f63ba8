/**
 * Turns `enforce` flags (and an optional JSON config file) into the one
 * configuration schema, so flags get exactly the checks the fleet's
 * parameters get, and a rejected value names the flag the user typed.
 */
import { readFileSync } from 'node:fs';
import {
  describeProblem,
  parseConfig,
  type FleetConfig,
} from '../../core/config.ts';
import { CliError, EXIT } from './exit-codes.ts';

export interface EnforceFlags {
  readonly limit?: string;
  readonly grace?: string;
  readonly config?: string;
  readonly measure?: string;
  readonly graceful?: string;
  readonly sustain?: string;
  readonly maxInGrace?: string;
  readonly minLive?: string;
  readonly unmarkBelow?: boolean;
  readonly orphans?: boolean;
  readonly orphanMinAge?: string;
  readonly orphanGrace?: string;
  readonly dryRun?: boolean;
}

/** Each schema path a flag can set, and the flag's name for errors. */
const FLAG_PATHS: readonly [keyof EnforceFlags, string, string][] = [
  ['limit', 'defaults.limitMb', '--limit'],
  ['grace', 'defaults.graceSeconds', '--grace'],
  ['measure', 'defaults.measure', '--measure'],
  ['graceful', 'defaults.gracefulAction', '--graceful'],
  ['sustain', 'defaults.sustainedSamples', '--sustain'],
  ['maxInGrace', 'defaults.maxInGracePerHost', '--max-in-grace'],
  ['minLive', 'defaults.minLiveWorkers', '--min-live'],
  ['unmarkBelow', 'defaults.unmarkWhenBelow', '--unmark-below'],
  ['orphans', 'orphans.enabled', '--no-orphans'],
  ['orphanMinAge', 'orphans.minAgeSeconds', '--orphan-min-age'],
  ['orphanGrace', 'orphans.graceSeconds', '--orphan-grace'],
  ['dryRun', 'dryRun', '--dry-run'],
];

const NUMERIC = new Set<keyof EnforceFlags>([
  'limit',
  'grace',
  'sustain',
  'maxInGrace',
  'minLive',
  'orphanMinAge',
  'orphanGrace',
]);

export function configFromFlags(
  apps: readonly string[],
  flags: EnforceFlags,
): FleetConfig {
  const input = flags.config ? readConfigFile(flags.config) : {};
  for (const [name, path] of FLAG_PATHS) {
    const raw = flags[name];
    if (raw === undefined) continue;
    // `--no-orphans` is the only way commander reports false for it.
    if (name === 'orphans' && raw === true) continue;
    setPath(input, path, NUMERIC.has(name) ? numberOrText(raw) : raw);
  }
  if (apps.length > 0) {
    const listed = (input.apps ??= {}) as Record<string, unknown>;
    for (const app of apps) listed[app] ??= {};
    input.unlistedApps = 'ignore';
  }
  const parsed = parseConfig(input);
  if (parsed.ok) return parsed.config;
  const lines = parsed.problems.map((problem) => {
    const flag = FLAG_PATHS.find(
      ([name, path]) => path === problem.field && flags[name] !== undefined,
    );
    const text = describeProblem(problem);
    return flag ? `${flag[2]}: ${text}` : text;
  });
  throw new CliError(`invalid configuration: ${lines.join('; ')}`, EXIT.usage);
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new CliError(`--config: cannot read ${path} (${code})`, EXIT.noInput);
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new Error('the top level must be a JSON object');
    }
    return value as Record<string, unknown>;
  } catch (error) {
    throw new CliError(
      `--config: ${path} is not a valid configuration file: ` +
        (error as Error).message,
      EXIT.usage,
    );
  }
}

/** Keeps text that is not a number, so the schema can say what it got. */
function numberOrText(raw: string | boolean): unknown {
  if (typeof raw !== 'string' || raw.trim() === '') return raw;
  const value = Number(raw);
  return Number.isNaN(value) ? raw : value;
}

function setPath(
  target: Record<string, unknown>,
  path: string,
  value: unknown,
): void {
  const keys = path.split('.');
  let here = target;
  for (const key of keys.slice(0, -1)) {
    const next = here[key];
    if (next === null || typeof next !== 'object') here[key] = {};
    here = here[key] as Record<string, unknown>;
  }
  here[keys.at(-1) as string] = value;
}
