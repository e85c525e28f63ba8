import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Topic } from 'aws-cdk-lib/aws-sns';
import {
  FLEET_NAME_PATTERN,
  INSTALL_SCRIPT_LINES,
} from '../../cdk/agent-install-document.ts';
import { PassengerFleetMonitor } from '../../cdk/passenger-fleet-monitor.ts';
import { METRIC_NAMESPACE } from '../../core/metric-schema.ts';
import {
  CONTROLLER_METRIC_NAMES,
  CONTROLLER_METRIC_NAMESPACE,
} from '../../lambdas/controller/metric-names.ts';
import {
  FLEET_NAME_VARIABLE,
  ORDER_DOCUMENT_VARIABLE,
  TABLE_NAME_VARIABLE,
} from '../../lambdas/environment.ts';
import { ORDER_DOCUMENT } from '../../lambdas/ssm/order-document.ts';
import {
  FIXTURE_PATHS,
  testApp,
  testStack,
  testTemplate,
} from './cdk-support.ts';

type Resource = { Properties: Record<string, unknown> } & Record<
  string,
  unknown
>;

function only(template: Template, type: string): Resource {
  const found = Object.values(template.findResources(type));
  assert.equal(found.length, 1, `expected one ${type}`);
  return found[0] as Resource;
}

function statements(resource: Resource): Record<string, unknown>[] {
  const document = resource.Properties.PolicyDocument as {
    Statement: Record<string, unknown>[];
  };
  return document.Statement;
}

function bySid(resource: Resource, sid: string): Record<string, unknown> {
  const statement = statements(resource).find((s) => s.Sid === sid);
  assert.ok(statement, `statement ${sid}`);
  return statement;
}

