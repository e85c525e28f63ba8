/**
 * One structured line per decision, with stable keys, on stdout and, on
 * request, to syslog (where passenger_monitor4 wrote through `logger`).
 *
 * pino writes the lines; a decision line always has every key, null when
 * it does not apply, so that a log query never has to guess.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import type { GracefulAction } from '../core/actions.ts';
import type { OutcomeStatus } from '../core/order.ts';

export type DecisionKind =
  'graceful' | 'force-kill' | 'orphan' | 'skip' | 'gone' | 'unmark';

export interface DecisionLogEntry {
  readonly host: string;
  readonly app: string;
  readonly pid: number;
  readonly startTime: number;
  readonly memoryMb: number | null;
  readonly limitMb: number | null;
  readonly decision: DecisionKind;
  /** `detach`, `signal:USR1`, `SIGKILL`...; null for skips and closes. */
  readonly action: string | null;
  readonly reason: string;
  /** What the host did; null when nothing was carried out. */
  readonly outcome: OutcomeStatus | null;
  /** Why the outcome, when the host said more (a refusal's reason). */
  readonly detail: string | null;
}

export type DecisionSink = (entry: DecisionLogEntry) => void;

export interface EventLog {
  readonly decision: DecisionSink;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  close(): Promise<void>;
}

export interface EventLogOptions {
  /** Also send every line to syslog through `logger -t passenger-fleet`. */
  readonly syslog?: boolean;
  /** Where lines go; stdout by default. */
  readonly destination?: NodeJS.WritableStream;
  readonly level?: 'debug' | 'info' | 'warn' | 'error';
}

export function describeAction(action: GracefulAction): string {
  switch (action.type) {
    case 'detach':
      return 'detach';
    case 'signal':
      return `signal:${action.signal}`;
    case 'command':
      return `command:${action.argv[0] ?? ''}`;
  }
}

export function createEventLog(options: EventLogOptions = {}): EventLog {
  const streams: pino.StreamEntry[] = [
    { stream: options.destination ?? pino.destination({ sync: true }) },
  ];
  const syslog = options.syslog ? startSyslog() : undefined;
  if (syslog) streams.push({ stream: syslog.stream });
  const logger: Logger = pino(
    {
      base: undefined,
      level: options.level ?? 'info',
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.multistream(streams),
  );
  return {
    decision: (entry) =>
      logger.info({ event: 'decision', ...entry }, 'decision'),
    info: (message, fields) =>
      logger.info({ event: 'event', ...fields }, message),
    warn: (message, fields) =>
      logger.warn({ event: 'event', ...fields }, message),
    error: (message, fields) =>
      logger.error({ event: 'event', ...fields }, message),
    close: async () => {
      logger.flush();
      await syslog?.close();
    },
  };
}

interface SyslogPipe {
  readonly stream: Writable;
  close(): Promise<void>;
}

/**
 * A `logger` child reading lines on stdin. If `logger` is missing, lines
 * still reach stdout and one warning says syslog is off.
 */
function startSyslog(): SyslogPipe {
  let child: ChildProcess | undefined = spawn(
    'logger',
    ['-t', 'passenger-fleet', '-p', 'daemon.notice'],
    { stdio: ['pipe', 'ignore', 'inherit'] },
  );
  child.on('error', (error) => {
    process.stderr.write(
      `passenger-fleet: --syslog: cannot run logger (${error.message}); ` +
        'logging to stdout only\n',
    );
    child = undefined;
  });
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (child?.stdin?.writable) child.stdin.write(chunk);
      done();
    },
  });
  return {
    stream,
    close: () =>
      new Promise((resolve) => {
        if (!child?.stdin) return resolve();
        child.once('exit', () => resolve());
        child.stdin.end();
        setTimeout(resolve, 2000).unref();
      }),
  };
}
