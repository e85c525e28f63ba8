/**
 * PICK items of the `orders` parameter: the controller cannot know pids
 * (no metric carries one), so it asks the host to choose the workers
 * itself with core/pick.ts:
 *
 *   pick:<count>:<detach|signal-NAME>:<graceSeconds>:<limitKb>:-
 *   pick-orphans:<count>:orphan-term:<graceSeconds>:-:-
 *
 * Six fields, like an exact item, so one pattern shape covers both.
 */
import {
  GRACEFUL_TOKENS,
  gracefulOf,
  gracefulToken,
  MAX_GRACE_SECONDS,
  MAX_LIMIT_KB,
  MAX_WORKERS_PER_COMMAND,
  type WireGraceful,
} from './order-fields.ts';
import type { FieldProblem } from './field-problem.ts';

/** A PICK order: the host chooses the workers. */
export type WirePick =
  | {
      readonly kind: 'pick';
      /** At most this many workers, biggest first. */
      readonly count: number;
      readonly graceful: WireGraceful;
      /** From each worker's graceful step to its SIGKILL. */
      readonly graceSeconds: number;
      /** Only workers over this many kB by the command's measure. */
      readonly limitKb: number;
    }
  | {
      readonly kind: 'pick-orphans';
      readonly count: number;
      /** From each orphan's TERM to its SIGKILL. */
      readonly graceSeconds: number;
    };

export type PickKind = WirePick['kind'];

const COUNT = '[1-9][0-9]?';
const GRACE = '[1-9][0-9]{0,3}';

/** One `pick` item, for ORDERS_PATTERN. */
export const PICK_ITEM_PATTERN = [
  'pick',
  COUNT,
  `(${GRACEFUL_TOKENS.join('|')})`,
  GRACE,
  '[1-9][0-9]{0,9}',
  '-',
].join(':');

/** One `pick-orphans` item, for ORDERS_PATTERN. */
export const PICK_ORPHANS_ITEM_PATTERN = [
  'pick-orphans',
  COUNT,
  'orphan-term',
  GRACE,
  '-',
  '-',
].join(':');

export function isPickItem(item: string): boolean {
  return item.startsWith('pick:') || item.startsWith('pick-orphans:');
}

/** One pick item that already matched the pattern; checks what it cannot. */
export function decodePick(
  item: string,
  field: string,
  problems: FieldProblem[],
): WirePick | undefined {
  const [kind, countText, token, graceText, limitText] = item.split(':') as [
    string,
    string,
    string,
    string,
    string,
  ];
  const before = problems.length;
  const bounded = (name: string, raw: string, max: number) => {
    const value = Number(raw);
    if (value > max) {
      problems.push({
        field: `${field}.${name}`,
        rule: `must be from 1 to ${max}`,
        value: raw,
      });
    }
    return value;
  };
  const count = bounded('count', countText, MAX_WORKERS_PER_COMMAND);
  const graceSeconds = bounded('graceSeconds', graceText, MAX_GRACE_SECONDS);
  if (kind === 'pick-orphans') {
    if (problems.length > before) return undefined;
    return { kind, count, graceSeconds };
  }
  const limitKb = bounded('limitKb', limitText, MAX_LIMIT_KB);
  if (problems.length > before) return undefined;
  const graceful = gracefulOf(token);
  return { kind: 'pick', count, graceful, graceSeconds, limitKb };
}

export function encodePick(
  pick: WirePick,
  index: number,
  problems: FieldProblem[],
): string {
  const { count, graceSeconds } = pick;
  if (pick.kind === 'pick-orphans') {
    return ['pick-orphans', count, 'orphan-term', graceSeconds, '-', '-'].join(
      ':',
    );
  }
  const token = gracefulToken(pick.graceful, index, problems);
  return ['pick', count, token, graceSeconds, pick.limitKb, '-'].join(':');
}
