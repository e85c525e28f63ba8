/**
 * A value that broke a rule, told the same way by every decoder of the
 * fleet path: the field, the rule, and the value as it came.
 */
export interface FieldProblem {
  /** A parameter name, or a path such as `orders[2].pid`. */
  readonly field: string;
  /** What the value must be, starting with "must". */
  readonly rule: string;
  /** The offending value, quoted and cut short for a log line. */
  readonly value: string;
}

export function describeProblem(problem: FieldProblem): string {
  return `${problem.field} ${problem.rule}, got ${problem.value}`;
}

const MAX_QUOTED_CHARS = 80;

/**
 * JSON quoting keeps a hostile value's newlines and control bytes from
 * starting a line of their own in a log or a report.
 */
export function quoted(value: string): string {
  const cut =
    value.length > MAX_QUOTED_CHARS
      ? `${value.slice(0, MAX_QUOTED_CHARS)}… (${value.length} chars)`
      : value;
  return JSON.stringify(cut);
}
