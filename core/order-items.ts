/**
 * The `orders` parameter of an SSM order command: one item per order,
 * items joined by commas, each item six fields joined by colons.
 *
 * An exact order names one process:
 *
 *   pid:startTime:action:graceSeconds:limitKb:uid
 *   4242:1234567:signal-TERM:30:262144:1001,4243:1234570:force-kill:-:-:1001
 *
 * A PICK order names none: the controller cannot know pids (no metric
 * carries one), so it asks the host to choose (core/pick.ts):
 *
 *   pick:<count>:<detach|signal-NAME>:<graceSeconds>:<limitKb>:-
 *   pick-orphans:<count>:orphan-term:<graceSeconds>:-:-
 *
 * `-` stands for a field the action does not use. The pattern bounds
 * every field's characters and digits; what a pattern cannot say (pid_max,
 * which fields an action needs, one order per pid, one pick of each kind,
 * how many workers a command may touch) is checked here.
 */
import { quoted, type FieldProblem } from './field-problem.ts';
import type { OrderAction } from './order.ts';
import {
  GRACEFUL_TOKENS,
  gracefulOf,
  gracefulToken,
  MAX_GRACE_SECONDS,
  MAX_LIMIT_KB,
  MAX_ORDERS_PER_COMMAND,
  MAX_PID,
  MAX_UID,
  MAX_WORKERS_PER_COMMAND,
  type WireGraceful,
} from './order-fields.ts';
import {
  decodePick,
  encodePick,
  isPickItem,
  PICK_ITEM_PATTERN,
  PICK_ORPHANS_ITEM_PATTERN,
  type WirePick,
} from './order-picks.ts';

export {
  MAX_GRACE_SECONDS,
  MAX_LIMIT_KB,
  MAX_ORDERS_PER_COMMAND,
  MAX_PID,
  MAX_UID,
  MAX_WORKERS_PER_COMMAND,
};
export type { WireGraceful, WirePick };

/** One order as it travels: the host and app come from the command. */
export interface WireOrder {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat when the worker was observed. */
  readonly startTime: number;
  readonly action: OrderAction;
  /** For `graceful`. */
  readonly graceful?: WireGraceful;
  /** For `graceful` and `orphan-term`: time from the step to SIGKILL. */
  readonly graceSeconds?: number;
  /** For `graceful`: the worker must still be over this. */
  readonly limitKb?: number;
  readonly uid?: number;
}

/** What one `orders` value carries. */
export interface DecodedItems {
  readonly orders: WireOrder[];
  readonly picks: WirePick[];
}

// Plain groups and classes only: SSM checks these with its own regex
// engine, and the agent with JavaScript's.
const PID = '[1-9][0-9]{0,6}';
const START_TIME = '[0-9]{1,15}';
const ACTIONS = [...GRACEFUL_TOKENS, 'force-kill', 'orphan-term'];
const ACTION = `(${ACTIONS.join('|')})`;
const GRACE = '([1-9][0-9]{0,3}|-)';
const LIMIT = '([1-9][0-9]{0,9}|-)';
const UID = '([0-9]{1,10}|-)';
const EXACT = [PID, START_TIME, ACTION, GRACE, LIMIT, UID].join(':');
const ITEM = `(${EXACT}|${PICK_ITEM_PATTERN}|${PICK_ORPHANS_ITEM_PATTERN})`;

/** The `allowedPattern` of the `orders` parameter. */
export const ORDERS_PATTERN = `^${ITEM}(,${ITEM}){0,${MAX_ORDERS_PER_COMMAND - 1}}$`;

export const ORDERS_RULE =
  `must be 1 to ${MAX_ORDERS_PER_COMMAND} items ` +
  'pid:startTime:action:graceSeconds:limitKb:uid, ' +
  'pick:count:graceful:graceSeconds:limitKb:- or ' +
  'pick-orphans:count:orphan-term:graceSeconds:-:- joined by commas';

