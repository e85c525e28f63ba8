/**
 * Real child processes that wear a Passenger title: the demo's simulated
 * host and the tests' victims and bystanders.
 *
 * Each child is `node -e <script>`, so it needs no file on disk and works
 * from the sources and from the build alike. Linux lets a process rename
 * itself only within the bytes of its original argv, and the script text
 * is long enough to hold any title we use.
 *
 * A child obeys lines on its stdin: `grow <MB>` dirties that much more
 * memory, `busy <ms>` holds a "request" for that long, `detach` exits once
 * no request is in flight (what Passenger's detach-process does), and it
 * exits when stdin closes, so no child outlives its parent.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** How the child answers the graceful signals TERM, USR1 and INT. */
export type SignalManner = 'exit' | 'ignore';

export interface TitledProcessOptions {
  readonly title: string;
  /** Memory to dirty at start, in MB. */
  readonly initialMb?: number;
  readonly onSignal?: SignalManner;
  /** Working directory, which is how Python workers name their app. */
  readonly cwd?: string;
}

const CHILD_SCRIPT = String.raw`
const [title, initialMb, manner] = process.argv.slice(1);
process.title = title;
const hoard = [];
let busyUntil = 0;
let leaving = false;
function grow(mb) {
  for (let i = 0; i < mb; i++) hoard.push(Buffer.alloc(1024 * 1024, 1));
}
function leaveWhenIdle() {
  leaving = true;
  const wait = Math.max(0, busyUntil - Date.now());
  setTimeout(() => process.exit(0), wait);
}
for (const signal of ['SIGTERM', 'SIGUSR1', 'SIGINT']) {
  process.on(signal, () => { if (manner !== 'ignore') leaveWhenIdle(); });
}
grow(Number(initialMb));
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  pending += chunk;
  let newline;
  while ((newline = pending.indexOf('\n')) >= 0) {
    const [verb, arg] = pending.slice(0, newline).trim().split(/\s+/);
    pending = pending.slice(newline + 1);
    if (verb === 'grow') grow(Number(arg));
    if (verb === 'busy') busyUntil = Math.max(busyUntil, Date.now() + Number(arg));
    if (verb === 'detach' && manner !== 'ignore') leaveWhenIdle();
    if (verb === 'exit') process.exit(0);
  }
});
process.stdin.on('end', () => process.exit(0));
setInterval(() => { if (leaving && Date.now() >= busyUntil) process.exit(0); }, 50);
process.stdout.write('ready\n');
`;

export interface TitledProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly title: string;
  send(line: string): void;
  /** Resolves when the child has exited (at once if it already has). */
  exited(): Promise<void>;
  /** SIGKILL and wait; safe to call twice. */
  stop(): Promise<void>;
}

/** Starts a titled child and resolves once it has renamed itself. */
export async function startTitledProcess(
  options: TitledProcessOptions,
): Promise<TitledProcess> {
  const args = [
    '-e',
    CHILD_SCRIPT,
    options.title,
    String(options.initialMb ?? 0),
    options.onSignal ?? 'exit',
  ];
  const child = spawn(process.execPath, args, {
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // A line sent just as the child exits meets a closed pipe (EPIPE); the
  // exit itself is what callers watch, so the write error is dropped.
  child.stdin?.on('error', () => {});
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => resolve()),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(new Error(`titled child '${options.title}' not ready in 10 s`)),
      10_000,
    );
    child.once('error', reject);
    child.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`titled child exited early with code ${code}`));
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('titled child has no pid');
  return {
    child,
    pid,
    title: options.title,
    send: (line) => {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin?.write(`${line}\n`);
      }
    },
    exited: () => exit,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
      await exit;
    },
  };
}
