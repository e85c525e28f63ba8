/**
 * `cdk synth` / `cdk deploy` entry (cdk.json). Settings come as context:
 *
 *   npx cdk deploy -c fleet=prod -c alarmEmail=oncall@example.com
 *
 * fleet (default `default`), tagKey (default `passenger-fleet`), tagValue
 * (default the fleet name), alarmEmail (default none), dryRun (`true`).
 * cdk-nag's AwsSolutions checks run on every synth: a finding that is
 * neither fixed nor acknowledged with a reason stops it.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PassengerFleetStack } from './passenger-fleet-stack.ts';

const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return value === undefined ? undefined : String(value);
};

const fleet = context('fleet') ?? 'default';
const tagKey = context('tagKey') ?? 'passenger-fleet';
new PassengerFleetStack(app, `PassengerFleet-${fleet}`, {
  description: `passenger-fleet: memory limits for Passenger workers (${fleet})`,
  env: {
    account: process.env.CDK_DEFAULT_ACCOUNT,
    region: process.env.CDK_DEFAULT_REGION,
  },
  fleetName: fleet,
  fleetTag: { key: tagKey, value: context('tagValue') ?? fleet },
  alarmEmail: context('alarmEmail'),
  dryRun: context('dryRun') === 'true',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
