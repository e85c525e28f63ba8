/**
 * The `orders` parameter of an SSM order command: one item per order,
 * items joined by commas, each item six fields joined by colons:
 *
 *   pid:startTime:action:graceSeconds:limitKb:uid
 *   4242:1234567:signal-TERM:30:262144:1001,4243:1234570:force-kill:-:-:1001
 *
 * `-` stands for a field the action does not use. The pattern bounds
 * every field's characters and digits; what a pattern cannot say (pid_max,
 * which fields an action needs, one order per pid) is checked here.
 */
import { GRACEFUL_SIGNALS, type GracefulSignal } from './actions.ts';
import { quoted, type FieldProblem } from './field-problem.ts';
import type { OrderAction } from './order.ts';

/** Keeps every command's stdout report under the 24,000 characters read. */
export const MAX_ORDERS_PER_COMMAND = 25;
/** The document's `timeoutSeconds` (1200) leaves room after the longest. */
export const MAX_GRACE_SECONDS = 900;
/** The kernel's PID_MAX_LIMIT on 64-bit Linux. */
export const MAX_PID = 4_194_304;
/** 4 TiB: more than any worker, few enough digits for the pattern. */
export const MAX_LIMIT_KB = 2 ** 32;
/** (uid_t)-1 means "no user" to the kernel. */
export const MAX_UID = 4_294_967_294;

/** How a graceful order may act; a user's command line cannot travel. */
export type WireGraceful =
  | { readonly type: 'detach' }
  | { readonly type: 'signal'; readonly signal: GracefulSignal };

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

// Plain groups and classes only: SSM checks these with its own regex
// engine, and the agent with JavaScript's.
const PID = '[1-9][0-9]{0,6}';
const START_TIME = '[0-9]{1,15}';
const ACTIONS = [
  'detach',
  ...GRACEFUL_SIGNALS.map((signal) => `signal-${signal}`),
  'force-kill',
  'orphan-term',
];
const ACTION = `(${ACTIONS.join('|')})`;
const GRACE = '([1-9][0-9]{0,3}|-)';
const LIMIT = '([1-9][0-9]{0,9}|-)';
const UID = '([0-9]{1,10}|-)';
const ITEM = [PID, START_TIME, ACTION, GRACE, LIMIT, UID].join(':');

/** The `allowedPattern` of the `orders` parameter. */
export const ORDERS_PATTERN = `^${ITEM}(,${ITEM}){0,${MAX_ORDERS_PER_COMMAND - 1}}$`;

export const ORDERS_RULE =
  `must be 1 to ${MAX_ORDERS_PER_COMMAND} items ` +
  'pid:startTime:action:graceSeconds:limitKb:uid joined by commas';

/** The orders of an `orders` value; each problem is pushed onto `problems`. */
export function decodeOrderItems(
  text: string,
  problems: FieldProblem[],
): WireOrder[] {
  if (!new RegExp(ORDERS_PATTERN).test(text)) {
    problems.push({ field: 'orders', rule: ORDERS_RULE, value: quoted(text) });
    return [];
  }
  const orders: WireOrder[] = [];
  const seen = new Set<number>();
  text.split(',').forEach((item, index) => {
    const order = decodeItem(item, `orders[${index}]`, problems);
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
  return orders;
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
  if (token === 'detach') {
    return { action: 'graceful', graceful: { type: 'detach' } };
  }
  // The pattern let nothing else through but signal-<one of ours>.
  const signal = token.slice('signal-'.length) as GracefulSignal;
  return { action: 'graceful', graceful: { type: 'signal', signal } };
}

/**
 * The `orders` value for these orders. An order that cannot travel at all
 * is pushed onto `problems`; the caller checks the result against
 * ORDERS_PATTERN and the rules above.
 */
export function encodeOrderItems(
  orders: readonly WireOrder[],
  problems: FieldProblem[],
): string {
  return orders
    .map((order, index) => encodeItem(order, index, problems))
    .join(',');
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
  const graceful: { type: string; signal?: string } | undefined =
    order.graceful;
  if (graceful?.type === 'detach') return 'detach';
  if (graceful?.type === 'signal') return `signal-${graceful.signal}`;
  problems.push({
    field: `orders[${index}].graceful`,
    rule:
      'must be detach or a signal: a command line cannot travel in an ' +
      'SSM order',
    value: quoted(JSON.stringify(graceful) ?? 'nothing'),
  });
  return '?';
}
