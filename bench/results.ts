/**
 * The bench's report: a table on stdout and bench-results.json in the
 * project root, merged into what other benches wrote there.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { PROJECT_ROOT } from '../test/e2e/support/cli.ts';
import type { CollectorCpuResult, FigureComparison } from './collector-cpu.ts';
import type { EnforcerRssResult } from './enforcer-rss.ts';

export const RESULTS_FILE = join(PROJECT_ROOT, 'bench-results.json');

/** passenger-memory-stats must cost at least this many collector samples. */
export const CPU_RATIO_TARGET = 20;
/** The enforcer daemon's resident memory must stay at or under this. */
export const RSS_TARGET_MB = 60;

export interface BenchReport {
  readonly collector?: CollectorCpuResult;
  readonly collectorSkipped?: string;
  readonly enforcer?: EnforcerRssResult;
  readonly enforcerSkipped?: string;
}

const round = (value: number) => Math.round(value * 100) / 100;

export function printReport(report: BenchReport): void {
  const lines: string[] = [];
  const { collector, enforcer } = report;
  if (collector) {
    const met = collector.ratio >= CPU_RATIO_TARGET;
    lines.push(
      `CPU per look at ${collector.workers} workers:`,
      `  collector, first look        ${fmt(
        collector.collectorFirstLook.ownMs,
      )} ms (every smaps_rollup read; ` +
        `${fmt(collector.ratioFirstLook)}x less than the tool)`,
      `  collector, as it runs        ${fmt(collector.collector.ownMs)} ms ` +
        `(mean of ${collector.collector.runs} samples, memory cache kept)`,
      `  collector + passenger-status ${fmt(
        collector.collectorWithPool.ownMs +
          collector.collectorWithPool.childrenMs,
      )} ms (mean of ${collector.collectorWithPool.runs})`,
      `  passenger-memory-stats       ${fmt(collector.memoryStats.childrenMs)} ms ` +
        `(mean of ${collector.memoryStats.runs} runs)`,
      `  ratio                        ${fmt(collector.ratio)}x ` +
        `(target >= ${CPU_RATIO_TARGET}: ${met ? 'met' : 'NOT met'})`,
      `  same Private per pid         ${describeFigures(collector.figures)}`,
      `    (first look)               ${describeFigures(
        collector.figuresFirstLook,
      )}`,
    );
  } else {
    lines.push(`collector CPU: skipped (${report.collectorSkipped})`);
  }
  if (enforcer) {
    const met = enforcer.maxRssMb <= RSS_TARGET_MB;
    lines.push(
      'enforcer daemon (built JS):',
      `  max VmRSS                    ${fmt(enforcer.maxRssMb)} MB over ` +
        `${Math.round(enforcer.durationMs / 1000)} s, sampling every ` +
        `${enforcer.intervalSeconds} s (target <= ${RSS_TARGET_MB}: ` +
        `${met ? 'met' : 'NOT met'})`,
    );
  } else {
    lines.push(`enforcer RSS: skipped (${report.enforcerSkipped})`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

function describeFigures(figures: FigureComparison): string {
  return figures.identical
    ? `yes, ${figures.compared} workers to 0.1 MB`
    : `NO: ${figures.mismatches.join('; ')}`;
}

/** Merges this bench's keys into bench-results.json, keeping the rest. */
export async function writeResults(report: BenchReport): Promise<void> {
  const existing = await readExisting();
  const { collector, enforcer } = report;
  const merged = {
    ...existing,
    collectorCpuRatio: collector ? round(collector.ratio) : null,
    enforcerRssMb: enforcer ? enforcer.maxRssMb : null,
    collectorBench: {
      measuredAt: new Date().toISOString(),
      cpuRatioTarget: CPU_RATIO_TARGET,
      rssTargetMb: RSS_TARGET_MB,
      ...(collector
        ? {
            workers: collector.workers,
            collectorCpuMsPerSample: round(collector.collector.ownMs),
            collectorFirstLookCpuMsPerSample: round(
              collector.collectorFirstLook.ownMs,
            ),
            collectorCpuRatioFirstLook: round(collector.ratioFirstLook),
            figuresIdenticalFirstLook: collector.figuresFirstLook.identical,
            collectorSamples: collector.collector.runs,
            collectorWithPoolCpuMsPerSample: round(
              collector.collectorWithPool.ownMs +
                collector.collectorWithPool.childrenMs,
            ),
            memoryStatsCpuMsPerRun: round(collector.memoryStats.childrenMs),
            memoryStatsRuns: collector.memoryStats.runs,
            memoryStatsWallMsPerRun: round(collector.memoryStats.wallMs),
            figuresIdentical: collector.figures.identical,
            figureMismatches: collector.figures.mismatches,
          }
        : { collectorSkipped: report.collectorSkipped }),
      ...(enforcer
        ? {
            enforcerRssReadings: enforcer.readings,
            enforcerRunMs: enforcer.durationMs,
            enforcerIntervalSeconds: enforcer.intervalSeconds,
          }
        : { enforcerSkipped: report.enforcerSkipped }),
    },
  };
  await writeFile(RESULTS_FILE, `${JSON.stringify(merged, null, 2)}\n`);
}

/** Merges these keys into bench-results.json, keeping every other key. */
export async function mergeResults(
  entries: Readonly<Record<string, unknown>>,
): Promise<void> {
  const merged = { ...(await readExisting()), ...entries };
  await writeFile(RESULTS_FILE, `${JSON.stringify(merged, null, 2)}\n`);
}

async function readExisting(): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(RESULTS_FILE, 'utf8');
  } catch {
    return {};
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // fall through: a file we cannot read is not worth failing the bench
  }
  process.stderr.write(
    `bench: ${RESULTS_FILE} is not a JSON object; starting it afresh\n`,
  );
  return {};
}

function fmt(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}
