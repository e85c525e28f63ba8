/**
 * The wire format of the orders the controller sends to one host through
 * SSM Run Command: the values of the Command document's parameters.
 *
 * One command carries the orders for one app on one instance (the items
 * of `orders`, see order-items.ts). Each parameter has one strict
 * pattern, which the document gives SSM as its `allowedPattern`, so
 * SendCommand rejects a bad value before it leaves AWS; the agent decodes
 * and checks every value again, because a pattern can be bypassed (an
 * older document version, a hand-made command) and is only a first fence.
 *
 * Decoding never throws: it returns every problem, each naming the field,
 * the rule and the value.
 */
import { describeProblem, quoted, type FieldProblem } from './field-problem.ts';
import { MEASURES, type Measure } from './measure.ts';
import type { Order } from './order.ts';
import {
  decodeOrderItems,
  encodeOrderItems,
  ORDERS_PATTERN,
  type WireOrder,
  type WirePick,
} from './order-items.ts';

/** The document's parameters, which SSM hands over as `SSM_<name>`. */
export const ORDER_PARAMETER_NAMES = [
  'instanceId',
  'app',
  'measure',
  'notAfter',
  'orders',
] as const;
export type OrderParameterName = (typeof ORDER_PARAMETER_NAMES)[number];
export type OrderParameters = Record<OrderParameterName, string>;

/** SSM Agent 3.3.2746.0+ names the variable of parameter `x` `SSM_x`. */
export const ENV_PREFIX = 'SSM_';

/** An order meant to live longer than this is a mistake or a replay. */
export const MAX_NOT_AFTER_AHEAD_SECONDS = 3600;
export type { WireOrder, WirePick };

/** Everything one command carries. */
export interface OrderBatch {
  /** The instance the orders are for; the host checks it is itself. */
  readonly instanceId: string;
  readonly app: string;
  readonly measure: Measure;
  /** Epoch seconds after which no order of the batch may be carried out. */
  readonly notAfter: number;
  readonly orders: readonly WireOrder[];
  /**
   * Orders that let the host choose the workers (core/pick.ts); carried
   * out after the exact orders, never on a pid those name.
   */
  readonly picks?: readonly WirePick[];
}

export type DecodeResult =
  | { readonly ok: true; readonly batch: OrderBatch }
  | { readonly ok: false; readonly problems: readonly FieldProblem[] };

/** An app group name: a path, `<root> (<env>)`, or a plain name. */
const APP_FIRST = '[A-Za-z0-9_./@+]';
const APP_MIDDLE = '[A-Za-z0-9_./@+ ()-]';
const APP_LAST = '[A-Za-z0-9_./@+()-]';

/** Each parameter's `allowedPattern`; `measure` has `allowedValues`. */
export const ORDER_PARAMETER_PATTERNS: Readonly<
  Record<Exclude<OrderParameterName, 'measure'>, string>
> = {
  instanceId: '^(i-[0-9a-f]{8}|i-[0-9a-f]{17}|mi-[0-9a-f]{17})$',
  app: `^${APP_FIRST}(${APP_MIDDLE}{0,253}${APP_LAST})?$`,
  notAfter: '^[1-9][0-9]{9}$',
  orders: ORDERS_PATTERN,
};

const RULES = {
  instanceId: 'must be an EC2 or managed instance id (i-… or mi-…)',
  app:
    'must be an app group name of 1 to 255 letters, digits, spaces and ' +
    '_./@+()- that starts with a letter, digit or _./@+ and does not end ' +
    'with a space',
  notAfter: 'must be epoch seconds of 10 digits',
} as const;

/** Reads the parameters out of the environment SSM gave the script. */
export function parametersFromEnvironment(
  env: Readonly<Record<string, string | undefined>>,
): Partial<Record<OrderParameterName, string>> {
  const values: Partial<Record<OrderParameterName, string>> = {};
  for (const name of ORDER_PARAMETER_NAMES) {
    const value = env[`${ENV_PREFIX}${name}`];
    if (value !== undefined) values[name] = value;
  }
  return values;
}

