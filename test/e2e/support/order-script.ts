/**
 * The Command document's script as the e2e tests run it: its own lines in
 * a file, and the environment the SSM Agent gives it, with the agent run
 * from its sources through tsx instead of the installed bundle.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  AGENT_PATH_VARIABLE,
  ORDER_SCRIPT_LINES,
} from '../../../lambdas/ssm/order-document.ts';

export const AGENT_SOURCE = fileURLToPath(
  new URL('../../../agent/cli/main.ts', import.meta.url),
);
const TSX_LOADER = import.meta.resolve('tsx');

/** The instance every test order is addressed to. */
export const TEST_INSTANCE = 'i-0123456789abcdef0';

/** Writes the script's lines to `path`, executable by its owner. */
export async function writeOrderScript(path: string): Promise<void> {
  await writeFile(path, `${ORDER_SCRIPT_LINES.join('\n')}\n`, {
    mode: 0o700,
  });
}

/**
 * What the SSM Agent sets for every command, plus what makes the script
 * run `agent` (by default the CLI's sources) under tsx.
 */
export function scriptEnvironment(
  path: string,
  agent: string = AGENT_SOURCE,
): NodeJS.ProcessEnv {
  return {
    PATH: path,
    HOME: process.env.HOME ?? '/root',
    AWS_SSM_INSTANCE_ID: TEST_INSTANCE,
    [AGENT_PATH_VARIABLE]: agent,
    NODE_OPTIONS: `--import=${TSX_LOADER}`,
  };
}
