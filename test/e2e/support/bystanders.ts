/**
 * Processes the enforcer must never touch, recorded before a scenario and
 * checked after it: Passenger's watchdog, core and preloaders, Apache's
 * processes, and the workers of apps that were not the target. A process
 * counts as untouched when the same pid still runs with the same start
 * time (a pid alone could have been reused).
 */
import { apacheProcesses } from './apache.ts';
import { findProcesses, isRunning, readTitle } from './procfs.ts';

export interface Bystander {
  readonly pid: number;
  readonly startTime: number;
  /** Its title when recorded, to say which one went. */
  readonly title: string;
}

const PASSENGER_INFRASTRUCTURE =
  /^Passenger (?:watchdog|core|AppPreloader: (?!.*\(forking\.\.\.\)$))/;

/** Passenger's own processes and Apache's, plus the given worker pids. */
export function recordBystanders(workerPids: readonly number[]): Bystander[] {
  const infrastructure = [
    ...findProcesses((title) => PASSENGER_INFRASTRUCTURE.test(title)),
    ...apacheProcesses(),
  ];
  const workers = findProcesses((_title, pid) => workerPids.includes(pid));
  const missing = workerPids.filter(
    (pid) => !workers.some((worker) => worker.pid === pid),
  );
  if (missing.length > 0) {
    throw new Error(`bystander workers are not running: ${missing.join(', ')}`);
  }
  return [...infrastructure, ...workers].map((facts) => ({
    pid: facts.pid,
    startTime: facts.startTime,
    title: readTitle(facts.pid),
  }));
}

/** The bystanders that no longer run as the same process. */
export function touchedBystanders(recorded: readonly Bystander[]): Bystander[] {
  return recorded.filter(
    (bystander) => !isRunning(bystander.pid, bystander.startTime),
  );
}

export function describeBystanders(list: readonly Bystander[]): string {
  return list.map((b) => `${b.pid} (${b.title})`).join(', ');
}
