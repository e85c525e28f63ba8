/**
 * Stand-ins for the host, shared by the verify, executor and deadline
 * tests: a /proc held in a map, Passenger tools that answer what a test
 * says and remember what they were asked, and a pool XML shaped like the
 * one passenger-status 6.0.17 prints.
 */
import type {
  PassengerTools,
  ProcFailure,
  ProcRead,
  ProcSource,
  ProcStat,
  Signaller,
  ToolResult,
} from '../../agent/host.ts';
import type { MemoryFigures } from '../../core/worker.ts';

export interface StandInProcess {
  startTime: number;
  state: string;
  /** Raw, NULs allowed. */
  cmdline: string;
  cwd: string;
  uid: number;
  memory: MemoryFigures;
  /** Reads that fail for this process, and how. */
  failing?: Partial<Record<ProcFile, ProcFailure>>;
}

type ProcFile = 'stat' | 'cmdline' | 'cwd' | 'uid' | 'memory';

/** A Passenger 6 Ruby worker of `group`, at 300 MB private. */
export function rubyWorker(
  group: string,
  overrides: Partial<StandInProcess> = {},
): StandInProcess {
  return {
    startTime: 5000,
    state: 'S',
    cmdline: `Passenger RubyApp: ${group}\0`,
    cwd: '/data/shop/releases/20261201',
    uid: 1001,
    memory: { privateDirtyKb: 300_000, swapKb: 0, rssKb: 310_000 },
    ...overrides,
  };
}

export class StandInProc implements ProcSource {
  readonly clockTicks = 100;
  readonly processes = new Map<number, StandInProcess>();
  /** How many times each pid's stat was read. */
  readonly statReads = new Map<number, number>();

  listPids(): number[] {
    return [...this.processes.keys()].sort((a, b) => a - b);
  }

  stat(pid: number): ProcRead<ProcStat> {
    this.statReads.set(pid, (this.statReads.get(pid) ?? 0) + 1);
    return this.#read(pid, 'stat', (p) => ({
      pid,
      comm: p.cmdline.slice(0, 15),
      state: p.state,
      ppid: 1,
      pgrp: pid,
      startTime: p.startTime,
    }));
  }

  cmdline(pid: number): ProcRead<string> {
    return this.#read(pid, 'cmdline', (p) => p.cmdline);
  }

  memory(pid: number): ProcRead<MemoryFigures> {
    return this.#read(pid, 'memory', (p) => p.memory);
  }

  cwd(pid: number): ProcRead<string> {
    return this.#read(pid, 'cwd', (p) => p.cwd);
  }

  uid(pid: number): ProcRead<number> {
    return this.#read(pid, 'uid', (p) => p.uid);
  }

  bootTime(): number {
    return 1_780_000_000;
  }

  #read<T>(
    pid: number,
    file: ProcFile,
    pick: (process: StandInProcess) => T,
  ): ProcRead<T> {
    const process = this.processes.get(pid);
    if (process === undefined) {
      return { ok: false, failure: 'gone', detail: `/proc/${pid}: ENOENT` };
    }
    const failure = process.failing?.[file];
    if (failure !== undefined) {
      return { ok: false, failure, detail: `/proc/${pid}/${file}: stand-in` };
    }
    return { ok: true, value: pick(process) };
  }
}

export function toolResult(overrides: Partial<ToolResult> = {}): ToolResult {
  return {
    exitCode: 0,
    signal: null,
    stdout: '',
    stderr: '',
    timedOut: false,
    missing: false,
    elapsedMs: 5,
    ...overrides,
  };
}

type ToolCall =
  | { readonly tool: 'poolXml' | 'memoryStats' }
  | { readonly tool: 'detach'; readonly pid: number }
  | { readonly tool: 'run'; readonly argv: readonly string[] };

