/**
 * Builds a /proc-like directory tree for LinuxProc and the collector, from
 * the facts captured on the Passenger 6.0.17 testbed
 * (test/fixtures/corpus/p6.0.17-apache-testbed-proc.txt) plus hand-made
 * processes for the awkward cases.
 */
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeProcess {
  readonly pid: number;
  readonly comm: string;
  readonly startTime: number;
  /** Raw bytes of cmdline, NULs included. */
  readonly cmdline: string;
  readonly state?: string;
  readonly ppid?: number;
  readonly uid?: number;
  readonly cwd?: string;
  /** Written as smaps_rollup, or as smaps split over mappings. */
  readonly memory?: {
    readonly privateDirtyKb: number;
    readonly rssKb: number;
    readonly swapKb?: number;
    readonly smapsOnly?: boolean;
  };
  /** A stat line as the kernel wrote it; else one is made up. */
  readonly rawStat?: string;
}

const FIXTURE = new URL(
  '../fixtures/corpus/p6.0.17-apache-testbed-proc.txt',
  import.meta.url,
);

/** The testbed's btime, from the fixture's header. */
export const TESTBED_BTIME = 1796300922;
const DEPLOY_UID = 1001;

const PROCESS_LINE = /^(\d+) (\d+) \d+ \[(.*?)\] (\S+) (\d+) \d+ (\d+) (.*)$/;

/** The ten Passenger processes of the testbed, as its /proc showed them. */
export function testbedProcesses(): FakeProcess[] {
  const lines = readFileSync(FIXTURE, 'utf8').split('\n');
  const rawStats = new Map<number, string>();
  for (const line of lines) {
    const match = /^(\d+) \(/.exec(line);
    if (match !== null) rawStats.set(Number(match[1]), line);
  }
  const processes: FakeProcess[] = [];
  for (const line of lines) {
    const match = PROCESS_LINE.exec(line);
    if (match === null) continue;
    const [, pid, startTime, comm, cwd, privateDirty, rss, cmdline] = match;
    const title = (cmdline ?? '').split('|');
    const isPassengerAgent = comm === 'PassengerAgent';
    processes.push({
      pid: Number(pid),
      comm: comm ?? '',
      startTime: Number(startTime),
      // Ruby pads its title with NULs; a real argv ends each with one
      cmdline:
        title.length > 1
          ? title.map((arg) => `${arg}\0`).join('')
          : `${title[0]}${'\0'.repeat(24)}`,
      uid: isPassengerAgent ? 0 : DEPLOY_UID,
      cwd: cwd ?? '/',
      memory: { privateDirtyKb: Number(privateDirty), rssKb: Number(rss) },
      rawStat: rawStats.get(Number(pid)),
    });
  }
  return processes;
}

export interface FakeTree {
  readonly root: string;
  remove(): void;
}

export function buildProcTree(
  processes: readonly FakeProcess[],
  extraEntries: readonly string[] = [],
): FakeTree {
  const root = mkdtempSync(join(tmpdir(), 'fake-proc-'));
  writeFileSync(
    join(root, 'stat'),
    `cpu  1 2 3 4\nintr 5\nctxt 6\nbtime ${TESTBED_BTIME}\nprocesses 7\n`,
  );
  mkdirSync(join(root, 'sys'));
  symlinkSync('1', join(root, 'self'));
  for (const name of extraEntries) mkdirSync(join(root, name));
  for (const process of processes) writeProcess(root, process);
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

function writeProcess(root: string, process: FakeProcess): void {
  const dir = join(root, String(process.pid));
  mkdirSync(dir);
  writeFileSync(join(dir, 'cmdline'), process.cmdline);
  writeFileSync(join(dir, 'stat'), `${process.rawStat ?? statLine(process)}\n`);
  const ids = Array(4)
    .fill(process.uid ?? 0)
    .join('\t');
  writeFileSync(
    join(dir, 'status'),
    `Name:\t${process.comm}\nState:\t${process.state ?? 'S'}\n` +
      `Uid:\t${ids}\nGid:\t${ids}\n`,
  );
  symlinkSync(process.cwd ?? '/', join(dir, 'cwd'));
  const memory = process.memory;
  if (memory === undefined) {
    // a zombie or kernel thread: the files exist and are empty
    writeFileSync(join(dir, 'smaps_rollup'), '');
  } else if (memory.smapsOnly) {
    writeFileSync(join(dir, 'smaps'), smapsSplit(memory));
  } else {
    writeFileSync(join(dir, 'smaps_rollup'), smapsRollup(memory));
  }
}

/** Fields 1 to 52 of a stat line, with the ones we read filled in. */
function statLine(process: FakeProcess): string {
  const fields = Array.from({ length: 52 - 2 }, () => '0');
  fields[0] = process.state ?? 'S';
  fields[1] = String(process.ppid ?? 1);
  fields[2] = String(process.pid);
  fields[22 - 3] = String(process.startTime);
  return `${process.pid} (${process.comm}) ${fields.join(' ')}`;
}

type Memory = NonNullable<FakeProcess['memory']>;

function smapsRollup(memory: Memory): string {
  return (
    '5581e5a2b000-7ffc0c5f2000 ---p 00000000 00:00 0    [rollup]\n' +
    `Rss:            ${memory.rssKb} kB\n` +
    `Pss:            ${memory.privateDirtyKb + 100} kB\n` +
    'Shared_Clean:       1000 kB\n' +
    'Shared_Dirty:        200 kB\n' +
    'Private_Clean:       300 kB\n' +
    `Private_Dirty:  ${memory.privateDirtyKb} kB\n` +
    `Swap:           ${memory.swapKb ?? 0} kB\n` +
    'SwapPss:            999 kB\n' +
    'Locked:               0 kB\n'
  );
}

/** Three mappings whose figures add up to the given totals. */
function smapsSplit(memory: Memory): string {
  const thirds = (total: number) => {
    const part = Math.floor(total / 3);
    return [part, part, total - 2 * part];
  };
  const privateDirty = thirds(memory.privateDirtyKb);
  const rss = thirds(memory.rssKb);
  const swap = thirds(memory.swapKb ?? 0);
  return [0, 1, 2]
    .map(
      (i) =>
        `5581e5a2${i}000-5581e5a2${i + 1}000 rw-p 00000000 00:00 0  [heap]\n` +
        `Size:           4096 kB\n` +
        `Rss:            ${rss[i]} kB\n` +
        `Private_Dirty:  ${privateDirty[i]} kB\n` +
        `Swap:           ${swap[i]} kB\n` +
        'SwapPss:           7 kB\n' +
        'VmFlags: rd wr mr mw me ac sd\n',
    )
    .join('');
}
