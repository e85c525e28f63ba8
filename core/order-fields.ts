/**
 * What every item of the `orders` parameter shares: the bounds of its
 * numbers and how a graceful step is written (`detach`, `signal-TERM`).
 * The exact items are in order-items.ts, the PICK items in order-picks.ts.
 */
import { GRACEFUL_SIGNALS, type GracefulSignal } from './actions.ts';
import { quoted, type FieldProblem } from './field-problem.ts';

/** Keeps every command's stdout report under the 24,000 characters read. */
export const MAX_ORDERS_PER_COMMAND = 25;
/**
 * Workers one command may touch, exact orders and picks together: each
 * gets up to two report lines, which must fit the stdout that is read.
 */
export const MAX_WORKERS_PER_COMMAND = MAX_ORDERS_PER_COMMAND;
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

/** The graceful steps as the pattern spells them. */
export const GRACEFUL_TOKENS: readonly string[] = [
  'detach',
  ...GRACEFUL_SIGNALS.map((signal) => `signal-${signal}`),
];

/** A token the pattern let through: `detach` or `signal-<one of ours>`. */
export function gracefulOf(token: string): WireGraceful {
  if (token === 'detach') return { type: 'detach' };
  const signal = token.slice('signal-'.length) as GracefulSignal;
  return { type: 'signal', signal };
}

/** The token of a graceful step; `?` and a problem for anything else. */
export function gracefulToken(
  given: WireGraceful | undefined,
  index: number,
  problems: FieldProblem[],
): string {
  const graceful: { type: string; signal?: string } | undefined = given;
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