/** Answers from its fields; a field may be changed between steps. */
export class StandInTools implements PassengerTools {
  readonly calls: ToolCall[] = [];
  pool: () => Promise<ToolResult> = () =>
    Promise.resolve(toolResult({ stdout: poolXml([]) }));
  detachResult: (pid: number) => Promise<ToolResult> = () =>
    Promise.resolve(toolResult());
  runResult: (argv: readonly string[]) => Promise<ToolResult> = () =>
    Promise.resolve(toolResult());

  poolXml(): Promise<ToolResult> {
    this.calls.push({ tool: 'poolXml' });
    return this.pool();
  }

  memoryStats(): Promise<ToolResult> {
    this.calls.push({ tool: 'memoryStats' });
    return Promise.resolve(toolResult({ missing: true, exitCode: null }));
  }

  detach(pid: number): Promise<ToolResult> {
    this.calls.push({ tool: 'detach', pid });
    return this.detachResult(pid);
  }

  run(argv: readonly string[]): Promise<ToolResult> {
    this.calls.push({ tool: 'run', argv: [...argv] });
    return this.runResult(argv);
  }

  /** Makes poolXml list these groups. */
  listing(groups: readonly PoolGroup[]): this {
    this.pool = () => Promise.resolve(toolResult({ stdout: poolXml(groups) }));
    return this;
  }
}

export interface SentSignal {
  readonly pid: number;
  readonly signal: NodeJS.Signals;
  /** Date.now() when it was sent. */
  readonly atMs: number;
}

/** Records signals; `deliver` decides what happens (default: nothing). */
export class RecordingSignaller implements Signaller {
  readonly sent: SentSignal[] = [];
  deliver: (pid: number, signal: NodeJS.Signals) => void = () => {};

  kill(pid: number, signal: NodeJS.Signals): void {
    this.sent.push({ pid, signal, atMs: Date.now() });
    this.deliver(pid, signal);
  }
}

/** An error shaped like the one process.kill throws. */
export function errnoError(code: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`kill ${code}`);
  error.code = code;
  return error;
}

export interface PoolGroup {
  /** The group name, e.g. `/data/shop/current (production)`. */
  readonly name: string;
  readonly appRoot: string;
  readonly pids: readonly number[];
}

/**
 * A `passenger-status --show=xml` answer listing these groups, in the
 * shape of Passenger 6.0.17 (one line, iso-8859-1, parentheses escaped),
 * with only the fields a reader of pids needs.
 */
export function poolXml(groups: readonly PoolGroup[]): string {
  const processCount = groups.reduce((sum, g) => sum + g.pids.length, 0);
  const supergroups = groups
    .map((group) => {
      const name = escapeXml(group.name);
      const processes = group.pids
        .map(
          (pid) =>
            `<process><pid>${pid}</pid><concurrency>1</concurrency>` +
            '<sessions>0</sessions><busyness>0</busyness>' +
            '<life_status>ALIVE</life_status><enabled>ENABLED</enabled>' +
            '<private_dirty>40000</private_dirty><swap>0</swap>' +
            '<real_memory>40000</real_memory>' +
            `<command>Passenger RubyApp: ${name}</command></process>`,
        )
        .join('');
      return (
        `<supergroup><name>${name}</name><state>READY</state>` +
        `<group default="true"><name>${name}</name>` +
        `<component_name>${name}</component_name>` +
        `<app_root>${escapeXml(group.appRoot)}</app_root>` +
        '<app_type>ruby</app_type><life_status>ALIVE</life_status>' +
        `<processes>${processes}</processes></group></supergroup>`
      );
    })
    .join('');
  return (
    '<?xml version="1.0" encoding="iso-8859-1" ?>\n' +
    '<info version="3"><passenger_version>6.0.17</passenger_version>' +
    `<group_count>${groups.length}</group_count>` +
    `<process_count>${processCount}</process_count>` +
    `<supergroups>${supergroups}</supergroups></info>`
  );
}

function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\(/g, '&#40;')
    .replace(/\)/g, '&#41;');
}
