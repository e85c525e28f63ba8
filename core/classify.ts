/**
 * Tells what a process is from its title (`/proc/<pid>/cmdline`, or the
 * Name column of passenger-memory-stats).
 *
 * The table of titles per Passenger era is in ../shared/PASSENGER.md. The
 * one trap: from 5.3.0 to 6.0.7 smart-spawned workers kept the title
 * `Passenger AppPreloader: <root> (forking...)`; those are workers, and the
 * real preloader is the same title without the suffix.
 */
import type { ProcessRole, WorkerKind } from './worker.ts';

/** Which generation of titles the process wears. */
export type TitleEra = '1-3' | '4' | '5+' | '5.3-6.0.7' | '6.0.8+' | 'unknown';

export interface TitleClass {
  readonly role: ProcessRole;
  readonly kind: WorkerKind;
  /** The app group from the title; absent for Python workers. */
  readonly group?: string;
  readonly era: TitleEra;
}

interface WorkerTitle {
  readonly pattern: RegExp;
  readonly kind: WorkerKind;
  readonly era: TitleEra;
}

// Order matters: the first pattern that matches wins.
const WORKER_TITLES: readonly WorkerTitle[] = [
  {
    pattern: /^Passenger AppPreloader: (.+) \(forking\.\.\.\)$/,
    kind: 'ruby',
    era: '5.3-6.0.7',
  },
  { pattern: /^Passenger RubyApp: (.+)$/, kind: 'ruby', era: '5+' },
  { pattern: /^Passenger RackApp: (.+)$/, kind: 'ruby', era: '4' },
  { pattern: /^Passenger ClassicRailsApp: (.+)$/, kind: 'ruby', era: '4' },
  { pattern: /^Passenger NodeApp: (.+)$/, kind: 'node', era: '4' },
  {
    pattern: /^Passenger MeteorApp: (.+?)(?: \(\d+\))?$/,
    kind: 'meteor',
    era: '4',
  },
  { pattern: /^Passenger WsgiApp(?:: (.+))?$/, kind: 'python', era: '4' },
  { pattern: /^Passenger App: (.+)$/, kind: 'unknown', era: '6.0.8+' },
  { pattern: /^Rails: (.+)$/, kind: 'ruby', era: '1-3' },
  { pattern: /^Rack: (.+)$/, kind: 'ruby', era: '1-3' },
  { pattern: /^WSGI: (.+)$/, kind: 'python', era: '1-3' },
];

const OTHER_TITLES: readonly [RegExp, ProcessRole][] = [
  [/^Passenger AppPreloader: /, 'preloader'],
  [/^Passenger (?:ApplicationSpawner|FrameworkSpawner): /, 'spawner'],
  [/^Passenger spawn server\b/i, 'spawner'],
  [/^Passenger ?SpawnServer\b/, 'spawner'],
  [
    /^(?:PassengerWatchdog|Passenger watchdog|PassengerAgent watchdog)\b/,
    'watchdog',
  ],
  [/^(?:Passenger core|PassengerAgent server|PassengerHelperAgent)\b/, 'core'],
  [/^PassengerNginxHelperServer\b/, 'core'],
  [/^(?:PassengerLoggingAgent|PassengerAgent logger)\b/, 'agent'],
  [/^Passenger (?:ust-router|UstRouter)\b/, 'agent'],
  [/^Passenger(?:Agent)?\b/, 'agent'],
];

const WEB_SERVER = /^(?:\S*\/)?(?:apache2|httpd|nginx)(?::|\s|$)/;
// Anchored at the start: the interpreter must be the program itself, not
// an argument of an editor, a debugger or a pager that names its path.
const PYTHON_LOADER =
  /^(?:\S*\/)?python[\d.]*\s+\S*helper-scripts\/wsgi-loader\.py(?:\s|$)/;

/**
 * Turns raw cmdline bytes into a title: NULs separate arguments and Ruby
 * pads its title with them, so they become single spaces.
 */
export function titleFromCmdline(raw: string): string {
  return raw.replace(/\0+/g, ' ').trim();
}

export function classifyTitle(title: string): TitleClass {
  const text = title.trim();
  for (const { pattern, kind, era } of WORKER_TITLES) {
    const match = pattern.exec(text);
    if (match === null) continue;
    const group = match[1]?.trim();
    const result = {
      role: 'app-worker' as const,
      kind,
      era: eraOf(era, group),
    };
    return group ? { ...result, group } : result;
  }
  if (PYTHON_LOADER.test(text)) {
    return { role: 'app-worker', kind: 'python', era: 'unknown' };
  }
  for (const [pattern, role] of OTHER_TITLES) {
    if (pattern.test(text)) return { role, kind: 'unknown', era: 'unknown' };
  }
  if (WEB_SERVER.test(text)) {
    return { role: 'web-server', kind: 'unknown', era: 'unknown' };
  }
  return { role: 'other', kind: 'unknown', era: 'unknown' };
}

/** 6.0.8 and later append ` (<env>)` to Ruby titles. */
function eraOf(era: TitleEra, group: string | undefined): TitleEra {
  if (era === '5+' && group !== undefined && / \([\w.-]+\)$/.test(group)) {
    return '6.0.8+';
  }
  return era;
}
