/**
 * Stand-ins for the collector's tests: the testbed's extra processes,
 * Passenger's tools answering with canned output, and a LinuxProc that
 * records and may deny reads.
 */
import { readFileSync } from 'node:fs';
import type { Sample } from '../../agent/collector.ts';
import type {
  PassengerTools,
  ProcRead,
  ProcSource,
  ToolResult,
} from '../../agent/host.ts';
import { LinuxProc } from '../../agent/proc.ts';
import type { MemoryFigures, Worker } from '../../core/worker.ts';
import type { FakeProcess } from './fake-proc-tree.ts';

const corpus = (name: string) =>
  readFileSync(new URL(`../fixtures/corpus/${name}`, import.meta.url), 'utf8');
export const POOL_XML = corpus('p6.0.17-apache-testbed-passenger-status.xml');
export const MEMORY_STATS = corpus('p6.0.17-apache-testbed-bloated-root.txt');

export const FLEET = '/data/fleetapp/current (production)';
export const OTHER = '/data/otherapp/current (production)';
export const PYAPP = '/data/pyapp/current (production)';
export const PY_CWD = '/data/pyapp/releases/20260101000000';
const PYTHON_ARGV =
  '/usr/bin/python3\0/usr/share/passenger/helper-scripts/wsgi-loader.py\0';
const APACHE_ARGV = '/usr/sbin/apache2\0-k\0start\0';

export const extras: FakeProcess[] = [
  { pid: 2, comm: 'kthreadd', startTime: 0, cmdline: '' },
  { pid: 29737, comm: 'apache2', startTime: 900, cmdline: APACHE_ARGV },
  { pid: 4109, comm: 'apache2', startTime: 174500, cmdline: APACHE_ARGV },
  // a worker Passenger does not list, with an awkward comm
  {
    pid: 5002,
    comm: 'x) (y z',
    startTime: 180001,
    uid: 1001,
    cmdline: `Passenger RubyApp: ${OTHER}\0\0\0\0`,
    memory: { privateDirtyKb: 2048, rssKb: 4096 },
  },
  // a Python worker Passenger does not list: named by its deploy dir
  {
    pid: 5003,
    comm: 'python3',
    startTime: 180002,
    uid: 1001,
    cwd: PY_CWD,
    cmdline: PYTHON_ARGV,
    memory: { privateDirtyKb: 1000, rssKb: 2000, smapsOnly: true },
  },
  // exiting: its cmdline is still there, its state says zombie
  {
    pid: 5004,
    comm: 'ruby',
    state: 'Z',
    startTime: 180003,
    cmdline: `Passenger RubyApp: ${FLEET}\0`,
  },
];

/** Passenger's tools answering with canned output, counting calls. */
export class CannedTools implements PassengerTools {
  calls: string[] = [];
  constructor(
    private readonly pool: Partial<ToolResult> | Error,
    private readonly stats: Partial<ToolResult> = { missing: true },
  ) {}
  async poolXml() {
    this.calls.push('poolXml');
    if (this.pool instanceof Error) throw this.pool;
    return result(this.pool);
  }
  async memoryStats() {
    this.calls.push('memoryStats');
    return result(this.stats);
  }
  async detach(): Promise<ToolResult> {
    throw new Error('the collector must never detach');
  }
  async run(): Promise<ToolResult> {
    throw new Error('the collector must never run commands');
  }
}

function result(overrides: Partial<ToolResult>): ToolResult {
  return {
    exitCode: overrides.missing ? null : 0,
    signal: null,
    stdout: '',
    stderr: '',
    timedOut: false,
    missing: false,
    elapsedMs: 150,
    ...overrides,
  };
}

/** LinuxProc that records whose memory was read, and may deny some. */
export class WatchedProc extends LinuxProc implements ProcSource {
  memoryReads: number[] = [];
  constructor(
    root: string,
    private readonly deniedMemory: ReadonlySet<number> = new Set(),
  ) {
    super({ root, clockTicks: 100 });
  }
  override memory(pid: number): ProcRead<MemoryFigures> {
    this.memoryReads.push(pid);
    if (this.deniedMemory.has(pid)) {
      return { ok: false, failure: 'denied', detail: `${pid}: EACCES` };
    }
    return super.memory(pid);
  }
}

let clock = 1796302700000;
/** A clock that moves 5 ms each time it is read. */
export const now = () => (clock += 5);

export function byPid(sample: Sample): Map<number, Worker> {
  return new Map(sample.observation.workers.map((w) => [w.identity.pid, w]));
}
