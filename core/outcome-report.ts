/**
 * What a host prints on stdout about the orders of one SSM command, and
 * how the controller reads it back from GetCommandInvocation, which keeps
 * only the first 24,000 characters.
 *
 * Every line we mean starts with a fixed prefix and carries one JSON
 * object; the parser ignores every other line (the shell, node warnings),
 * so nothing a process title or a tool prints can pass for a report:
 *
 *   PF-OUTCOME {"v":1,"pid":4242,"startTime":99,"step":"graceful",...}
 *   PF-OUTCOME {"v":1,"pid":4242,"startTime":99,"step":"deadline",...}
 *   PF-REJECTED {"v":1,"field":"orders","rule":"must be ...","value":"..."}
 *   PF-DONE {"v":1,"orders":1,"outcomes":2,"rejections":0}
 *
 * A graceful or orphan step that was carried out gets a second line,
 * `deadline`, once the host has SIGKILLed the worker at its deadline or
 * seen it leave. PF-DONE comes last: without it, or with fewer outcome
 * lines than it counts, the report is incomplete (cut at 24,000
 * characters, or the agent was killed), and an order without a line is
 * unreported, never assumed done.
 */
import { describeProblem, type FieldProblem } from './field-problem.ts';
import type { WireOrder } from './order-items.ts';
import {
  ORDER_ACTIONS,
  OUTCOME_STATUSES,
  type OutcomeStatus,
} from './order.ts';

export const OUTCOME_PREFIX = 'PF-OUTCOME ';
export const REJECTED_PREFIX = 'PF-REJECTED ';
export const DONE_PREFIX = 'PF-DONE ';
export const REPORT_VERSION = 1;

/** What GetCommandInvocation returns of a command's stdout. */
export const STDOUT_LIMIT_CHARS = 24_000;
/** A reason is cut to this many characters, as JSON, quotes left out. */
export const MAX_REASON_CHARS = 240;

export const REPORT_STEPS = [...ORDER_ACTIONS, 'deadline'] as const;
export type ReportStep = (typeof REPORT_STEPS)[number];

export interface OutcomeReport {
  readonly pid: number;
  readonly startTime: number;
  /** The order's action, or `deadline` for the SIGKILL that follows. */
  readonly step: ReportStep;
  readonly status: OutcomeStatus;
  readonly reason: string;
  /** Epoch ms when the host finished the step. */
  readonly at: number;
  /** Epoch ms of the forced kill, once a graceful step was carried out. */
  readonly deadline?: number;
  /** Whether this host stays to enforce `deadline` itself. */
  readonly hostWaits?: boolean;
}

export interface DoneSummary {
  readonly orders: number;
  readonly outcomes: number;
  readonly rejections: number;
}

export interface MalformedLine {
  /** 1-based line number in the stdout text. */
  readonly line: number;
  readonly reason: string;
}

export interface ParsedReport {
  readonly outcomes: readonly OutcomeReport[];
  readonly rejections: readonly FieldProblem[];
  readonly malformed: readonly MalformedLine[];
  readonly done?: DoneSummary;
  /** PF-DONE was read, and every line it counts was read whole. */
  readonly complete: boolean;
}

export function formatOutcomeLine(report: OutcomeReport): string {
  const body = {
    v: REPORT_VERSION,
    pid: report.pid,
    startTime: report.startTime,
    step: report.step,
    status: report.status,
    reason: shortReason(report.reason),
    at: report.at,
    ...(report.deadline === undefined ? {} : { deadline: report.deadline }),
    ...(report.hostWaits === undefined ? {} : { hostWaits: report.hostWaits }),
  };
  return OUTCOME_PREFIX + JSON.stringify(body);
}

export function formatRejectedLine(problem: FieldProblem): string {
  return REJECTED_PREFIX + JSON.stringify({ v: REPORT_VERSION, ...problem });
}

export function formatDoneLine(done: DoneSummary): string {
  return DONE_PREFIX + JSON.stringify({ v: REPORT_VERSION, ...done });
}

/** Reads a command's stdout; never throws, never makes up an outcome. */
export function parseOutcomeReport(stdout: string): ParsedReport {
  const outcomes: OutcomeReport[] = [];
  const rejections: FieldProblem[] = [];
  const malformed: MalformedLine[] = [];
  let done: DoneSummary | undefined;

  const lines = typeof stdout === 'string' ? stdout.split('\n') : [];
  lines.forEach((raw, index) => {
    const text = raw.replace(/\r$/, '');
    const prefix = [OUTCOME_PREFIX, REJECTED_PREFIX, DONE_PREFIX].find((p) =>
      text.startsWith(p),
    );
    if (prefix === undefined) return;
    const fail = (reason: string) =>
      malformed.push({ line: index + 1, reason });
    const body = jsonObject(text.slice(prefix.length));
    if (typeof body === 'string') return fail(body);
    if (body.v !== REPORT_VERSION) {
      return fail(`v must be ${REPORT_VERSION}, got ${shown(body.v)}`);
    }
    const read =
      prefix === OUTCOME_PREFIX
        ? readOutcome(body)
        : prefix === REJECTED_PREFIX
          ? readRejection(body)
          : readDone(body, done);
    if (typeof read === 'string') return fail(read);
    if (prefix === OUTCOME_PREFIX) outcomes.push(read as OutcomeReport);
    else if (prefix === REJECTED_PREFIX) rejections.push(read as FieldProblem);
    else done = read as DoneSummary;
  });

  const complete =
    done !== undefined &&
    malformed.length === 0 &&
    done.outcomes === outcomes.length &&
    done.rejections === rejections.length;
  return { outcomes, rejections, malformed, complete, ...(done && { done }) };
}

