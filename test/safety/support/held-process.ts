/**
 * Real processes for the safety cases: a child that renames itself to any
 * title, runs as any user, and stays until it is stopped (unlike
 * agent/demo/titled-process.ts it can drop to another uid, which the
 * owner checks need), and a real zombie.
 *
 * Every child is also bound to its parent's life (stdin closes when the
 * parent exits), so a failed test leaves nothing running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** The uid the app's workers run as in these cases: `nobody`. */
export const APP_UID = 65534;
/** A user who is not the app's: no passwd entry needed to run as it. */
export const OTHER_UID = 54321;

// The title rides in argv, so the process has the room to take it on.
const HOLD_SCRIPT = String.raw`
process.title = process.argv[1];
process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
process.stdout.write('ready\n');
`;

export interface HeldProcess {
  readonly pid: number;
  readonly title: string;
  readonly child: ChildProcess;
  /** Whether the process is still there and not a zombie. */
  alive(): boolean;
  stop(): Promise<void>;
}

export interface HoldOptions {
  readonly title: string;
  /** @default APP_UID */
  readonly uid?: number;
  readonly cwd?: string;
}

export async function holdProcess(options: HoldOptions): Promise<HeldProcess> {
  const uid = options.uid ?? APP_UID;
  const child = spawn(process.execPath, ['-e', HOLD_SCRIPT, options.title], {
    uid,
    gid: uid === 0 ? 0 : APP_UID,
    cwd: options.cwd ?? '/',
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  child.stdin?.on('error', () => {});
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => resolve()),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`'${options.title}' was not ready within 10 s`));
    }, 10_000);
    child.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`'${options.title}' has no pid`);
  return {
    pid,
    title: options.title,
    child,
    alive: () => isAlive(pid),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
      await exited;
    },
  };
}

export interface HeldZombie {
  /** The zombie's pid: it has exited and nobody has waited for it yet. */
  readonly pid: number;
  /** Reaps the zombie and ends its parent. */
  stop(): Promise<void>;
}

/**
 * A shell whose background child exits while the shell blocks in `read`:
 * dash does not wait for it until `wait`, so it stays a zombie until
 * `stop` closes the shell's stdin.
 */
export async function holdZombie(uid = APP_UID): Promise<HeldZombie> {
  const parent = spawn('/bin/sh', ['-c', 'sh -c "exit 0" & read _; wait'], {
    uid,
    gid: APP_UID,
    cwd: '/',
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  parent.stdin?.on('error', () => {});
  const exited = new Promise<void>((resolve) =>
    parent.once('exit', () => resolve()),
  );
  const stop = async () => {
    parent.stdin?.end();
    const timer = setTimeout(() => parent.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const parentPid = parent.pid;
  for (let look = 0; parentPid !== undefined && look < 200; look++) {
    const zombie = childrenOf(parentPid).find((pid) => stateOf(pid) === 'Z');
    if (zombie !== undefined) return { pid: zombie, stop };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await stop();
  throw new Error('no zombie appeared within 5 s');
}

/** Running, and not a zombie: `kill -0` alone would pass a zombie. */
export function isAlive(pid: number, procRoot = '/proc'): boolean {
  const state = stateOf(pid, procRoot);
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** The state letter from /proc/<pid>/stat, or undefined when it is gone. */
export function stateOf(pid: number, procRoot = '/proc'): string | undefined {
  try {
    const stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat. */
export function startTimeOf(pid: number, procRoot = '/proc'): number {
  const stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[22 - 3]);
}

/** Pids whose parent is `ppid`, read from /proc. */
export function childrenOf(ppid: number, procRoot = '/proc'): number[] {
  const found: number[] = [];
  for (const name of readdirSync(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`${procRoot}/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) found.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return found;
}
