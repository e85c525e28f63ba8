/**
 * Builds the stack for the CDK tests without Docker, network or the
 * real build outputs: bundling is skipped (the `aws:cdk:bundling-stacks`
 * context), and the agent bundle, unit and controller entry come from
 * test/fixtures/cdk.
 */
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import {
  PassengerFleetStack,
  type PassengerFleetStackProps,
} from '../../cdk/passenger-fleet-stack.ts';
import { REPOSITORY_ROOT } from '../../cdk/passenger-fleet-monitor.ts';

const FIXTURES = join(REPOSITORY_ROOT, 'test/fixtures/cdk');

export const FIXTURE_PATHS = {
  controllerEntry: join(FIXTURES, 'controller-handler.ts'),
  agentBundlePath: join(FIXTURES, 'agent.mjs'),
  agentUnitPath: join(FIXTURES, 'passenger-fleet-agent.service'),
} as const;

export function testApp(outdir?: string): App {
  return new App({
    context: { 'aws:cdk:bundling-stacks': [] },
    ...(outdir === undefined ? {} : { outdir }),
  });
}

export function testStack(
  app: App,
  props: Partial<PassengerFleetStackProps> = {},
  id = 'Fleet',
): PassengerFleetStack {
  return new PassengerFleetStack(app, id, {
    fleetName: 'prod',
    ...FIXTURE_PATHS,
    ...props,
  });
}

export function testTemplate(
  props: Partial<PassengerFleetStackProps> = {},
): Template {
  return Template.fromStack(testStack(testApp(), props));
}
