/**
 * Memory figures from passenger-memory-stats, for workers whose smaps
 * /proc will not show us (another user's process, and we are not root).
 *
 * The tool is the expensive way (~250 ms of CPU a run), so the collector
 * only comes here when /proc said 'denied'. It helps when the tool runs
 * with more rights than the agent (a sudo rule, a setuid wrapper); run as
 * the same plain user it prints `?` and the figures stay unknown.
 */
import { parseMemoryStats } from '../core/memory-stats.ts';
import type { MemoryFigures } from '../core/worker.ts';
import type { PassengerTools, ProcSource, ToolResult } from './host.ts';

/** A worker /proc would not show the memory of. */
export interface DeniedWorker {
  readonly pid: number;
  /** Field 22 of its stat when /proc listed it. */
  readonly startTime: number;
  /** How problems name it, e.g. `pid 42 ('Passenger RubyApp: ...')`. */
  readonly label: string;
}

export interface FallbackFigures {
  /** Pid → figures, for the workers the tool gave a figure for. */
  readonly figures: ReadonlyMap<number, MemoryFigures>;
  readonly problems: readonly string[];
  /** The `Version:` line of the tool's output, when it printed one. */
  readonly passengerVersion?: string;
}

const TOOL = 'passenger-memory-stats';
const EXITED_STATES = new Set(['Z', 'X']);

export async function memoryFromStats(
  proc: ProcSource,
  tools: PassengerTools,
  denied: readonly DeniedWorker[],
): Promise<FallbackFigures> {
  const problems: string[] = [];
  const figures = new Map<number, MemoryFigures>();
  const summary =
    `/proc would not show the memory of ${denied.length} worker(s) ` +
    '(the agent is not root?)';

  let result: ToolResult;
  try {
    result = await tools.memoryStats();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { figures, problems: [`${summary}, and ${TOOL}: ${message}`] };
  }
  const failure = toolFailure(result);
  if (failure !== undefined) {
    return { figures, problems: [`${summary}, and ${TOOL} ${failure}`] };
  }

  const report = parseMemoryStats(result.stdout);
  const listed = new Map(report.processes.map((p) => [p.pid, p]));
  for (const worker of denied) {
    const entry = listed.get(worker.pid);
    if (entry === undefined || entry.memoryMb === null) {
      problems.push(`${worker.label}: ${TOOL} has no figure for it either`);
      continue;
    }
    if (entry.memoryColumn !== 'private') {
      // some builds print Resident: a figure, but not the one we compare
      problems.push(
        `${worker.label}: ${TOOL} prints resident memory, not private, ` +
          'so its private memory stays unknown',
      );
      figures.set(worker.pid, {
        privateDirtyKb: null,
        swapKb: null,
        rssKb: mbToKb(entry.memoryMb),
      });
      continue;
    }
    // the tool ran for a while, and a pid may be reused meanwhile
    const again = proc.stat(worker.pid);
    if (
      !again.ok ||
      again.value.startTime !== worker.startTime ||
      EXITED_STATES.has(again.value.state)
    ) {
      problems.push(
        `${worker.label} exited while ${TOOL} ran; its figure is not used`,
      );
      continue;
    }
    figures.set(worker.pid, {
      privateDirtyKb: mbToKb(entry.memoryMb),
      swapKb: null,
      rssKb: null,
    });
  }

  const given = [...figures.values()].filter(
    (memory) => memory.privateDirtyKb !== null,
  ).length;
  problems.unshift(
    `${summary}; ${TOOL} gave the private memory of ${given} of them`,
  );
  return report.version === undefined
    ? { figures, problems }
    : { figures, problems, passengerVersion: report.version };
}

function toolFailure(result: ToolResult): string | undefined {
  if (result.missing) return 'could not be run';
  if (result.timedOut) {
    return `did not finish within its timeout (${result.elapsedMs} ms)`;
  }
  if (result.exitCode === 0) return undefined;
  return result.exitCode === null
    ? `was killed by ${result.signal ?? 'a signal'}`
    : `failed with exit ${result.exitCode}`;
}

/** The tool prints MB with one decimal; whole kB lose nothing of that. */
function mbToKb(mb: number): number {
  return Math.round(mb * 1024);
}
