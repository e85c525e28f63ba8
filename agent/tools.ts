/**
 * Passenger's command-line tools, run as child processes.
 *
 * Arguments always travel as an argv array through execFile and never
 * through a shell, so a pid or a path can never be read as shell syntax.
 * Every call has a deadline: a tool that hangs (a core that does not
 * answer, a stuck `ps`) is killed with SIGKILL, and the caller gets a
 * result saying so instead of waiting for ever.
 */
import {
  execFile,
  type ChildProcess,
  type ExecFileException,
} from 'node:child_process';
import { delimiter } from 'node:path';
import type { PassengerTools, ToolResult } from './host.ts';

export interface RunToolOptions {
  /** Killed with SIGKILL after this long. @default 10000 */
  readonly timeoutMs?: number;
  /** The child's environment. @default toolEnvironment(process.env) */
  readonly env?: NodeJS.ProcessEnv;
  /** Output beyond this many bytes on stdout or stderr kills the child. */
  readonly maxBufferBytes?: number;
}

export interface PassengerCommandToolsOptions {
  /** Per call. @default 10000 */
  readonly timeoutMs?: number;
  /** @default 16 MiB: a big pool's XML is about 2 kB per worker. */
  readonly maxBufferBytes?: number;
  /** Name or path of each tool; names are looked up in the PATH. */
  readonly passengerStatus?: string;
  readonly passengerMemoryStats?: string;
  readonly passengerConfig?: string;
  /** @default process.env */
  readonly baseEnv?: NodeJS.ProcessEnv;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_BUFFER_BYTES = 16 * 1024 * 1024;

/**
 * Debian installs Passenger's tools in /usr/sbin, which a non-login PATH
 * (cron, a container, a service unit) often leaves out.
 */
const SBIN_DIRS = ['/usr/sbin', '/usr/local/sbin'];

/**
 * How long after its deadline we still wait for a killed tool to exit: a
 * process stuck in the kernel (state D, e.g. on a hung NFS mount) does not
 * die of SIGKILL until the kernel lets go of it.
 */
const KILL_GRACE_MS = 1_000;

/**
 * The environment a tool runs in: the C locale so that its output has the
 * numbers and words our parsers expect, no COLUMNS so that the `ps` inside
 * passenger-memory-stats does not cut long process titles, and the sbin
 * directories added to PATH.
 */
export function toolEnvironment(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, LC_ALL: 'C' };
  delete env.COLUMNS;
  const path = (base.PATH ?? '').split(delimiter).filter(Boolean);
  env.PATH = [...path, ...SBIN_DIRS.filter((dir) => !path.includes(dir))].join(
    delimiter,
  );
  return env;
}

/**
 * Runs one program with its arguments and waits for it, at most until
 * the timeout plus a short grace. Never rejects: a missing program, a
 * crash or a timeout all come back as a ToolResult.
 */
export function runTool(
  file: string,
  args: readonly string[],
  options: RunToolOptions = {},
): Promise<ToolResult> {
  // execFile would throw on a NUL byte; say which argument held it.
  const withNul = [file, ...args].findIndex((arg) => arg.includes('\0'));
  if (withNul >= 0) {
    return Promise.resolve(
      refusedCall(
        `${file}: argv[${withNul}] must not hold a NUL byte; nothing was run`,
      ),
    );
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // execFile reads a timeout of 0 as "none"; every call must have one
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
    return Promise.resolve(
      refusedCall(
        `${file}: timeoutMs must be a positive whole number of ms, got ` +
          `${timeoutMs}; nothing was run`,
      ),
    );
  }
  const env = options.env ?? toolEnvironment(process.env);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let child: ChildProcess | undefined;
    let settled = false;
    // execFile reports only once the killed tool has exited; see
    // KILL_GRACE_MS for why that may never happen.
    const backstop = setTimeout(() => {
      child?.stdout?.destroy();
      child?.stderr?.destroy();
      settle({
        exitCode: null,
        signal: child?.signalCode ?? null,
        stdout: '',
        stderr:
          `${file}: still not finished ${KILL_GRACE_MS} ms after its ` +
          `${timeoutMs} ms timeout; output dropped`,
        timedOut: true,
        missing: false,
        elapsedMs: elapsed(),
      });
    }, timeoutMs + KILL_GRACE_MS);
    const settle = (result: ToolResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(backstop);
      resolve(result);
    };
    try {
      child = execFile(
        file,
        [...args],
        {
          env,
          timeout: timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES,
          encoding: 'utf8',
          shell: false,
          windowsHide: true,
        },
        (error, stdout, stderr) =>
          settle(resultOf(file, error, stdout, stderr, elapsed())),
      );
    } catch (error) {
      // bad options throw here instead of reaching the callback
      const message = error instanceof Error ? error.message : String(error);
      settle(refusedCall(`${file}: could not be started: ${message}`));
    }
  });
}

