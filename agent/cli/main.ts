#!/usr/bin/env -S node --lite-mode --no-expose-wasm
/**
 * The `passenger-fleet` command. Each subcommand works out what to do in
 * its own module; this file only wires flags to them and turns a
 * CliError into one line on stderr and its exit code.
 *
 * Subcommands are imported when chosen, so the enforcer never loads what
 * only the fleet agent needs (the AWS SDK among it). `--lite-mode` trades
 * V8's optimising compilers for memory: the enforcer spends its time in
 * /proc reads and waits, and a daemon beside every Passenger must stay
 * small (about 56 MB instead of 70 MB resident, measured on Node 20).
 */
import { Command, Option } from 'commander';
import { exitCodeFor } from './exit-code-for.ts';
import { addAgentCommand, addExecuteCommand } from './fleet-commands.ts';

const program = new Command()
  .name('passenger-fleet')
  .description(
    'Keep Phusion Passenger workers within their memory limits: restart ' +
      'bloated workers gracefully, SIGKILL the ones that do not leave in time.',
  )
  .showHelpAfterError()
  .exitOverride();

program
  .command('enforce')
  .description(
    'Enforce memory limits on this host (successor of passenger_monitor4). ' +
      'Prints one JSON line per decision.',
  )
  .argument(
    '[apps...]',
    'apps to enforce: short name (fleetapp for /data/fleetapp/current), ' +
      'deploy dir, app root or Passenger group name; none means every app',
  )
  .option('-l, --limit <MB>', 'memory limit per worker in MB (default 250)')
  .option(
    '-w, --grace <seconds>',
    'seconds between the graceful action and SIGKILL (default 30)',
  )
  .option('-c, --config <file>', 'JSON configuration file (flags override it)')
  .option('--once', 'one pass, as from cron; waits for the deadlines it set')
  .option('--no-wait', 'with --once: leave deadlines to the next run')
  .option('--interval <seconds>', 'daemon: seconds between samples', '5')
  .option('--state <file>', 'SQLite state file (default /var/lib/...)')
  .option('--lock <file>', 'lock file (default <state>.lock)')
  .addOption(
    new Option('--measure <measure>', 'memory compared with the limit')
      .choices(['private', 'private+swap'])
      .default(undefined, 'private'),
  )
  .option(
    '--graceful <action>',
    'graceful action: auto, detach or signal:<NAME> (default auto)',
  )
  .option('--sustain <samples>', 'samples over the limit before acting (1)')
  .option('--max-in-grace <n>', 'workers of one app in grace at once (1)')
  .option('--min-live <n>', 'live workers of an app never to go below (0)')
  .option('--unmark-below', 'un-mark a worker that drops under the limit')
  .option('--no-orphans', 'do not clean up orphaned workers')
  .option('--orphan-min-age <seconds>', 'youngest orphan cleaned up (60)')
  .option('--orphan-grace <seconds>', 'orphan TERM to SIGKILL (30)')
  .option('--dry-run', 'decide and log, but act on nothing')
  .option('--syslog', 'also log every line to syslog through logger')
  .option('--json', 'print a JSON summary of the run as the last line')
  .option('--host <name>', 'host name in log lines (default: hostname)')
  .option('--tool-timeout <seconds>', "timeout of Passenger's tools", '10')
  .addOption(procRootOption())
  .action(async (apps: string[], flags) => {
    const { runEnforce } = await import('./enforce-command.ts');
    process.exitCode = await runEnforce(apps, flags);
  });

program
  .command('workers')
  .description('List the workers the collector sees (or a saved output)')
  .option('--json', 'print JSON instead of a table')
  .option(
    '--stats-file <file>',
    'parse a saved passenger-memory-stats output instead of this host',
  )
  .option('--host <name>', 'host name (default: hostname)')
  .option('--tool-timeout <seconds>', "timeout of Passenger's tools", '10')
  .addOption(procRootOption())
  .action(async (flags) => {
    const { runWorkers } = await import('./workers-command.ts');
    process.exitCode = await runWorkers(flags);
  });

addExecuteCommand(program);
addAgentCommand(program);

program
  .command('status')
  .description(
    "The fleet from the controller's table and CloudWatch: workers in " +
      'grace with time left, recent actions and outcomes, silent agents',
  )
  .option('--json', 'print JSON instead of tables')
  .option('--table <name>', 'the DynamoDB table (the stack output TableName)')
  .option('--region <region>', 'AWS region (default: the SDK default chain)')
  .option('--limit <n>', 'recent actions to show', '20')
  .option('--silent-after <seconds>', 'heartbeat age that counts as silent')
  .action(async (flags) => {
    const { runStatus } = await import('./status-command.ts');
    process.exitCode = await runStatus(flags);
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = exitCodeFor(error);
}

/** Hidden: tests read a built /proc tree instead of the machine's. */
function procRootOption(): Option {
  return new Option('--proc-root <dir>', 'where proc is mounted').hideHelp();
}
