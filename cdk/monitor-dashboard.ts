/**
 * One dashboard per fleet: worker memory against the limit per app,
 * graceful and forced actions, agents reporting, and the alarms.
 *
 * Apps are not known at synth time, so the per-app graphs are Metrics
 * Insights queries grouped by `App`. Opening the dashboard runs them,
 * which CloudWatch bills by metrics analysed: a few cents a month for
 * someone looking a few times a day, and nothing while nobody looks.
 */
import { Duration } from 'aws-cdk-lib';
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TextWidget,
  type HorizontalAnnotation,
  type IAlarm,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import {
  DIMENSION_NAMES,
  METRIC_NAMES,
  METRIC_NAMESPACE,
} from '../core/metric-schema.ts';
import { DEFAULT_CADENCE } from '../core/publish-cadence.ts';
import {
  CONTROLLER_METRIC_NAMES,
  type ControllerMetricName,
} from '../lambdas/controller/metric-names.ts';
import { controllerMetric } from './monitor-alarms.ts';

export interface FleetDashboardOptions {
  readonly fleet: string;
  readonly defaultLimitMb: number;
  /** App short name → its limit in MB, where the props set one. */
  readonly appLimitsMb: Readonly<Record<string, number>>;
  readonly alarms: readonly IAlarm[];
}

/** `SELECT MAX(<metric>) FROM SCHEMA("PassengerFleet", App) GROUP BY App` */
export function perAppQuery(metricName: string): string {
  return (
    `SELECT MAX(${metricName}) FROM SCHEMA("${METRIC_NAMESPACE}", ` +
    `${DIMENSION_NAMES.app}) GROUP BY ${DIMENSION_NAMES.app}`
  );
}

export function addFleetDashboard(
  scope: Construct,
  options: FleetDashboardOptions,
): Dashboard {
  const { fleet } = options;
  const minute = Duration.minutes(1);
  const census = Duration.millis(DEFAULT_CADENCE.censusIntervalMs);
  const limits: HorizontalAnnotation[] = [
    { value: options.defaultLimitMb, label: 'default limit' },
    ...Object.entries(options.appLimitsMb).map(([app, limitMb]) => ({
      value: limitMb,
      label: `${app} limit`,
    })),
  ];

  const dashboard = new Dashboard(scope, 'Dashboard', {
    dashboardName: `passenger-fleet-${fleet}`.replace(/[^A-Za-z0-9_-]/g, '-'),
  });
  dashboard.addWidgets(
    new TextWidget({
      markdown:
        `# passenger-fleet: ${fleet}\n` +
        'Largest worker per app against its limit; actions the controller ' +
        'recorded; agents that sent their census.',
      width: 24,
      height: 2,
    }),
  );
  dashboard.addWidgets(
    new GraphWidget({
      title: 'Largest worker per app (MB)',
      left: [
        new MathExpression({
          expression: perAppQuery(METRIC_NAMES.workerMemory),
          label: '',
          period: minute,
        }),
      ],
      leftAnnotations: limits,
      width: 12,
    }),
    new GraphWidget({
      title: 'Workers over their limit per app',
      left: [
        new MathExpression({
          expression: perAppQuery(METRIC_NAMES.workersOverLimit),
          label: '',
          period: minute,
        }),
      ],
      width: 12,
    }),
  );
  const perMinute = (name: ControllerMetricName) =>
    controllerMetric(fleet, name, 'Sum', minute);
  dashboard.addWidgets(
    new GraphWidget({
      title: 'Graceful actions and forced kills',
      left: [
        perMinute(CONTROLLER_METRIC_NAMES.gracefulActions),
        perMinute(CONTROLLER_METRIC_NAMES.forcedKills),
        perMinute(CONTROLLER_METRIC_NAMES.budgetDeferrals),
      ],
      width: 12,
    }),
    new GraphWidget({
      title: 'Agents reporting (census count)',
      left: [
        // Every agent sends one census per interval (core/metric-schema.ts).
        new Metric({
          namespace: METRIC_NAMESPACE,
          metricName: METRIC_NAMES.heartbeat,
          statistic: 'SampleCount',
          period: census,
          label: 'agents',
        }),
      ],
      right: [
        controllerMetric(
          fleet,
          CONTROLLER_METRIC_NAMES.silentAgents,
          'Maximum',
          census,
        ),
      ],
      width: 12,
    }),
  );
  dashboard.addWidgets(
    new AlarmStatusWidget({
      title: 'Alarms',
      alarms: [...options.alarms],
      width: 24,
    }),
  );
  return dashboard;
}