/**
 * Decodes and checks one command's parameters. `now` (epoch ms) bounds
 * how far ahead `notAfter` may lie; a `notAfter` already past is valid
 * here: the executor refuses the orders, and says so.
 */
export function decodeOrderParameters(
  values: Readonly<Partial<Record<string, string>>>,
  now: number,
): DecodeResult {
  const problems: FieldProblem[] = [];
  const text = (name: OrderParameterName): string | undefined => {
    const value = values[name];
    if (typeof value === 'string') return value;
    problems.push({ field: name, rule: 'must be given', value: 'nothing' });
    return undefined;
  };
  const matching = (name: keyof typeof RULES) => {
    const value = text(name);
    if (value === undefined) return undefined;
    if (new RegExp(ORDER_PARAMETER_PATTERNS[name]).test(value)) return value;
    problems.push({ field: name, rule: RULES[name], value: quoted(value) });
    return undefined;
  };

  const instanceId = matching('instanceId');
  const app = matching('app');
  const measure = text('measure');
  if (measure !== undefined && !isMeasure(measure)) {
    problems.push({
      field: 'measure',
      rule: `must be one of ${MEASURES.join(', ')}`,
      value: quoted(measure),
    });
  }
  const notAfterText = matching('notAfter');
  const notAfter = notAfterText === undefined ? NaN : Number(notAfterText);
  const horizon = Math.floor(now / 1000) + MAX_NOT_AFTER_AHEAD_SECONDS;
  if (notAfter > horizon) {
    problems.push({
      field: 'notAfter',
      rule:
        `must be at most ${MAX_NOT_AFTER_AHEAD_SECONDS} s after this ` +
        `host's clock (${horizon})`,
      value: String(notAfter),
    });
  }
  const ordersText = text('orders');
  const { orders, picks } =
    ordersText === undefined
      ? { orders: [], picks: [] }
      : decodeOrderItems(ordersText, problems);

  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    batch: {
      instanceId: instanceId ?? '',
      app: app ?? '',
      measure: measure as Measure,
      notAfter,
      orders,
      ...(picks.length > 0 && { picks }),
    },
  };
}

/**
 * The parameters for SendCommand. Throws OrderCodecError when the batch
 * would be rejected, by SSM or by the host: a controller bug must show up
 * where it is made, not as a refusal on some host later.
 */
export function encodeOrderParameters(
  batch: OrderBatch,
  now: number,
): OrderParameters {
  const problems: FieldProblem[] = [];
  const values: OrderParameters = {
    instanceId: batch.instanceId,
    app: batch.app,
    measure: batch.measure,
    notAfter: String(batch.notAfter),
    orders: encodeOrderItems(batch.orders, problems, batch.picks),
  };
  if (problems.length > 0) throw new OrderCodecError(problems);
  const decoded = decodeOrderParameters(values, now);
  if (!decoded.ok) throw new OrderCodecError(decoded.problems);
  return values;
}

/** The order the executor carries out, for this instance. */
export function toOrder(batch: OrderBatch, wire: WireOrder): Order {
  return {
    identity: {
      host: batch.instanceId,
      pid: wire.pid,
      startTime: wire.startTime,
    },
    app: batch.app,
    action: wire.action,
    measure: batch.measure,
    notAfter: batch.notAfter * 1000,
    ...(wire.graceful === undefined ? {} : { graceful: wire.graceful }),
    ...(wire.limitKb === undefined ? {} : { limitKb: wire.limitKb }),
    ...(wire.uid === undefined ? {} : { uid: wire.uid }),
  };
}

export class OrderCodecError extends Error {
  override readonly name = 'OrderCodecError';
  constructor(readonly problems: readonly FieldProblem[]) {
    super(
      `the orders cannot be sent: ${problems.map(describeProblem).join('; ')}`,
    );
  }
}

function isMeasure(text: string): text is Measure {
  return (MEASURES as readonly string[]).includes(text);
}
