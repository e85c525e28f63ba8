/**
 * The collector against passenger-memory-stats on a live test bed: CPU
 * per sample against CPU per run, and whether both give the same Private
 * figure for every worker.
 */
import { hostname } from 'node:os';

import { collectSample, type Sample } from '../agent/collector.ts';
import { MemoryCache } from '../agent/memory-cache.ts';
import { LinuxProc } from '../agent/proc.ts';
import { PassengerCommandTools } from '../agent/tools.ts';
import { kbToMbRounded } from '../core/worker.ts';
import { runMemoryStats } from '../test/e2e/support/memory-stats.ts';
import { readPrivateDirtyKb } from '../test/e2e/support/procfs.ts';
import { measureCpu, NO_RUNS, type CpuPerRun } from './cpu.ts';

export interface CollectorCpuResult {
  readonly workers: number;
  /**
   * As the enforcer and the agent run it: one memory cache kept across
   * samples, so smaps_rollup is read again only for a worker that may
   * have changed (agent/memory-cache.ts).
   */
  readonly collector: CpuPerRun;
  /** Every sample reads every worker's smaps_rollup: a first look. */
  readonly collectorFirstLook: CpuPerRun;
  /** With passenger-status too, as the enforcer samples every tick. */
  readonly collectorWithPool: CpuPerRun;
  readonly memoryStats: CpuPerRun;
  /** passenger-memory-stats CPU over the collector's (no pool). */
  readonly ratio: number;
  readonly ratioFirstLook: number;
  /** The cached collector's figures against passenger-memory-stats. */
  readonly figures: FigureComparison;
  readonly figuresFirstLook: FigureComparison;
}

export interface FigureComparison {
  readonly identical: boolean;
  readonly compared: number;
  /** Per pid where the two differ by more than 0.1 MB, or one is missing. */
  readonly mismatches: readonly string[];
}

const COLLECTOR_SAMPLES = 50;
const COLLECTOR_WITH_POOL_SAMPLES = 10;
/** Also the number of passenger-memory-stats runs. */
const ROUNDS = 10;
const WARM_UP_SAMPLES = 3;
const TOLERANCE_MB = 0.1 + 1e-9;

/**
 * `testbedPids` are the workers Passenger's pool lists: only those are
 * compared, since other titled processes (another project's demo, say)
 * may share the host.
 */
export async function benchCollectorCpu(
  testbedPids: readonly number[],
): Promise<CollectorCpuResult> {
  const proc = new LinuxProc();
  const tools = new PassengerCommandTools();
  const memoryCache = new MemoryCache();
  const sample = (readPool: boolean, cached = true) =>
    collectSample({
      host: hostname(),
      proc,
      tools,
      now: Date.now,
      readPool,
      ...(cached ? { memoryCache } : {}),
    });

  // the first passes load modules and warm the JIT; they are not counted
  for (let i = 0; i < WARM_UP_SAMPLES; i++) await sample(false);
  const figuresFirstLook = await compareWhenIdle(
    () => sample(false, false),
    testbedPids,
  );
  const figures = await compareWhenIdle(() => sample(false), testbedPids);

  // Interleaved, so that both see the same load from whatever else runs
  // on the host: ROUNDS x (a batch of collector samples, one tool run).
  let collector = NO_RUNS;
  let collectorFirstLook = NO_RUNS;
  let memoryStats = NO_RUNS;
  for (let round = 0; round < ROUNDS; round++) {
    collector = await measureCpu(
      COLLECTOR_SAMPLES / ROUNDS,
      () => sample(false),
      collector,
    );
    collectorFirstLook = await measureCpu(
      COLLECTOR_SAMPLES / ROUNDS,
      () => sample(false, false),
      collectorFirstLook,
    );
    memoryStats = await measureCpu(
      1,
      () => runMemoryStatsTool(tools),
      memoryStats,
    );
  }
  const collectorWithPool = await measureCpu(COLLECTOR_WITH_POOL_SAMPLES, () =>
    sample(true),
  );
  return {
    workers: testbedPids.length,
    collector,
    collectorFirstLook,
    collectorWithPool,
    memoryStats,
    ratio: memoryStats.childrenMs / collector.ownMs,
    ratioFirstLook: memoryStats.childrenMs / collectorFirstLook.ownMs,
    figures,
    figuresFirstLook,
  };
}

async function runMemoryStatsTool(tools: PassengerCommandTools) {
  const result = await tools.memoryStats();
  if (result.exitCode !== 0) {
    throw new Error(
      `passenger-memory-stats exited with ${result.exitCode ?? result.signal}`,
    );
  }
}

/**
 * An idle Node worker still collects garbage now and then: a comparison
 * counts only if no worker's Private_Dirty moved while it was taken, and
 * is taken again otherwise, at most three times.
 */
async function compareWhenIdle(
  sample: () => Promise<Sample>,
  testbedPids: readonly number[],
): Promise<FigureComparison> {
  const figures = () =>
    testbedPids.map((pid) => readPrivateDirtyKb(pid)).join(',');
  let comparison: FigureComparison | undefined;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const before = figures();
    comparison = await compareFigures(await sample(), testbedPids);
    if (comparison.identical || figures() === before) return comparison;
  }
  return comparison as FigureComparison;
}

/**
 * The sample's figures against a passenger-memory-stats run right after,
 * for every worker the test bed's pool lists.
 */
async function compareFigures(
  sample: Sample,
  testbedPids: readonly number[],
): Promise<FigureComparison> {
  const printed = await runMemoryStats();
  const mismatches: string[] = [];
  for (const pid of testbedPids) {
    const worker = sample.observation.workers.find(
      (w) => w.identity.pid === pid,
    );
    const row = printed.find((p) => p.pid === pid);
    const kb = worker?.memory.privateDirtyKb ?? null;
    if (worker === undefined || row === undefined) {
      const missingFrom = [
        worker === undefined ? 'the collector' : undefined,
        row === undefined ? 'passenger-memory-stats' : undefined,
      ];
      mismatches.push(
        `pid ${pid}: not listed by ${missingFrom.filter(Boolean).join(' nor ')}`,
      );
    } else if (kb === null || row.privateMb === null) {
      mismatches.push(
        `pid ${pid}: a figure is missing (${kb} kB, ${row.privateMb} MB)`,
      );
    } else if (Math.abs(kbToMbRounded(kb) - row.privateMb) > TOLERANCE_MB) {
      mismatches.push(
        `pid ${pid}: collector ${kbToMbRounded(kb)} MB, ` +
          `passenger-memory-stats ${row.privateMb} MB`,
      );
    }
  }
  return {
    identical: mismatches.length === 0,
    compared: testbedPids.length,
    mismatches,
  };
}