/** The reports of one order of the command, where there are any. */
export interface OrderOutcomes {
  readonly order: WireOrder;
  /** The order's own step: undefined when the host never reported it. */
  readonly step?: OutcomeReport;
  /** The SIGKILL at the deadline, or the worker seen leaving before. */
  readonly deadline?: OutcomeReport;
}

/**
 * Pairs the orders sent with the lines read. A line for an order that was
 * not sent, or a second line for one step, is a stray: logged by the
 * caller, never taken as the outcome of anything.
 */
export function matchOutcomes(
  orders: readonly WireOrder[],
  outcomes: readonly OutcomeReport[],
): { matched: OrderOutcomes[]; strays: OutcomeReport[] } {
  const strays: OutcomeReport[] = [];
  const slots = orders.map((order) => ({
    order,
    step: undefined as OutcomeReport | undefined,
    deadline: undefined as OutcomeReport | undefined,
  }));
  for (const report of outcomes) {
    const slot = slots.find(
      ({ order }) =>
        order.pid === report.pid && order.startTime === report.startTime,
    );
    const key = report.step === 'deadline' ? 'deadline' : 'step';
    const fits =
      slot !== undefined &&
      slot[key] === undefined &&
      (key === 'deadline' || report.step === slot.order.action);
    if (!fits) {
      strays.push(report);
      continue;
    }
    slot[key] = report;
  }
  const matched = slots.map(({ order, step, deadline }) => ({
    order,
    ...(step && { step }),
    ...(deadline && { deadline }),
  }));
  return { matched, strays };
}

/** One line per problem, for a log line or an error. */
export function describeRejections(problems: readonly FieldProblem[]): string {
  return problems.map(describeProblem).join('; ');
}

type Body = Record<string, unknown>;

function jsonObject(text: string): Body | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `not JSON (${(error as Error).message}); cut short?`;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return 'not a JSON object';
  }
  return value as Body;
}

function readOutcome(body: Body): OutcomeReport | string {
  const problem =
    wholeNumber(body, 'pid', 1) ??
    wholeNumber(body, 'startTime', 0) ??
    oneOf(body, 'step', REPORT_STEPS) ??
    oneOf(body, 'status', OUTCOME_STATUSES) ??
    (typeof body.reason === 'string' ? undefined : 'reason must be a string') ??
    wholeNumber(body, 'at', 0) ??
    (body.deadline === undefined
      ? undefined
      : wholeNumber(body, 'deadline', 0)) ??
    (body.hostWaits === undefined || typeof body.hostWaits === 'boolean'
      ? undefined
      : 'hostWaits must be true or false');
  if (problem !== undefined) return problem;
  return {
    pid: body.pid as number,
    startTime: body.startTime as number,
    step: body.step as ReportStep,
    status: body.status as OutcomeStatus,
    reason: body.reason as string,
    at: body.at as number,
    ...(body.deadline === undefined
      ? {}
      : { deadline: body.deadline as number }),
    ...(body.hostWaits === undefined
      ? {}
      : { hostWaits: body.hostWaits as boolean }),
  };
}

function readRejection(body: Body): FieldProblem | string {
  for (const key of ['field', 'rule', 'value']) {
    if (typeof body[key] !== 'string') return `${key} must be a string`;
  }
  return {
    field: body.field as string,
    rule: body.rule as string,
    value: body.value as string,
  };
}

function readDone(
  body: Body,
  earlier: DoneSummary | undefined,
): DoneSummary | string {
  if (earlier !== undefined) return 'a second PF-DONE line';
  const problem =
    wholeNumber(body, 'orders', 0) ??
    wholeNumber(body, 'outcomes', 0) ??
    wholeNumber(body, 'rejections', 0);
  if (problem !== undefined) return problem;
  return {
    orders: body.orders as number,
    outcomes: body.outcomes as number,
    rejections: body.rejections as number,
  };
}

function wholeNumber(body: Body, key: string, min: number) {
  const value = body[key];
  return Number.isSafeInteger(value) && (value as number) >= min
    ? undefined
    : `${key} must be a whole number of at least ${min}, got ${shown(value)}`;
}

function oneOf(body: Body, key: string, allowed: readonly string[]) {
  return allowed.includes(body[key] as string)
    ? undefined
    : `${key} must be one of ${allowed.join(', ')}, got ${shown(body[key])}`;
}

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/**
 * Cut so that the reason, once JSON-escaped, stays within its share of
 * the 24,000 characters however many quotes or control bytes it holds.
 */
function shortReason(reason: string): string {
  let cut = String(reason).slice(0, MAX_REASON_CHARS);
  while (JSON.stringify(cut).length - 2 > MAX_REASON_CHARS) {
    cut = cut.slice(0, -1);
  }
  return cut.length < String(reason).length ? `${cut.slice(0, -1)}…` : cut;
}