/** The items of an `orders` value; each problem is pushed onto `problems`. */
export function decodeOrderItems(
  text: string,
  problems: FieldProblem[],
): DecodedItems {
  if (!new RegExp(ORDERS_PATTERN).test(text)) {
    problems.push({ field: 'orders', rule: ORDERS_RULE, value: quoted(text) });
    return { orders: [], picks: [] };
  }
  const orders: WireOrder[] = [];
  const picks: WirePick[] = [];
  const seen = new Set<number>();
  text.split(',').forEach((item, index) => {
    const field = `orders[${index}]`;
    if (isPickItem(item)) {
      const pick = decodePick(item, field, problems);
      if (pick === undefined) return;
      if (picks.some((earlier) => earlier.kind === pick.kind)) {
        problems.push({
          field: `${field}.action`,
          rule: `must name ${pick.kind} at most once per command`,
          value: pick.kind,
        });
      }
      picks.push(pick);
      return;
    }
    const order = decodeItem(item, field, problems);
    if (order === undefined) return;
    if (seen.has(order.pid)) {
      problems.push({
        field: `orders[${index}].pid`,
        rule: 'must name each pid at most once per command',
        value: String(order.pid),
      });
    }
    seen.add(order.pid);
    orders.push(order);
  });
  const workers =
    orders.length + picks.reduce((sum, pick) => sum + pick.count, 0);
  if (workers > MAX_WORKERS_PER_COMMAND) {
    problems.push({
      field: 'orders',
      rule:
        `must touch at most ${MAX_WORKERS_PER_COMMAND} workers, exact ` +
        'orders and pick counts together',
      value: String(workers),
    });
  }
  return { orders, picks };
}

/** One item that already matched the pattern; checks what it cannot. */
function decodeItem(
  item: string,
  field: string,
  problems: FieldProblem[],
): WireOrder | undefined {
  const [pidText, startText, token, graceText, limitText, uidText] = item.split(
    ':',
  ) as [string, string, string, string, string, string];
  const before = problems.length;
  const number = (name: string, raw: string, min: number, max: number) => {
    if (raw === '-') return undefined;
    const value = Number(raw);
    if (value < min || value > max) {
      problems.push({
        field: `${field}.${name}`,
        rule: `must be from ${min} to ${max}`,
        value: raw,
      });
    }
    return value;
  };
  const pid = number('pid', pidText, 2, MAX_PID) ?? 0;
  // 15 digits at most: always a safe integer.
  const startTime = Number(startText);
  const graceSeconds = number('graceSeconds', graceText, 1, MAX_GRACE_SECONDS);
  const limitKb = number('limitKb', limitText, 1, MAX_LIMIT_KB);
  const uid = number('uid', uidText, 0, MAX_UID);

  const { action, graceful } = actionOf(token);
  const presence = (name: string, raw: string, needed: boolean) => {
    if ((raw !== '-') === needed) return;
    problems.push({
      field: `${field}.${name}`,
      rule: needed
        ? `must be given for action ${token}`
        : `must be '-' for action ${token}`,
      value: raw,
    });
  };
  presence('graceSeconds', graceText, action !== 'force-kill');
  presence('limitKb', limitText, action === 'graceful');
  if (problems.length > before) return undefined;
  return {
    pid,
    startTime,
    action,
    ...(graceful === undefined ? {} : { graceful }),
    ...(graceSeconds === undefined ? {} : { graceSeconds }),
    ...(limitKb === undefined ? {} : { limitKb }),
    ...(uid === undefined ? {} : { uid }),
  };
}

function actionOf(token: string): {
  action: OrderAction;
  graceful?: WireGraceful;
} {
  if (token === 'force-kill' || token === 'orphan-term') {
    return { action: token };
  }
  // The pattern let nothing else through but a graceful token.
  return { action: 'graceful', graceful: gracefulOf(token) };
}

/**
 * The `orders` value for these orders, then these picks. An order that
 * cannot travel at all is pushed onto `problems`; the caller checks the
 * result against ORDERS_PATTERN and the rules above.
 */
export function encodeOrderItems(
  orders: readonly WireOrder[],
  problems: FieldProblem[],
  picks: readonly WirePick[] = [],
): string {
  const exact = orders.map((order, index) =>
    encodeItem(order, index, problems),
  );
  const chosen = picks.map((pick, index) =>
    encodePick(pick, orders.length + index, problems),
  );
  return [...exact, ...chosen].join(',');
}

function encodeItem(
  order: WireOrder,
  index: number,
  problems: FieldProblem[],
): string {
  const dash = (value: number | undefined) =>
    value === undefined ? '-' : String(value);
  return [
    order.pid,
    order.startTime,
    tokenOf(order, index, problems),
    dash(order.graceSeconds),
    dash(order.limitKb),
    dash(order.uid),
  ].join(':');
}

function tokenOf(
  order: WireOrder,
  index: number,
  problems: FieldProblem[],
): string {
  if (order.action !== 'graceful') return order.action;
  return gracefulToken(order.graceful, index, problems);
}
