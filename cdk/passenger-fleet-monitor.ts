/**
 * PassengerFleetMonitor: everything one fleet needs, as one construct to
 * drop into a CDK app. Instances carrying the fleet's tag get the agent
 * from a State Manager association; a controller Lambda runs on a
 * schedule, reads the agents' metrics, and sends orders through the
 * order document; marks and the audit trail live in one table; alarms go
 * to an SNS topic and a dashboard shows the fleet.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { Alarm, Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import {
  AttributeType,
  BillingMode,
  ProjectionType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import {
  ManagedPolicy,
  Role,
  ServicePrincipal,
  type IRole,
} from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Topic, type ITopic } from 'aws-cdk-lib/aws-sns';
import {
  CfnAssociation,
  CfnDocument,
  StringParameter,
} from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { DEFAULT_GRACE_SECONDS, DEFAULT_LIMIT_MB } from '../core/config.ts';
import { parameterRoot } from '../core/parameter-tree.ts';
import {
  FLEET_NAME_VARIABLE,
  ORDER_DOCUMENT_VARIABLE,
  TABLE_NAME_VARIABLE,
} from '../lambdas/environment.ts';
import {
  CONTROLLER_METRIC_NAMESPACE,
  CONTROLLER_SERVICE_NAME,
} from '../lambdas/controller/metric-names.ts';
import { ORDER_DOCUMENT } from '../lambdas/ssm/order-document.ts';
import { TABLE_DESIGN } from '../lambdas/store/table-design.ts';
import { agentInstallDocument } from './agent-install-document.ts';
import { fleetParameters, type AppSettings } from './fleet-parameters.ts';
import {
  agentStatements,
  controllerStatements,
  instanceArns,
  parameterTreeArns,
  type FleetTag,
} from './fleet-policies.ts';
import { acknowledgeWildcard } from './nag-acknowledgements.ts';
import {
  addFleetAlarms,
  checkedThresholds,
  type AlarmThresholds,
} from './monitor-alarms.ts';
import { addFleetDashboard } from './monitor-dashboard.ts';

export const REPOSITORY_ROOT = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
);

export interface PassengerFleetMonitorProps {
  /**
   * Names the fleet: its parameter tree is `/passenger-fleet/<name>`.
   * Letters, digits, `_`, `.` and `-`, up to 64.
   * @default 'default'
   */
  readonly fleetName?: string;
  /**
   * The instance tag that puts an instance in the fleet: it gets the
   * agent, and only it may receive the controller's orders.
   * @default { key: 'passenger-fleet', value: <fleetName> }
   */
  readonly fleetTag?: FleetTag;
  /**
   * How often the controller runs, in whole minutes. The controller's
   * timeout is 10 seconds shorter, so ticks never overlap.
   * @default Duration.minutes(1)
   */
  readonly schedule?: Duration;
  /** @default 250 (MB), core/config.ts DEFAULT_LIMIT_MB */
  readonly defaultLimitMb?: number;
  /** @default 30 (seconds), core/config.ts DEFAULT_GRACE_SECONDS */
  readonly defaultGraceSeconds?: number;
  /**
   * Per-app limits, grace and dry run, keyed by the app's short name.
   * More can be set later in Parameter Store (see docs/deploy.md).
   * @default {} (every app gets the defaults)
   */
  readonly apps?: Readonly<Record<string, AppSettings>>;
  /**
   * Workers of one app in grace at once across the fleet.
   * @default no count limit (see maxInGracePercent)
   */
  readonly maxInGrace?: number;
  /**
   * The same budget as a percentage of the app's workers; with both
   * set, the lower applies.
   * @default 10, core/config.ts DEFAULT_MAX_IN_GRACE_PERCENT (100 lifts it)
   */
  readonly maxInGracePercent?: number;
  /**
   * More than this percentage of an app's hosts over the limit at once:
   * the controller acts on none of them and raises BreakerOpen.
   * @default 50, core/config.ts DEFAULT_BREAKER_PERCENT
   */
  readonly breakerPercent?: number;
  /**
   * Below this many hosts running an app, its breaker never opens.
   * @default 4, core/config.ts DEFAULT_MIN_HOSTS_FOR_BREAKER
   */
  readonly minHostsForBreaker?: number;
  /**
   * Decide and log everything, act on nothing, for the whole fleet.
   * @default false
   */
  readonly dryRun?: boolean;
  /**
   * Where alarms go, on alarm and back to OK.
   * @default a new SNS topic that enforces TLS
   */
  readonly alarmTopic?: ITopic;
  /** @default DEFAULT_ALARM_THRESHOLDS in cdk/monitor-alarms.ts */
  readonly alarmThresholds?: Partial<AlarmThresholds>;
  /**
   * What happens to the marks and audit table when the stack goes.
   * @default RemovalPolicy.RETAIN (the audit trail outlives the stack)
   */
  readonly tableRemovalPolicy?: RemovalPolicy;
  /**
   * Instance roles to attach the agent's managed policy to. Roles made
   * elsewhere can attach `agentPolicy` themselves.
   * @default [] (attach `agentPolicy` yourself)
   */
  readonly instanceRoles?: readonly IRole[];
  /**
   * How often the association re-checks the agent on every instance;
   * it restarts the service only when something changed.
   * @default 'rate(30 minutes)' (State Manager's shortest)
   */
  readonly agentCheckSchedule?: string;
  /** @default `dist-bundle/agent.mjs` in this repository (npm run bundle) */
  readonly agentBundlePath?: string;
  /** @default `deploy/passenger-fleet-agent.service` in this repository */
  readonly agentUnitPath?: string;
  /** @default `lambdas/controller/handler.ts` in this repository */
  readonly controllerEntry?: string;
  /** @default 512 */
  readonly controllerMemoryMb?: number;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

