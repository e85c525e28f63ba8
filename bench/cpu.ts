/**
 * CPU time, ours and our children's. Node's process.cpuUsage() covers this
 * process only; a child's CPU shows up, once the child has been waited
 * for, in cutime and cstime of /proc/self/stat (fields 16 and 17, clock
 * ticks), together with the CPU of everything the child itself waited for
 * (the `ps` inside passenger-memory-stats, say).
 */
import { readFileSync } from 'node:fs';

/** USER_HZ: what Linux counts cutime and cstime in on every architecture. */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU ms this process has used so far, user and system together. */
export function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** CPU ms used so far by children this process has waited for. */
export function childrenCpuMs(): number {
  const text = readFileSync('/proc/self/stat', 'utf8');
  // fields after comm start at field 3; cutime is 16, cstime 17
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[16 - 3]) + Number(fields[17 - 3]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

export interface CpuPerRun {
  readonly runs: number;
  /** CPU ms per run. */
  readonly ownMs: number;
  readonly childrenMs: number;
  readonly wallMs: number;
}

export const NO_RUNS: CpuPerRun = {
  runs: 0,
  ownMs: 0,
  childrenMs: 0,
  wallMs: 0,
};

/** Runs `step` `runs` times, one after another, and averages the cost. */
export async function measureCpu(
  runs: number,
  step: () => Promise<unknown>,
  previous: CpuPerRun = NO_RUNS,
): Promise<CpuPerRun> {
  const ownBefore = ownCpuMs();
  const childrenBefore = childrenCpuMs();
  const wallBefore = performance.now();
  for (let run = 0; run < runs; run++) await step();
  // fold this batch into the earlier ones, weighted by their runs
  const total = previous.runs + runs;
  const mean = (earlier: number, now: number) =>
    (earlier * previous.runs + now) / total;
  return {
    runs: total,
    ownMs: mean(previous.ownMs, ownCpuMs() - ownBefore),
    childrenMs: mean(previous.childrenMs, childrenCpuMs() - childrenBefore),
    wallMs: mean(previous.wallMs, performance.now() - wallBefore),
  };
}
