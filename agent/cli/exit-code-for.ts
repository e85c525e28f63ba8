/**
 * The exit code for an error that reached the top of a CLI program, with
 * the one line it prints on stderr.
 */
import { CliError, EXIT } from './exit-codes.ts';

export function exitCodeFor(error: unknown): number {
  if (error instanceof CliError) {
    process.stderr.write(`passenger-fleet: ${error.message}\n`);
    return error.exitCode;
  }
  // commander has already printed its own message (or the help)
  const code = (error as { code?: string } | undefined)?.code;
  if (typeof code === 'string' && code.startsWith('commander.')) {
    const helpShown =
      code === 'commander.helpDisplayed' || code === 'commander.version';
    return helpShown ? EXIT.ok : EXIT.usage;
  }
  process.stderr.write(
    `passenger-fleet: unexpected error: ${(error as Error)?.stack ?? error}\n`,
  );
  return EXIT.failure;
}
