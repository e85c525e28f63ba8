#!/usr/bin/env node
/**
 * `npm start`: the demo. Runs the real enforcer against a simulated
 * Passenger host made of real processes, with stand-in Passenger tools,
 * on a machine that has no Passenger at all.
 *
 * Exit status: 0 when no process was wrongly killed, 1 when one was, 130
 * after Ctrl-C, 64 for a bad option.
 */
import { Command, InvalidArgumentError } from 'commander';
import { runDemo } from './run-demo.ts';
import {
  DEFAULT_DURATION_S,
  MAX_DURATION_S,
  MIN_DURATION_S,
  demoScenario,
} from './scenario.ts';
import { DemoScreen, type ScreenMode } from './screen.ts';
import type { DemoSummary } from './summary.ts';

const EXIT_OK = 0;
/** A wrong kill, or the demo itself failed. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 64;
const EXIT_INTERRUPTED = 130;

interface DemoFlags {
  readonly json?: boolean;
  readonly duration: number;
}

function parseDuration(text: string): number {
  const seconds = Number(text);
  const ok =
    /^\d+$/.test(text.trim()) &&
    seconds >= MIN_DURATION_S &&
    seconds <= MAX_DURATION_S;
  if (!ok) {
    throw new InvalidArgumentError(
      `must be a whole number of seconds from ${MIN_DURATION_S} to ` +
        `${MAX_DURATION_S}`,
    );
  }
  return seconds;
}

async function main(argv: readonly string[]): Promise<number> {
  const program = new Command()
    .name('passenger-fleet-demo')
    .description(
      'Runs the real enforcer against a simulated Passenger host (real ' +
        'processes, stand-in Passenger tools) and reports what it did.',
    )
    .option('--json', 'no table: JSON lines, the summary object last')
    .option(
      '--duration <seconds>',
      'how long the scripted story runs; deadlines may add a little',
      parseDuration,
      DEFAULT_DURATION_S,
    )
    .exitOverride()
    .showHelpAfterError();
  try {
    program.parse([...argv]);
  } catch (error) {
    const code = (error as { exitCode?: number }).exitCode;
    return code === 0 ? EXIT_OK : EXIT_USAGE;
  }
  const flags = program.opts<DemoFlags>();

  const mode: ScreenMode = flags.json
    ? 'json'
    : process.stdout.isTTY
      ? 'tty'
      : 'lines';
  const screen = new DemoScreen(
    mode,
    (text) => process.stdout.write(text),
    process.stdout.columns,
  );

  // First Ctrl-C: stop and clean up. A second one: leave at once; the
  // children exit by themselves when their stdin closes with us.
  const interrupt = new AbortController();
  const onSignal = () => {
    if (interrupt.signal.aborted) process.exit(EXIT_INTERRUPTED);
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let summary: DemoSummary;
  try {
    summary = await runDemo({
      scenario: demoScenario(flags.duration),
      screen,
      signal: interrupt.signal,
    });
  } catch (error) {
    // A Ctrl-C while the host starts reaches its children too; their
    // early exit is what failed, and Ctrl-C is what to report.
    if (interrupt.signal.aborted) return EXIT_INTERRUPTED;
    throw error;
  }
  screen.summary(summary);
  if (summary.wrongKills > 0) return EXIT_FAILURE;
  return summary.interrupted ? EXIT_INTERRUPTED : EXIT_OK;
}

function finish(code: number): void {
  process.exitCode = code;
  // Everything is stopped by now; should a handle still linger, do not
  // let it keep the demo from ending.
  setTimeout(() => process.exit(code), 2_000).unref();
}

main(process.argv).then(finish, (error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`passenger-fleet-demo: ${message}\n`);
  finish(EXIT_FAILURE);
});
