/**
 * Runs the passenger-fleet CLI from the sources as a child process, the
 * way an operator would, and collects what it printed: every stdout line
 * with the moment it arrived, and the JSON lines parsed.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(
  new URL('../../../', import.meta.url),
);
const CLI_SOURCE = 'agent/cli/main.ts';

/** One line of the decision log, as the enforcer prints it. */
export interface DecisionLine {
  readonly host: string;
  readonly app: string;
  readonly pid: number;
  readonly startTime: number;
  readonly memoryMb: number | null;
  readonly limitMb: number | null;
  readonly decision: string;
  readonly action: string | null;
  readonly reason: string;
  readonly outcome?: string | null;
  /** pino's ISO timestamp of the line. */
  readonly time?: string;
}

export interface CliLine {
  readonly text: string;
  /** Epoch ms when the line reached us. */
  readonly arrivedAt: number;
  /** The line parsed, when it is a JSON object. */
  readonly json?: Record<string, unknown>;
}

export interface CliRun {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly lines: readonly CliLine[];
  readonly stderr: string;
  readonly startedAt: number;
}

export interface CliOptions {
  readonly timeoutMs: number;
  /** Called with each stdout line as it arrives. */
  readonly onLine?: (line: CliLine) => void;
}

/** `node --import tsx agent/cli/main.ts <args>`, bounded by a timeout. */
export function runCli(
  args: readonly string[],
  options: CliOptions,
): Promise<CliRun> {
  const startedAt = Date.now();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI_SOURCE, ...args],
    { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: CliLine[] = [];
  let pending = '';
  let stderr = '';
  let timedOut = false;
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = toLine(pending.slice(0, newline), Date.now());
      pending = pending.slice(newline + 1);
      lines.push(line);
      options.onLine?.(line);
    }
  });
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      if (pending.trim() !== '') lines.push(toLine(pending, Date.now()));
      resolve({ exitCode, signal, timedOut, lines, stderr, startedAt });
    });
  });
}

function toLine(text: string, arrivedAt: number): CliLine {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{')) return { text, arrivedAt };
  try {
    const json: unknown = JSON.parse(trimmed);
    return json !== null && typeof json === 'object' && !Array.isArray(json)
      ? { text, arrivedAt, json: json as Record<string, unknown> }
      : { text, arrivedAt };
  } catch {
    return { text, arrivedAt };
  }
}

/** The decision lines among what the CLI printed. */
export function decisionsOf(run: CliRun): DecisionLine[] {
  return run.lines
    .map((line) => line.json)
    .filter(
      (json): json is Record<string, unknown> =>
        json !== undefined &&
        typeof json.decision === 'string' &&
        typeof json.pid === 'number',
    ) as unknown as DecisionLine[];
}

/** A one-paragraph account of a run, for assertion messages. */
export function describeRun(run: CliRun): string {
  const out = run.lines.map((line) => line.text).join('\n');
  return (
    `exit ${run.exitCode ?? run.signal}${run.timedOut ? ' (timed out)' : ''}` +
    `\nstdout:\n${out}\nstderr:\n${run.stderr.trim()}`
  );
}
