/**
 * Runs one external program for the test bed: always an argv array, never
 * a shell, always a timeout. A program that is missing or hangs gives a
 * result that says so instead of an exception, so that the caller can
 * word the error for what it was trying to do.
 */
import { execFile } from 'node:child_process';

export interface CommandResult {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  /** ENOENT or EACCES: the program could not be started at all. */
  readonly missing: boolean;
}

export interface CommandOptions {
  readonly timeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

const OUTPUT_LIMIT_BYTES = 16 * 1024 * 1024;

export function runCommand(
  file: string,
  args: readonly string[],
  options: CommandOptions,
): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        timeout: options.timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: OUTPUT_LIMIT_BYTES,
        env: options.env ?? process.env,
        cwd: options.cwd,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const code = (error as NodeJS.ErrnoException | null)?.code;
        const missing = code === 'ENOENT' || code === 'EACCES';
        const failure = error as
          (Error & { killed?: boolean; signal?: string | null }) | null;
        resolve({
          exitCode: error === null ? 0 : typeof code === 'number' ? code : null,
          signal: failure?.signal ?? null,
          stdout,
          stderr,
          timedOut: failure?.killed === true && failure.signal === 'SIGKILL',
          missing,
        });
      },
    );
  });
}

/** Runs a command that must succeed; throws a sentence naming it if not. */
export async function runChecked(
  file: string,
  args: readonly string[],
  options: CommandOptions,
): Promise<CommandResult> {
  const result = await runCommand(file, args, options);
  if (result.missing) {
    throw new Error(`${file} could not be started: is it installed?`);
  }
  if (result.timedOut) {
    throw new Error(
      `${file} ${args.join(' ')} did not finish within ${options.timeoutMs} ms`,
    );
  }
  if (result.exitCode !== 0) {
    const detail = (result.stderr || result.stdout).trim().slice(0, 500);
    throw new Error(
      `${file} ${args.join(' ')} failed with exit code ` +
        `${result.exitCode ?? result.signal}: ${detail}`,
    );
  }
  return result;
}