describe('PassengerFleetStack', () => {
  let template: Template;

  before(() => {
    template = testTemplate({
      fleetTag: { key: 'team', value: 'web' },
      defaultLimitMb: 300,
      apps: { shop: { limitMb: 400, dryRun: true } },
      maxInGrace: 6,
      breakerPercent: 40,
      // Distinct values, so that each assertion can only match one alarm.
      alarmThresholds: {
        forcedKillsPer15Minutes: 3,
        breakerOpenPer5Minutes: 4,
        silentAgents: 5,
        controllerErrorsPer5Minutes: 6,
        controllerThrottlesPer5Minutes: 7,
        rejectedConfigPer5Minutes: 8,
      },
    });
  });

  describe('table', () => {
    it('is on demand, with point-in-time recovery, KMS and the TTL attribute', () => {
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        Properties: Match.objectLike({
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: {
            PointInTimeRecoveryEnabled: true,
          },
          SSESpecification: { SSEEnabled: true },
          TimeToLiveSpecification: {
            AttributeName: 'expiresAt',
            Enabled: true,
          },
          GlobalSecondaryIndexes: [
            Match.objectLike({ IndexName: 'open-deadlines' }),
          ],
        }),
      });
    });
  });

  describe('controller', () => {
    it('runs one tick at a time on arm64, within the schedule', () => {
      const fn = only(template, 'AWS::Lambda::Function').Properties;

      assert.equal(fn.ReservedConcurrentExecutions, 1);
      assert.deepEqual(fn.Architectures, ['arm64']);
      assert.match(String(fn.Runtime), /^nodejs(2[2-9]|[3-9]\d)\.x$/);
      assert.equal(fn.Timeout, 50);
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
      });
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        MaximumRetryAttempts: 0,
      });
    });

    it('gets the environment the handler reads', () => {
      const fn = only(template, 'AWS::Lambda::Function').Properties;
      const variables = (fn.Environment as { Variables: object }).Variables;

      assert.deepEqual(
        Object.keys(variables).sort(),
        [
          'NODE_OPTIONS',
          ORDER_DOCUMENT_VARIABLE,
          FLEET_NAME_VARIABLE,
          TABLE_NAME_VARIABLE,
          'POWERTOOLS_METRICS_NAMESPACE',
          'POWERTOOLS_SERVICE_NAME',
        ].sort(),
      );
      assert.equal(
        (variables as Record<string, unknown>)[FLEET_NAME_VARIABLE],
        'prod',
      );
    });

    it('sends only our document, and only to instances with the fleet tag', () => {
      const policy = only(template, 'AWS::IAM::Policy');
      const toDocument = bySid(policy, 'SendOrderDocument');
      const toInstances = bySid(policy, 'SendOnlyToFleetInstances');

      assert.equal(toDocument.Action, 'ssm:SendCommand');
      assert.match(JSON.stringify(toDocument.Resource), /:document\//);
      assert.match(JSON.stringify(toDocument.Resource), /OrderDocument/);
      assert.equal(toInstances.Action, 'ssm:SendCommand');
      assert.deepEqual(toInstances.Condition, {
        StringEquals: { 'ssm:resourceTag/team': 'web' },
      });
      assert.match(JSON.stringify(toInstances.Resource), /:instance\/\*/);
    });

    it('holds no action wildcard and no write outside its table', () => {
      const policy = only(template, 'AWS::IAM::Policy');
      for (const statement of statements(policy)) {
        const actions = [statement.Action].flat() as string[];
        assert.ok(actions.every((action) => !action.includes('*')));
        const writes = actions.filter((a) => a.startsWith('dynamodb:'));
        if (writes.length > 0) {
          assert.match(JSON.stringify(statement.Resource), /Table/);
        }
      }
      assert.equal(
        Object.keys(template.findResources('AWS::IAM::ManagedPolicy')).length,
        1,
        'only the agent policy is managed; the role uses no AWS policy',
      );
    });
  });

  describe('agent policy', () => {
    it('puts metrics only in our namespace and reads only our tree', () => {
      const policy = only(template, 'AWS::IAM::ManagedPolicy');
      const publish = bySid(policy, 'PublishOurNamespaceOnly');
      const read = bySid(policy, 'ReadFleetParameters');

      assert.equal(publish.Action, 'cloudwatch:PutMetricData');
      assert.deepEqual(publish.Condition, {
        StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE },
      });
      const tree = JSON.stringify(read.Resource);
      assert.match(tree, /:parameter\/passenger-fleet\/prod"/);
      assert.match(tree, /:parameter\/passenger-fleet\/prod\/\*"/);
      assert.equal(statements(policy).length, 3);
    });
  });

  describe('documents', () => {
    it('deploys the order document exactly as kept in the repository', () => {
      const documents = template.findResources('AWS::SSM::Document');
      const contents = Object.values(documents).map(
        (d) => (d as Resource).Properties.Content as typeof ORDER_DOCUMENT,
      );
      const order = contents.find((c) => 'orders' in c.parameters);

      assert.deepEqual(order, JSON.parse(JSON.stringify(ORDER_DOCUMENT)));
      for (const parameter of Object.values(order?.parameters ?? {})) {
        assert.equal(parameter.interpolationType, 'ENV_VAR');
        assert.ok(parameter.allowedPattern ?? parameter.allowedValues);
      }
    });

    it('installs the agent through an ENV_VAR fleet parameter', () => {
      template.hasResourceProperties('AWS::SSM::Document', {
        Content: Match.objectLike({
          parameters: {
            fleet: Match.objectLike({
              allowedPattern: FLEET_NAME_PATTERN,
              interpolationType: 'ENV_VAR',
            }),
          },
          mainSteps: [
            Match.objectLike({ name: 'clearStaging' }),
            Match.objectLike({ action: 'aws:downloadContent' }),
            Match.objectLike({ action: 'aws:downloadContent' }),
            Match.objectLike({
              name: 'install',
              inputs: Match.objectLike({ runCommand: INSTALL_SCRIPT_LINES }),
            }),
          ],
        }),
      });
      assert.ok(INSTALL_SCRIPT_LINES.every((line) => !line.includes('{{')));
    });

    it('associates the install document with the tagged instances', () => {
      const association = only(template, 'AWS::SSM::Association').Properties;

      assert.deepEqual(association.Targets, [
        { Key: 'tag:team', Values: ['web'] },
      ]);
      assert.deepEqual(association.Parameters, { fleet: ['prod'] });
      assert.match(JSON.stringify(association.Name), /InstallDocument/);
    });
  });

  describe('parameters', () => {
    it('writes the defaults, the app overrides and the brakes', () => {
      const written = Object.fromEntries(
        Object.values(template.findResources('AWS::SSM::Parameter')).map(
          (p) => {
            const props = (p as Resource).Properties;
            return [props.Name, props.Value];
          },
        ),
      );

      assert.deepEqual(written, {
        '/passenger-fleet/prod/apps/shop/dryRun': 'true',
        '/passenger-fleet/prod/apps/shop/limitMb': '400',
        '/passenger-fleet/prod/defaults/graceSeconds': '30',
        '/passenger-fleet/prod/defaults/limitMb': '300',
        '/passenger-fleet/prod/dryRun': 'false',
        '/passenger-fleet/prod/fleet/breakerPercent': '40',
        '/passenger-fleet/prod/fleet/maxInGrace': '6',
      });
    });
  });

  describe('alarms', () => {
    const cases = [
      [CONTROLLER_METRIC_NAMES.forcedKills, 3, 900],
      [CONTROLLER_METRIC_NAMES.breakerOpen, 4, 300],
      [CONTROLLER_METRIC_NAMES.silentAgents, 5, 900],
      [CONTROLLER_METRIC_NAMES.rejectedConfig, 8, 300],
    ] as const;
    for (const [metric, threshold, period] of cases) {
      it(`pages on ${metric} at ${threshold} per ${period} s`, () => {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: CONTROLLER_METRIC_NAMESPACE,
          MetricName: metric,
          Threshold: threshold,
          Period: period,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          Dimensions: Match.arrayWith([{ Name: 'Fleet', Value: 'prod' }]),
          AlarmActions: [
            Match.objectLike({ Ref: Match.stringLikeRegexp('AlarmTopic') }),
          ],
        });
      });
    }

    it('pages on controller errors, throttles, and on a stopped controller', () => {
      for (const [metric, threshold] of [
        ['Errors', 6],
        ['Throttles', 7],
      ] as const) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/Lambda',
          MetricName: metric,
          Threshold: threshold,
        });
      }
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'Invocations',
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
      });
      template.resourceCountIs('AWS::CloudWatch::Alarm', 7);
    });

    it('graphs memory per app against the limits on the dashboard', () => {
      const dashboard = only(template, 'AWS::CloudWatch::Dashboard');
      const body = JSON.stringify(dashboard.Properties.DashboardBody);

      assert.match(body, /SELECT MAX\(WorkerMemoryMb\)/);
      assert.match(body, /default limit/);
      assert.match(body, /shop limit/);
      assert.match(body, /AgentHeartbeat/);
    });
  });
});

