#!/usr/bin/env node
/**
 * The entry of the bundled fleet agent (`npm run bundle` writes
 * dist-bundle/agent.mjs, installed on hosts as
 * /opt/passenger-fleet/agent.mjs): only `agent` and `execute`. The local
 * enforcer's commands stay out, because they need better-sqlite3, a
 * native addon that cannot travel inside one JavaScript file.
 */
import { Command } from 'commander';
import { exitCodeFor } from './cli/exit-code-for.ts';
import { addAgentCommand, addExecuteCommand } from './cli/fleet-commands.ts';

const program = new Command()
  .name('passenger-fleet')
  .description(
    'Fleet agent for Phusion Passenger memory limits: publishes this ' +
      "host's workers to CloudWatch and carries out the controller's orders.",
  )
  .showHelpAfterError()
  .exitOverride();
addAgentCommand(program);
addExecuteCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = exitCodeFor(error);
}