function resultOf(
  file: string,
  error: ExecFileException | null,
  stdout: string,
  stderr: string,
  elapsedMs: number,
): ToolResult {
  if (error === null) {
    return {
      exitCode: 0,
      signal: null,
      stdout,
      stderr,
      timedOut: false,
      missing: false,
      elapsedMs,
    };
  }
  const code = error.code;
  // A number is an exit status; a string is an errno from spawning it.
  if (typeof code === 'string' && code !== MAX_BUFFER_CODE) {
    return {
      exitCode: null,
      signal: null,
      stdout,
      stderr:
        code === 'ENOENT'
          ? `${file}: not found (PATH and ${SBIN_DIRS.join(', ')} searched)`
          : `${file}: could not be started: ${code}`,
      timedOut: false,
      missing: true,
      elapsedMs,
    };
  }
  // execFile sets `killed` when it sent killSignal: on the deadline, or
  // on too much output, which has its own code.
  const timedOut = error.killed === true && code !== MAX_BUFFER_CODE;
  const note =
    code === MAX_BUFFER_CODE
      ? `\n${file}: output over the buffer limit; killed`
      : '';
  return {
    exitCode: typeof code === 'number' ? code : null,
    signal: error.signal ?? null,
    stdout,
    stderr: stderr + note,
    timedOut,
    missing: false,
    elapsedMs,
  };
}

const MAX_BUFFER_CODE = 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER';

/** A result for a call that was refused before anything ran. */
function refusedCall(reason: string): ToolResult {
  return {
    exitCode: null,
    signal: null,
    stdout: '',
    stderr: reason,
    timedOut: false,
    missing: false,
    elapsedMs: 0,
  };
}

export class PassengerCommandTools implements PassengerTools {
  readonly #status: string;
  readonly #memoryStats: string;
  readonly #config: string;
  readonly #runOptions: RunToolOptions;

  constructor(options: PassengerCommandToolsOptions = {}) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
      throw new RangeError(
        `timeoutMs must be a positive whole number of ms, got ${timeoutMs}`,
      );
    }
    const maxBufferBytes = options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    if (!Number.isSafeInteger(maxBufferBytes) || maxBufferBytes < 1) {
      throw new RangeError(
        `maxBufferBytes must be a positive whole number, got ${maxBufferBytes}`,
      );
    }
    this.#status = toolName(
      'passengerStatus',
      options.passengerStatus ?? 'passenger-status',
    );
    this.#memoryStats = toolName(
      'passengerMemoryStats',
      options.passengerMemoryStats ?? 'passenger-memory-stats',
    );
    this.#config = toolName(
      'passengerConfig',
      options.passengerConfig ?? 'passenger-config',
    );
    this.#runOptions = {
      timeoutMs,
      maxBufferBytes,
      env: toolEnvironment(options.baseEnv ?? process.env),
    };
  }

  poolXml(): Promise<ToolResult> {
    return runTool(this.#status, ['--show=xml'], this.#runOptions);
  }

  memoryStats(): Promise<ToolResult> {
    return runTool(this.#memoryStats, [], this.#runOptions);
  }

  async detach(pid: number): Promise<ToolResult> {
    if (!Number.isSafeInteger(pid) || pid < 1) {
      return refusedCall(
        `detach: pid must be a positive whole number, got ${String(pid)}; ` +
          'nothing was run',
      );
    }
    return runTool(
      this.#config,
      ['detach-process', String(pid)],
      this.#runOptions,
    );
  }

  async run(argv: readonly string[]): Promise<ToolResult> {
    const [file, ...args] = argv;
    if (file === undefined || file === '') {
      return refusedCall(
        'run: argv must start with a program to run, got ' +
          `${JSON.stringify(argv)}; nothing was run`,
      );
    }
    return runTool(file, args, this.#runOptions);
  }
}

function toolName(option: string, value: string): string {
  if (value.trim() === '' || value.includes('\0')) {
    throw new RangeError(
      `${option} must be a program name or path, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}