describe('PassengerFleetMonitor props', () => {
  it('derives the timeout from a longer schedule', () => {
    const template = testTemplate({ schedule: Duration.minutes(5) });

    template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 290 });
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
    });
  });

  it('uses a given topic and attaches the policy to given roles', () => {
    const stack = new Stack(testApp(), 'Host');
    const topic = new Topic(stack, 'Existing');
    const role = new Role(stack, 'InstanceRole', {
      assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
    });
    new PassengerFleetMonitor(stack, 'Monitor', {
      ...FIXTURE_PATHS,
      alarmTopic: topic,
      instanceRoles: [role],
    });
    const template = Template.fromStack(stack);

    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::IAM::Role', {
      ManagedPolicyArns: [
        Match.objectLike({ Ref: Match.stringLikeRegexp('AgentPolicy') }),
      ],
    });
    template.hasResourceProperties('AWS::SSM::Association', {
      Targets: [{ Key: 'tag:passenger-fleet', Values: ['default'] }],
    });
  });

  const refusals: [string, object, RegExp][] = [
    [
      'a fleet name with a slash',
      { fleetName: 'a/b' },
      /fleet must be 1 to 64/,
    ],
    [
      'a schedule under a minute',
      { schedule: Duration.seconds(30) },
      /prop schedule must be a whole number of minutes/,
    ],
    [
      'a limit the schema refuses',
      { apps: { shop: { limitMb: -1 } } },
      /apps\/shop\/limitMb: apps\.shop\.limitMb must be greater than 0/,
    ],
    [
      'an app name unfit for a parameter',
      { apps: { 'a b': {} } },
      /prop apps: the app name "a b"/,
    ],
    [
      'a zero alarm threshold',
      { alarmThresholds: { silentAgents: 0 } },
      /alarmThresholds\.silentAgents must be a whole number/,
    ],
    [
      'a missing agent bundle',
      { agentBundlePath: '/nonexistent/agent.mjs' },
      /prop agentBundlePath: \/nonexistent\/agent\.mjs does not exist/,
    ],
  ];
  for (const [title, props, message] of refusals) {
    it(`refuses ${title}, naming the prop`, () => {
      assert.throws(() => testStack(testApp(), props), message);
    });
  }
});