export class PassengerFleetMonitor extends Construct {
  readonly fleetName: string;
  readonly table: Table;
  readonly controller: NodejsFunction;
  readonly orderDocument: CfnDocument;
  readonly installDocument: CfnDocument;
  readonly association: CfnAssociation;
  /** Attach to the instances' role (done for `instanceRoles`). */
  readonly agentPolicy: ManagedPolicy;
  readonly alarmTopic: ITopic;
  readonly alarms: readonly Alarm[];
  readonly dashboard: Dashboard;

  constructor(
    scope: Construct,
    id: string,
    props: PassengerFleetMonitorProps = {},
  ) {
    super(scope, id);
    const fleet = props.fleetName ?? 'default';
    const root = parameterRoot(fleet);
    this.fleetName = fleet;
    const tag = props.fleetTag ?? { key: 'passenger-fleet', value: fleet };
    const schedule = props.schedule ?? Duration.minutes(1);
    const scheduleSeconds = schedule.toSeconds();
    if (scheduleSeconds < 60 || scheduleSeconds % 60 !== 0) {
      throw new Error(
        'PassengerFleetMonitor prop schedule must be a whole number of ' +
          `minutes, at least 1 (got ${scheduleSeconds} s)`,
      );
    }
    const thresholds = checkedThresholds(props.alarmThresholds);
    const defaultLimitMb = props.defaultLimitMb ?? DEFAULT_LIMIT_MB;

    // the configuration tree, checked by the schema the readers use
    const parameters = fleetParameters(fleet, {
      defaultLimitMb,
      defaultGraceSeconds: props.defaultGraceSeconds ?? DEFAULT_GRACE_SECONDS,
      dryRun: props.dryRun ?? false,
      apps: props.apps,
      maxInGrace: props.maxInGrace,
      maxInGracePercent: props.maxInGracePercent,
      breakerPercent: props.breakerPercent,
      minHostsForBreaker: props.minHostsForBreaker,
    });
    for (const parameter of parameters) {
      const path = parameter.name.slice(root.length + 1);
      new StringParameter(this, `Parameter-${path.replaceAll('/', '-')}`, {
        parameterName: parameter.name,
        stringValue: parameter.value,
        description: `passenger-fleet ${fleet}: set by the stack`,
      });
    }

    // marks and audit trail
    this.table = fleetTable(this, props.tableRemovalPolicy);

    // orders: the document the controller sends
    this.orderDocument = new CfnDocument(this, 'OrderDocument', {
      documentType: 'Command',
      documentFormat: 'JSON',
      content: ORDER_DOCUMENT,
    });

    // the controller
    this.controller = this.#controller(props, {
      fleet,
      tag,
      timeout: Duration.seconds(Math.min(scheduleSeconds - 10, 900)),
    });
    new Rule(this, 'Schedule', {
      description: `passenger-fleet ${fleet}: one controller tick`,
      schedule: Schedule.rate(schedule),
      // A late tick is worth nothing: the next one is on its way.
      targets: [new LambdaFunction(this.controller, { retryAttempts: 0 })],
    });

    // the agent on every tagged instance
    const agentBundle = new Asset(this, 'AgentBundle', {
      path: existingFile(
        'agentBundlePath',
        props.agentBundlePath ?? join(REPOSITORY_ROOT, 'dist-bundle/agent.mjs'),
        'run `npm run bundle` first',
      ),
    });
    const agentUnit = new Asset(this, 'AgentUnit', {
      path: existingFile(
        'agentUnitPath',
        props.agentUnitPath ??
          join(REPOSITORY_ROOT, 'deploy/passenger-fleet-agent.service'),
        'it ships with the repository',
      ),
    });
    this.installDocument = new CfnDocument(this, 'InstallDocument', {
      documentType: 'Command',
      documentFormat: 'JSON',
      content: agentInstallDocument({
        agentUrl: agentBundle.httpUrl,
        unitUrl: agentUnit.httpUrl,
      }),
    });
    this.association = new CfnAssociation(this, 'AgentAssociation', {
      name: this.installDocument.ref,
      associationName: `passenger-fleet-${fleet}-agent`,
      targets: [{ key: `tag:${tag.key}`, values: [tag.value] }],
      parameters: { fleet: [fleet] },
      scheduleExpression: props.agentCheckSchedule ?? 'rate(30 minutes)',
      // A bad bundle stops the rollout early instead of reaching every host.
      maxConcurrency: '20%',
      maxErrors: '10%',
      complianceSeverity: 'HIGH',
    });
    this.agentPolicy = new ManagedPolicy(this, 'AgentPolicy', {
      description: `passenger-fleet ${fleet}: what the agent on an instance needs`,
      statements: agentStatements(this, fleet, [
        agentBundle.bucket.arnForObjects(agentBundle.s3ObjectKey),
        agentUnit.bucket.arnForObjects(agentUnit.s3ObjectKey),
      ]),
    });
    acknowledgeWildcard(
      this.agentPolicy,
      '*',
      'PutMetricData takes no resource ARN; the cloudwatch:namespace ' +
        'condition keeps it to the PassengerFleet namespace.',
    );
    acknowledgeWildcard(
      this.agentPolicy,
      parameterTreeArns(this, fleet)[1] ?? '',
      "The agent reads every setting under its own fleet's parameter tree " +
        'and nothing outside it.',
    );
    for (const role of props.instanceRoles ?? []) {
      role.addManagedPolicy(this.agentPolicy);
    }

    // paging and a view of the fleet
    this.alarmTopic =
      props.alarmTopic ??
      new Topic(this, 'AlarmTopic', {
        displayName: `passenger-fleet ${fleet} alarms`,
        enforceSSL: true,
      });
    this.alarms = addFleetAlarms(this, {
      fleet,
      controller: this.controller,
      topic: this.alarmTopic,
      thresholds,
    });
    this.dashboard = addFleetDashboard(this, {
      fleet,
      defaultLimitMb,
      appLimitsMb: Object.fromEntries(
        Object.entries(props.apps ?? {}).flatMap(([app, settings]) =>
          settings.limitMb === undefined ? [] : [[app, settings.limitMb]],
        ),
      ),
      alarms: this.alarms,
    });
  }

  #controller(
    props: PassengerFleetMonitorProps,
    settings: { fleet: string; tag: FleetTag; timeout: Duration },
  ): NodejsFunction {
    const logGroup = new LogGroup(this, 'ControllerLogs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role, not the managed basic-execution policy: logs go to
    // this one log group only.
    const role = new Role(this, 'ControllerRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `passenger-fleet ${settings.fleet}: the controller`,
    });
    logGroup.grantWrite(role);
    for (const statement of controllerStatements(this, {
      fleet: settings.fleet,
      tag: settings.tag,
      orderDocumentName: this.orderDocument.ref,
    })) {
      role.addToPolicy(statement);
    }
    this.table.grantReadWriteData(role);
    acknowledgeWildcard(
      role,
      '*',
      'GetCommandInvocation, ListCommandInvocations, GetMetricData and ' +
        'ListMetrics take no resource ARN, so they can only name "*".',
    );
    acknowledgeWildcard(
      role,
      instanceArns(this),
      'SendCommand reaches an instance only when IAM finds the fleet tag ' +
        'on it (the ssm:resourceTag condition), and only with our document.',
    );
    acknowledgeWildcard(
      role,
      parameterTreeArns(this, settings.fleet)[1] ?? '',
      "The controller reads every setting under its own fleet's parameter " +
        'tree and nothing outside it.',
    );
    acknowledgeWildcard(
      role,
      `${this.table.tableArn}/index/*`,
      "The controller queries this table's open-deadlines index; the grant " +
        "names this table's indexes only.",
    );

    const controller = new NodejsFunction(this, 'Controller', {
      description: `passenger-fleet ${settings.fleet}: one tick of the controller`,
      entry: existingFile(
        'controllerEntry',
        props.controllerEntry ??
          join(REPOSITORY_ROOT, 'lambdas/controller/handler.ts'),
        'it ships with the repository',
      ),
      handler: 'handler',
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.controllerMemoryMb ?? 512,
      timeout: settings.timeout,
      // One tick at a time: overlapping ticks are safe, but only wasteful.
      reservedConcurrentExecutions: 1,
      // A tick queued behind a running one is stale within the minute.
      retryAttempts: 0,
      maxEventAge: Duration.seconds(60),
      role,
      logGroup,
      projectRoot: REPOSITORY_ROOT,
      depsLockFilePath: join(REPOSITORY_ROOT, 'package-lock.json'),
      environment: {
        [TABLE_NAME_VARIABLE]: this.table.tableName,
        [FLEET_NAME_VARIABLE]: settings.fleet,
        [ORDER_DOCUMENT_VARIABLE]: this.orderDocument.ref,
        POWERTOOLS_SERVICE_NAME: CONTROLLER_SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: CONTROLLER_METRIC_NAMESPACE,
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // The SDK goes into the bundle: the version we tested, not the
        // runtime's.
        externalModules: [],
        // Bundled CommonJS code still calls require for Node built-ins.
        banner:
          "import { createRequire } from 'node:module';" +
          'const require = createRequire(import.meta.url);',
      },
    });
    return controller;
  }
}

function fleetTable(
  scope: Construct,
  removalPolicy: RemovalPolicy = RemovalPolicy.RETAIN,
): Table {
  const attribute = (key: { name: string; type: 'S' | 'N' }) => ({
    name: key.name,
    type: key.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER,
  });
  const table = new Table(scope, 'Table', {
    partitionKey: attribute(TABLE_DESIGN.partitionKey),
    sortKey: attribute(TABLE_DESIGN.sortKey),
    billingMode: BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    encryption: TableEncryption.AWS_MANAGED,
    timeToLiveAttribute: TABLE_DESIGN.timeToLiveAttribute,
    deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
    removalPolicy,
  });
  for (const index of TABLE_DESIGN.globalSecondaryIndexes) {
    table.addGlobalSecondaryIndex({
      indexName: index.indexName,
      partitionKey: attribute(index.partitionKey),
      sortKey: attribute(index.sortKey),
      projectionType: ProjectionType.ALL,
    });
  }
  return table;
}

/** The path, or an error naming the prop, when nothing is there. */
function existingFile(prop: string, path: string, hint: string): string {
  if (!existsSync(path)) {
    throw new Error(
      `PassengerFleetMonitor prop ${prop}: ${path} does not exist (${hint})`,
    );
  }
  return path;
}
