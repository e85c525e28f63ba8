/**
 * The graceful step, chosen per Passenger version and worker kind.
 *
 * What is graceful changed under the cron script's feet: USR1 let a
 * Passenger 2-4 Ruby worker finish its request, but since 5.0 it kills
 * Ruby and Python workers at once (a 502 for the request in flight), and a
 * Node worker answers it by opening its inspector on port 9229. Since
 * 4.0.37 `passenger-config detach-process` is the graceful way for every
 * kind.
 */
import type { TitleEra } from './classify.ts';
import type { WorkerKind } from './worker.ts';

/** Signals a user may choose as the graceful step. KILL is never graceful. */
export const GRACEFUL_SIGNALS = [
  'USR1',
  'USR2',
  'TERM',
  'INT',
  'HUP',
  'QUIT',
  'ABRT',
] as const;
export type GracefulSignal = (typeof GRACEFUL_SIGNALS)[number];

/** `{pid}` in a command's arguments stands for the worker's pid. */
export const PID_PLACEHOLDER = '{pid}';

export type GracefulAction =
  | { readonly type: 'detach' }
  | { readonly type: 'signal'; readonly signal: GracefulSignal }
  | { readonly type: 'command'; readonly argv: readonly string[] };

/** What the configuration says; `auto` picks per worker. */
export type GracefulChoice = { readonly type: 'auto' } | GracefulAction;

export type ActionChoice =
  | { readonly ok: true; readonly action: GracefulAction }
  | { readonly ok: false; readonly reason: string };

export interface ActionTarget {
  readonly kind: WorkerKind;
  readonly passengerVersion?: string;
  readonly era?: TitleEra;
}

const DETACH_SINCE: readonly number[] = [4, 0, 37];

export function chooseGracefulAction(
  choice: GracefulChoice,
  target: ActionTarget,
): ActionChoice {
  if (choice.type !== 'auto') {
    if (isUsr1(choice) && target.kind === 'node') {
      return {
        ok: false,
        reason: 'USR1 opens the inspector of a Node worker; refusing it',
      };
    }
    return { ok: true, action: choice };
  }
  if (hasDetach(target)) return { ok: true, action: { type: 'detach' } };
  // Before detach-process existed, only Ruby workers exited gracefully on
  // USR1 (Passenger's soft termination signal up to 4.x).
  if (target.kind === 'ruby') {
    return { ok: true, action: { type: 'signal', signal: 'USR1' } };
  }
  return {
    ok: false,
    reason:
      `no graceful action known for a ${target.kind} worker of Passenger ` +
      `${target.passengerVersion ?? 'of unknown version'}; ` +
      'set gracefulAction to a signal or a command',
  };
}

function isUsr1(action: GracefulAction): boolean {
  return action.type === 'signal' && action.signal === 'USR1';
}

function hasDetach(target: ActionTarget): boolean {
  const version = parseVersion(target.passengerVersion);
  if (version !== undefined) return compareVersions(version, DETACH_SINCE) >= 0;
  // Titles of 5.0 and later can only come from a Passenger that has it.
  return (
    target.era === '5+' ||
    target.era === '5.3-6.0.7' ||
    target.era === '6.0.8+' ||
    // Node and Python titles alone do not date the release; detach is the
    // only action that is safe for them anyway.
    (target.era !== '1-3' && target.kind !== 'ruby')
  );
}

export function parseVersion(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim());
  if (match === null) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

export function compareVersions(a: readonly number[], b: readonly number[]) {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}
