/**
 * One demo run: start the simulated host, point the REAL enforcer at it
 * (through the real /proc, narrowed to the demo's children, and the
 * stand-in Passenger tools), tick until the story is over and every
 * worker has settled, then stop everything and judge.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../core/config.ts';
import type { DecisionLogEntry } from '../decision-log.ts';
import { Enforcer } from '../enforcer.ts';
import { LinuxProc } from '../proc.ts';
import { openStore, type EnforcerStore } from '../store.ts';
import { demoConfig, type Scenario } from './scenario.ts';
import { ScopedProc } from './scoped-proc.ts';
import type { DemoScreen, Frame } from './screen.ts';
import { SimulatedHost } from './simulated-host.ts';
import { StandInPassengerTools } from './stand-in-tools.ts';
import { summarize, type DemoSummary } from './summary.ts';

/** The host name the enforcer writes in its decisions. */
export const DEMO_HOST = 'simulated-host';

/** Slack after the last possible deadline before the run gives up. */
const SETTLE_MARGIN_MS = 8_000;
const REDRAW_MS = 500;

export interface RunDemoOptions {
  readonly scenario: Scenario;
  readonly screen: DemoScreen;
  /** Aborted by Ctrl-C: the run stops early and still cleans up. */
  readonly signal?: AbortSignal;
}

export async function runDemo(options: RunDemoOptions): Promise<DemoSummary> {
  const { scenario, screen, signal } = options;
  const config = loadConfig(demoConfig(scenario));
  screen.start(startFacts(scenario), startLines(scenario));

  const host = await SimulatedHost.start(scenario, signal);
  const decisions: DecisionLogEntry[] = [];
  const problems: string[] = [];
  let store: EnforcerStore | undefined;
  let enforcer: Enforcer | undefined;
  let redraw: NodeJS.Timeout | undefined;
  try {
    store = openStore(':memory:');
    enforcer = new Enforcer({
      host: DEMO_HOST,
      config,
      store,
      proc: new ScopedProc(new LinuxProc(), (pid) => host.isLive(pid)),
      tools: new StandInPassengerTools(host),
      log: (entry) => {
        decisions.push(entry);
        screen.decision(entry);
      },
    });
    const view = enforcer;
    redraw = setInterval(() => screen.frame(frameOf(host, view)), REDRAW_MS);
    await tickUntilSettled(host, enforcer, options, problems);
    screen.frame(frameOf(host, enforcer));
  } finally {
    clearInterval(redraw);
    await enforcer?.close();
    await host.stop();
    store?.close();
  }

  return summarize({
    decisions,
    processes: host.processes(),
    exitsDuringRun: host.exitsDuringRun(),
    wrongKills: host.wrongKills(),
    durationMs: Date.now() - host.startedAt,
    interrupted: signal?.aborted ?? false,
    runProblems: [...problems, ...host.spawnFailures()],
  });
}

async function tickUntilSettled(
  host: SimulatedHost,
  enforcer: Enforcer,
  { scenario, screen, signal }: RunDemoOptions,
  problems: string[],
): Promise<void> {
  const storyEnds = host.startedAt + scenario.durationMs;
  const giveUpAt = storyEnds + scenario.graceSeconds * 1000 + SETTLE_MARGIN_MS;
  while (!signal?.aborted) {
    const tickStarted = Date.now();
    try {
      await enforcer.tick();
    } catch (error) {
      const message = `enforcer tick failed: ${messageOf(error)}`;
      problems.push(message);
      screen.note(message);
    }
    const now = Date.now();
    if (now >= storyEnds && settled(host, enforcer.pendingDeadlines)) return;
    if (now >= giveUpAt) {
      problems.push(
        'the run stopped at its time limit with workers still over ' +
          'their limit or in grace',
      );
      return;
    }
    const wait = scenario.tickMs - (now - tickStarted);
    // An abort ends the wait early; the loop condition then ends the run.
    await sleep(Math.max(0, wait), undefined, { signal }).catch(() => {});
  }
}

function frameOf(host: SimulatedHost, enforcer: Enforcer): Frame {
  const now = Date.now();
  return {
    processes: host.processes(),
    deadlines: new Map(
      enforcer.openRecords().map((r) => [r.identity.pid, r.deadline]),
    ),
    now,
    elapsedMs: now - host.startedAt,
    durationMs: host.scenario.durationMs,
  };
}

/**
 * Nothing left to happen: no deadline pending, and every running worker
 * attached and within its limit.
 */
function settled(host: SimulatedHost, pendingDeadlines: number): boolean {
  if (pendingDeadlines > 0) return false;
  return host
    .poolWorkers()
    .every(
      (worker) =>
        worker.detachedAt === undefined &&
        worker.mb !== null &&
        worker.limitMb !== undefined &&
        worker.mb <= worker.limitMb,
    );
}

function startFacts(scenario: Scenario): Record<string, unknown> {
  return {
    tools: 'stand-in',
    host: DEMO_HOST,
    durationS: scenario.durationMs / 1000,
    graceSeconds: scenario.graceSeconds,
    apps: scenario.apps.map((app) => ({
      name: app.name,
      limitMb: app.limitMb,
    })),
  };
}

function startLines(scenario: Scenario): string[] {
  const apps = scenario.apps
    .map((app) => `${app.name} (${app.root}, limit ${app.limitMb} MB)`)
    .join(', ');
  return [
    'passenger-fleet demo: the real enforcer against a SIMULATED host.',
    `  Passenger's tools are ${StandInPassengerTools.label}: no real ` +
      'Passenger is involved.',
    '  The workers are real processes; their memory is read from /proc.',
    "  The enforcer sees only this demo's own processes.",
    `  Apps: ${apps}; grace ${scenario.graceSeconds} s; story ` +
      `${scenario.durationMs / 1000} s. Ctrl-C stops early and cleans up.`,
  ];
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
