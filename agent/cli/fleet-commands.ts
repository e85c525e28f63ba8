/**
 * The subcommands a fleet host needs, registered on a commander program:
 * `agent` (the daemon) and `execute` (one SSM order command). Both the
 * full CLI (main.ts) and the bundled agent (fleet-main.ts) use these, and
 * each loads its module only when chosen.
 */
import type { Command } from 'commander';

// Not imported from deadline-spool.ts: subcommands load on demand.
const SPOOL_HELP =
  'where deadlines waited for are kept until settled ' +
  '(default /run/passenger-fleet/deadlines)';

export function addAgentCommand(program: Command): Command {
  return program
    .command('agent')
    .description(
      'Run the fleet agent: sample this host every few seconds and ' +
        'publish its workers to CloudWatch; it acts on a worker only to ' +
        'keep a deadline whose `execute` died (the controller orders ' +
        'through SSM)',
    )
    .requiredOption(
      '--fleet <name>',
      'fleet name: config is read under /passenger-fleet/<name>',
    )
    .option('--interval <seconds>', 'seconds between samples', '5')
    .option('--namespace <name>', 'CloudWatch namespace (PassengerFleet)')
    .option(
      '--imds-endpoint <url>',
      'instance metadata service (http://169.254.169.254)',
    )
    .option('--region <name>', 'AWS region (default: from IMDS)')
    .option('--dry-run', 'sample and log what would be published, send none')
    .option('--syslog', 'also log every line to syslog through logger')
    .option('--tool-timeout <seconds>', "timeout of Passenger's tools", '10')
    .option('--spool-dir <dir>', SPOOL_HELP)
    .action(async (flags) => {
      const { runAgent } = await import('./agent-command.ts');
      process.exitCode = await runAgent(flags);
    });
}

export function addExecuteCommand(program: Command): Command {
  return program
    .command('execute')
    .description(
      'Carry out the orders of an SSM Run Command, read from its SSM_* ' +
        'environment variables; prints one PF-OUTCOME line per step',
    )
    .option('--no-wait', 'report the graceful steps, leave deadlines to AWS')
    .option('--host <id>', 'this instance id (default: $AWS_SSM_INSTANCE_ID)')
    .option('--tool-timeout <seconds>', "timeout of Passenger's tools", '10')
    .option('--spool-dir <dir>', SPOOL_HELP)
    .action(async (flags) => {
      const { runExecute } = await import('./execute-command.ts');
      process.exitCode = await runExecute(flags);
    });
}
