/**
 * The names of the environment variables the Lambdas read, in one place,
 * so that the CDK stack sets exactly the keys the handlers look for.
 * Import the constant on both sides; never retype the string.
 */

/** The DynamoDB table holding grace marks and the audit trail. */
export const TABLE_NAME_VARIABLE = 'PASSENGER_FLEET_TABLE_NAME';

/** The fleet's name: its parameter tree is parameterRoot(name). */
export const FLEET_NAME_VARIABLE = 'PASSENGER_FLEET_NAME';

/** The name of the SSM Command document that carries orders to hosts. */
export const ORDER_DOCUMENT_VARIABLE = 'PASSENGER_FLEET_ORDER_DOCUMENT';

/** Every variable above, for the stack to iterate over. */
export const ENVIRONMENT_VARIABLES = {
  tableName: TABLE_NAME_VARIABLE,
  fleetName: FLEET_NAME_VARIABLE,
  orderDocument: ORDER_DOCUMENT_VARIABLE,
} as const;

export type EnvironmentVariable =
  (typeof ENVIRONMENT_VARIABLES)[keyof typeof ENVIRONMENT_VARIABLES];

/**
 * The trimmed value of a variable that must be set, or an error naming
 * the variable: a Lambda missing its table name must fail at start, not
 * at its first write.
 */
export function requiredVariable(
  environment: Readonly<Record<string, string | undefined>>,
  name: EnvironmentVariable,
): string {
  const value = environment[name]?.trim() ?? '';
  if (value === '') {
    throw new Error(
      `environment variable ${name} must be set to a non-empty value; ` +
        'the stack sets it on every function that needs it',
    );
  }
  return value;
}
