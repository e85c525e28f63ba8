/**
 * The demo's verdict. Actions are counted from the enforcer's decisions;
 * wrong kills come only from what the simulated host saw happen to its
 * children, so a bug that makes the enforcer log one thing and do another
 * still shows.
 */
import type { DecisionLogEntry } from '../decision-log.ts';
import type { SimProcess, WrongKill } from './sim-process.ts';

export interface DemoSummary {
  /** Always `stand-in`: no real Passenger was involved. */
  readonly tools: 'stand-in';
  /** Graceful actions the enforcer carried out. */
  readonly graceful: number;
  /** SIGKILLs the enforcer sent after a grace time ran out. */
  readonly forced: number;
  /** Actions the re-check refused: the process was not what was decided. */
  readonly refused: number;
  readonly failed: number;
  /** Deaths the host judged undeserved; 0 is the whole point. */
  readonly wrongKills: number;
  /** Workers the simulated Passenger spawned to replace others. */
  readonly replaced: number;
  /** What the host saw: workers that left by themselves, or by a signal. */
  readonly observedExits: number;
  readonly observedSignalDeaths: number;
  readonly durationS: number;
  readonly interrupted: boolean;
  /** Every process the simulated host started, to check none is left. */
  readonly startedPids: readonly number[];
  /** One sentence per wrong kill and per problem of the run itself. */
  readonly problems: readonly string[];
}

export interface SummaryInput {
  readonly decisions: readonly DecisionLogEntry[];
  readonly processes: readonly SimProcess[];
  /** Children that exited while the host ran (not at its stop). */
  readonly exitsDuringRun: readonly SimProcess[];
  readonly wrongKills: readonly WrongKill[];
  readonly durationMs: number;
  readonly interrupted: boolean;
  /** Tick failures, replacements that could not start... */
  readonly runProblems: readonly string[];
}

export function summarize(input: SummaryInput): DemoSummary {
  const { decisions, processes } = input;
  const count = (test: (entry: DecisionLogEntry) => boolean) =>
    decisions.filter(test).length;
  const workers = processes.filter((p) => p.role === 'worker');
  const diedDuringRun = input.exitsDuringRun.filter((p) => p.role === 'worker');
  const forced = count(
    (e) => e.decision === 'force-kill' && e.outcome === 'killed',
  );
  const signalDeaths = diedDuringRun.filter((p) => p.exit?.signal).length;
  // Every signal death the host saw should be a kill the enforcer logged;
  // a gap means a kill is missing from the log (or someone else killed).
  const unlogged =
    signalDeaths > forced
      ? [
          `the host saw ${signalDeaths} worker(s) die of a signal, but the ` +
            `enforcer logged ${forced} forced kill(s)`,
        ]
      : [];
  return {
    tools: 'stand-in',
    graceful: count(
      (e) =>
        e.decision === 'graceful' &&
        (e.outcome === 'detached' || e.outcome === 'signalled'),
    ),
    forced,
    refused: count((e) => e.outcome === 'refused'),
    failed: count((e) => e.outcome === 'failed'),
    wrongKills: input.wrongKills.length,
    replaced: workers.filter((p) => p.replaces !== undefined).length,
    observedExits: diedDuringRun.filter((p) => p.exit?.signal === null).length,
    observedSignalDeaths: signalDeaths,
    durationS: Math.round(input.durationMs / 100) / 10,
    interrupted: input.interrupted,
    startedPids: processes.map((p) => p.pid),
    problems: [
      ...input.wrongKills.map(
        (wrong) =>
          `wrong kill: ${wrong.process.role} ${wrong.process.pid} ` +
          `(${wrong.process.title}): ${wrong.reason}`,
      ),
      ...unlogged,
      ...input.runProblems,
    ],
  };
}

/** The closing lines for a person. */
export function renderSummary(summary: DemoSummary): string {
  const verdict =
    summary.wrongKills === 0
      ? 'no wrong kills'
      : `${summary.wrongKills} WRONG KILL(S)`;
  const lines = [
    `Summary after ${summary.durationS} s` +
      (summary.interrupted ? ' (interrupted)' : '') +
      ` with stand-in Passenger tools: ${verdict}.`,
    `  graceful actions  ${summary.graceful}`,
    `  forced kills      ${summary.forced}`,
    `  refusals          ${summary.refused}`,
    `  failures          ${summary.failed}`,
    `  wrong kills       ${summary.wrongKills}`,
    `  replacements      ${summary.replaced}`,
    `  seen by the host: ${summary.observedExits} worker(s) left by ` +
      `themselves, ${summary.observedSignalDeaths} died of a signal`,
    ...summary.problems.map((problem) => `  ! ${problem}`),
  ];
  return lines.join('\n');
}
