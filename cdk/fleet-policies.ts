/**
 * The permissions of the two sides, each kept to what it uses.
 *
 * Agents (instances): put metrics in our namespace only, read our
 * parameter tree only, and read the two install assets. The instance
 * also needs SSM's own instance permissions to be managed at all
 * (AmazonSSMManagedInstanceCore), which the user's role already carries
 * when Run Command works there.
 *
 * Controller: send our order document only, and only to instances that
 * carry the fleet's tag; read command results and metrics (those APIs
 * take no resource); read our parameter tree; its own table (granted by
 * the table) and its own log group.
 */
import { Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { METRIC_NAMESPACE } from '../core/metric-schema.ts';
import { parameterRoot } from '../core/parameter-tree.ts';

export interface FleetTag {
  readonly key: string;
  readonly value: string;
}

/** ARNs of the tree's root (GetParametersByPath) and of everything under it. */
export function parameterTreeArns(scope: Construct, fleet: string): string[] {
  const stack = Stack.of(scope);
  // parameterRoot starts with `/`; the ARN's resource drops it.
  const path = parameterRoot(fleet).slice(1);
  const arn = (resourceName: string) =>
    stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName });
  return [arn(path), arn(`${path}/*`)];
}

/** Every EC2 instance of the stack's account and region. */
export function instanceArns(scope: Construct): string {
  return Stack.of(scope).formatArn({
    service: 'ec2',
    resource: 'instance',
    resourceName: '*',
  });
}

const READ_TREE = [
  'ssm:GetParametersByPath',
  'ssm:GetParameters',
  'ssm:GetParameter',
];

export function agentStatements(
  scope: Construct,
  fleet: string,
  assetObjectArns: readonly string[],
): PolicyStatement[] {
  return [
    new PolicyStatement({
      sid: 'PublishOurNamespaceOnly',
      actions: ['cloudwatch:PutMetricData'],
      // PutMetricData takes no resource: the namespace condition is the limit.
      resources: ['*'],
      conditions: {
        StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE },
      },
    }),
    new PolicyStatement({
      sid: 'ReadFleetParameters',
      actions: READ_TREE,
      resources: parameterTreeArns(scope, fleet),
    }),
    new PolicyStatement({
      sid: 'DownloadAgentAssets',
      actions: ['s3:GetObject'],
      resources: [...assetObjectArns],
    }),
  ];
}

export interface ControllerStatementsOptions {
  readonly fleet: string;
  readonly tag: FleetTag;
  readonly orderDocumentName: string;
}

export function controllerStatements(
  scope: Construct,
  options: ControllerStatementsOptions,
): PolicyStatement[] {
  const stack = Stack.of(scope);
  const documentArn = stack.formatArn({
    service: 'ssm',
    resource: 'document',
    resourceName: options.orderDocumentName,
  });
  const instances = instanceArns(scope);
  return [
    new PolicyStatement({
      sid: 'SendOrderDocument',
      actions: ['ssm:SendCommand'],
      resources: [documentArn],
    }),
    new PolicyStatement({
      sid: 'SendOnlyToFleetInstances',
      actions: ['ssm:SendCommand'],
      resources: [instances],
      conditions: {
        StringEquals: {
          [`ssm:resourceTag/${options.tag.key}`]: options.tag.value,
        },
      },
    }),
    new PolicyStatement({
      sid: 'ReadCommandResults',
      // Neither action takes a resource ARN.
      actions: ['ssm:GetCommandInvocation', 'ssm:ListCommandInvocations'],
      resources: ['*'],
    }),
    new PolicyStatement({
      sid: 'ReadFleetMetrics',
      // CloudWatch metric reads take no resource ARN.
      actions: ['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics'],
      resources: ['*'],
    }),
    new PolicyStatement({
      sid: 'ReadFleetParameters',
      actions: READ_TREE,
      resources: parameterTreeArns(scope, options.fleet),
    }),
  ];
}
