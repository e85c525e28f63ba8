/**
 * The Command document that carries orders to a host, as the controller
 * and the CDK stack use it. The document itself is data, in
 * order-document.json beside this file; this module types it, checks at
 * load that it still agrees with the codec (same parameters, same
 * patterns, every parameter an environment variable, nothing spliced
 * into the script), and shapes parameters for SendCommand.
 *
 * A note on the patterns: SSM checks `allowedPattern` with its own regex
 * engine, where `$` may also match before a final newline. The agent
 * checks every value again with JavaScript, where it may not, so a value
 * ending in a newline is refused on the host even if SSM let it through.
 */
import {
  ORDER_PARAMETER_NAMES,
  ORDER_PARAMETER_PATTERNS,
  type OrderParameterName,
  type OrderParameters,
} from '../../core/order-codec.ts';
import { MEASURES } from '../../core/measure.ts';
import documentJson from './order-document.json' with { type: 'json' };

/** Where hosts install the bundled agent. */
export const DEFAULT_AGENT_PATH = '/opt/passenger-fleet/agent.mjs';
/**
 * Replaces DEFAULT_AGENT_PATH in the script. SSM never sets it (its own
 * variables are SSM_<parameter> and AWS_SSM_*), so a command cannot; the
 * tests set it to run the agent from its sources.
 */
export const AGENT_PATH_VARIABLE = 'PASSENGER_FLEET_AGENT';

export interface DocumentParameter {
  readonly type: 'String';
  readonly description: string;
  readonly allowedPattern?: string;
  readonly allowedValues?: readonly string[];
  readonly default?: string;
  readonly interpolationType: 'ENV_VAR';
}

export interface OrderDocument {
  readonly schemaVersion: '2.2';
  readonly description: string;
  readonly parameters: Readonly<Record<OrderParameterName, DocumentParameter>>;
  readonly mainSteps: readonly [
    {
      readonly action: 'aws:runShellScript';
      readonly name: string;
      readonly precondition?: unknown;
      readonly inputs: {
        readonly timeoutSeconds: string;
        readonly runCommand: readonly string[];
      };
    },
  ];
}

export const ORDER_DOCUMENT: OrderDocument = checkedDocument(documentJson);

/** The script's lines, as the SSM Agent writes them to `_script.sh`. */
export const ORDER_SCRIPT_LINES: readonly string[] =
  ORDER_DOCUMENT.mainSteps[0].inputs.runCommand;

/** The document's `timeoutSeconds`: the longest a command may run. */
export const ORDER_SCRIPT_TIMEOUT_SECONDS = Number(
  ORDER_DOCUMENT.mainSteps[0].inputs.timeoutSeconds,
);

export { ORDER_PARAMETER_NAMES };

/** SendCommand wants every parameter value as a list of strings. */
export function sendCommandParameters(
  values: OrderParameters,
): Record<OrderParameterName, string[]> {
  const parameters = {} as Record<OrderParameterName, string[]>;
  for (const name of ORDER_PARAMETER_NAMES) parameters[name] = [values[name]];
  return parameters;
}

/** Throws, naming the parameter and the rule, when the JSON has drifted. */
function checkedDocument(json: unknown): OrderDocument {
  const document = json as OrderDocument;
  const fail = (what: string) => {
    throw new Error(`lambdas/ssm/order-document.json: ${what}`);
  };
  if (document.schemaVersion !== '2.2') fail('schemaVersion must be 2.2');
  const names = Object.keys(document.parameters ?? {}).sort();
  const expected = [...ORDER_PARAMETER_NAMES].sort();
  if (names.join() !== expected.join()) {
    fail(`parameters must be ${expected.join(', ')}, got ${names.join(', ')}`);
  }
  for (const name of ORDER_PARAMETER_NAMES) {
    const parameter = document.parameters[name];
    if (parameter.interpolationType !== 'ENV_VAR') {
      fail(`parameters.${name}.interpolationType must be ENV_VAR`);
    }
    const pattern =
      name === 'measure' ? undefined : ORDER_PARAMETER_PATTERNS[name];
    if (pattern !== undefined && parameter.allowedPattern !== pattern) {
      fail(`parameters.${name}.allowedPattern must be the codec's pattern`);
    }
    if (
      name === 'measure' &&
      parameter.allowedValues?.join() !== MEASURES.join()
    ) {
      fail(`parameters.measure.allowedValues must be ${MEASURES.join(', ')}`);
    }
  }
  const steps = document.mainSteps ?? [];
  const step = steps[0];
  if (steps.length !== 1 || step?.action !== 'aws:runShellScript') {
    fail('mainSteps must be one aws:runShellScript step');
  }
  // `{{ name }}` is how SSM splices a parameter into the text; the script
  // must never use it, whatever the interpolation type says.
  if (step?.inputs.runCommand.some((line) => line.includes('{{'))) {
    fail('runCommand must not contain {{ }}: parameters come as SSM_* only');
  }
  return document;
}
