/**
 * `passenger-fleet enforce`: the drop-in successor of passenger_monitor4.
 *
 * `enforce <app> -l <MB> -w <seconds> --once` means what the cron script
 * meant; without `--once` it stays up and samples every few seconds.
 * Either way one run holds the lock, every decision is one JSON line on
 * stdout, and every grace record lives in the SQLite state file, so a
 * restarted enforcer honours the deadlines its predecessor set.
 */
import { homedir, hostname } from 'node:os';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FleetConfig } from '../../core/config.ts';
import type { Sample } from '../collector.ts';
import { createEventLog, type DecisionLogEntry } from '../decision-log.ts';
import { Enforcer } from '../enforcer.ts';
import { acquireLock } from '../lock.ts';
import { LinuxProc } from '../proc.ts';
import { openStore } from '../store.ts';
import { PassengerCommandTools } from '../tools.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { configFromFlags, type EnforceFlags } from './flags-config.ts';

export interface EnforceCommandFlags extends EnforceFlags {
  readonly once?: boolean;
  readonly wait?: boolean;
  readonly interval?: string;
  readonly state?: string;
  readonly lock?: string;
  readonly syslog?: boolean;
  readonly json?: boolean;
  readonly host?: string;
  readonly toolTimeout?: string;
  /** Where proc is mounted; tests point it at a built tree. */
  readonly procRoot?: string;
}

export function defaultStatePath(): string {
  return process.getuid?.() === 0
    ? '/var/lib/passenger-fleet/enforcer.db'
    : join(homedir(), '.local/state/passenger-fleet/enforcer.db');
}

export async function runEnforce(
  apps: readonly string[],
  flags: EnforceCommandFlags,
): Promise<number> {
  const config = configFromFlags(apps, flags);
  const intervalMs = seconds('--interval', flags.interval ?? '5', 1, 3600);
  const toolTimeoutMs = seconds(
    '--tool-timeout',
    flags.toolTimeout ?? '10',
    1,
    600,
  );
  const statePath = flags.state ?? defaultStatePath();
  const proc = new LinuxProc(flags.procRoot ? { root: flags.procRoot } : {});

  const lockPath = flags.lock ?? `${statePath}.lock`;
  mkdirSync(dirname(lockPath), { recursive: true });
  // The lock is about this machine's processes, whatever /proc is read.
  const lock = acquireLock(lockPath, new LinuxProc());
  if (!lock.ok) throw new CliError(lock.reason, EXIT.tempFail);
  const log = createEventLog({ syslog: flags.syslog ?? false });
  if (lock.tookOver) log.warn(lock.tookOver);
  const store = openStore(statePath);
  const summary = emptySummary();
  const enforcer = new Enforcer({
    host: flags.host ?? hostname(),
    config,
    store,
    proc,
    tools: new PassengerCommandTools({ timeoutMs: toolTimeoutMs }),
    log: (entry) => {
      tally(summary, entry);
      log.decision(entry);
    },
  });
  try {
    if (flags.once) {
      await runOnce(enforcer, config, flags.wait !== false);
    } else {
      log.info('enforcer started', { intervalMs, statePath });
      await runDaemon(enforcer, intervalMs, log.warn);
    }
  } finally {
    await enforcer.close();
    store.close();
    lock.release();
  }
  log.info('run summary', { summary });
  await log.close();
  if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  return EXIT.ok;
}

async function runOnce(
  enforcer: Enforcer,
  config: FleetConfig,
  waitForDeadlines: boolean,
): Promise<void> {
  const report = await enforcer.tick();
  checkHost(report.sample);
  // An orphan needs two samples some seconds apart: take the second one
  // now rather than a minute later at the next cron run.
  if (report.pendingOrphans > 0) {
    await sleep(config.orphans.confirmSeconds * 1000 + 250);
    await enforcer.tick();
  }
  if (waitForDeadlines) await enforcer.deadlinesSettled();
}

async function runDaemon(
  enforcer: Enforcer,
  intervalMs: number,
  warn: (message: string, fields?: Record<string, unknown>) => void,
): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  let lastProblem = '';
  try {
    while (!stop.signal.aborted) {
      const report = await enforcer.tick();
      const problem = hostProblem(report.sample) ?? '';
      if (problem !== lastProblem && problem !== '') warn(problem);
      lastProblem = problem;
      await sleep(intervalMs, undefined, { signal: stop.signal }).catch(
        () => undefined,
      );
    }
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/** In `--once` mode a host that cannot be enforced is an error. */
function checkHost(sample: Sample): void {
  const problem = hostProblem(sample);
  if (problem === undefined) return;
  const code = problem.startsWith('no Passenger')
    ? EXIT.unavailable
    : EXIT.noPermission;
  throw new CliError(problem, code);
}

function hostProblem(sample: Sample): string | undefined {
  const { workers } = sample.observation;
  const passengerSeen =
    workers.length > 0 ||
    sample.others.some((p) =>
      ['core', 'watchdog', 'agent', 'preloader', 'spawner'].includes(p.role),
    );
  if (!passengerSeen) {
    return (
      'no Passenger is running on this host: no Passenger process in /proc' +
      (sample.problems.length ? ` (${sample.problems.join('; ')})` : '')
    );
  }
  const unreadable = workers.filter((w) => w.memory.privateDirtyKb === null);
  const uid = process.getuid?.();
  if (unreadable.length === 0 || uid === 0) return undefined;
  const owners = [...new Set(unreadable.map((w) => w.uid ?? '?'))].join(', ');
  return (
    `cannot read the memory of ${unreadable.length} worker(s): run as root ` +
    `or as the workers' owner (uid ${owners}); running as uid ${uid}`
  );
}

/** Counts of what a run did, for the last line of `--json`. */
export interface RunSummary {
  graceful: number;
  forced: number;
  orphans: number;
  refused: number;
  failed: number;
  skipped: number;
  gone: number;
}

function emptySummary(): RunSummary {
  return {
    graceful: 0,
    forced: 0,
    orphans: 0,
    refused: 0,
    failed: 0,
    skipped: 0,
    gone: 0,
  };
}

function tally(summary: RunSummary, entry: DecisionLogEntry): void {
  const acted = entry.outcome === 'detached' || entry.outcome === 'signalled';
  if (entry.decision === 'graceful' && acted) summary.graceful++;
  if (entry.decision === 'orphan' && acted) summary.orphans++;
  if (entry.decision === 'force-kill' && entry.outcome === 'killed') {
    summary.forced++;
  }
  if (entry.outcome === 'refused') summary.refused++;
  if (entry.outcome === 'failed') summary.failed++;
  if (entry.decision === 'skip') summary.skipped++;
  if (entry.decision === 'gone' || entry.outcome === 'gone') summary.gone++;
}

function seconds(flag: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new CliError(
      `${flag} must be a number of seconds from ${min} to ${max} (got ${JSON.stringify(raw)})`,
      EXIT.usage,
    );
  }
  return value * 1000;
}
