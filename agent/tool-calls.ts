/**
 * How the executor reads the result of one call to a Passenger tool or to
 * a user's graceful command.
 *
 * The tools enforce their own timeouts; the backstop here only keeps an
 * order from waiting for ever on a tool implementation that never
 * settles, since a hung command must end as a clear failure.
 */
import type { ToolResult } from './host.ts';

/** Races a tool call against `limitMs`; the loser is ignored. */
export async function withBackstop(
  call: Promise<ToolResult>,
  label: string,
  limitMs: number,
): Promise<ToolResult> {
  let timer: NodeJS.Timeout | undefined;
  const giveUp = new Promise<ToolResult>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          exitCode: null,
          signal: null,
          stdout: '',
          stderr: `${label} gave no answer within ${limitMs} ms`,
          timedOut: true,
          missing: false,
          elapsedMs: limitMs,
        }),
      limitMs,
    );
  });
  try {
    return await Promise.race([call, giveUp]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Why a call failed, in one sentence, or undefined when it exited 0.
 * `program` names what was not found; `label` names the whole call.
 */
export function toolFailure(
  result: ToolResult,
  program: string,
  label: string,
): string | undefined {
  if (result.missing) return `${program} not found`;
  if (result.timedOut) {
    return `${label} timed out after ${result.elapsedMs} ms`;
  }
  if (result.exitCode === 0) return undefined;
  const ending =
    result.exitCode === null
      ? `was killed by ${result.signal ?? 'a signal'}`
      : `exited with code ${result.exitCode}`;
  return `${label} ${ending}: ${firstLine(result)}`;
}

/** The first line with text, stderr first: that is where tools complain. */
function firstLine(result: ToolResult): string {
  for (const text of [result.stderr, result.stdout]) {
    const line = text
      .split('\n')
      .map((part) => part.trim())
      .find((part) => part !== '');
    if (line !== undefined) return line;
  }
  return '(no output)';
}
