/**
 * The alarms that page the on-call person: each one a sign that graceful
 * restarts stopped doing their job, or that the controller stopped
 * watching. All go to one SNS topic, on alarm and back to OK.
 *
 * The controller's own figures come through Embedded Metric Format, which
 * writes a datapoint only when there is something to count: missing data
 * is "nothing happened" for those. The one exception is the controller's
 * invocations, whose absence is exactly the trouble.
 */
import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Metric,
  TreatMissingData,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import {
  CONTROLLER_METRIC_NAMESPACE,
  CONTROLLER_METRIC_NAMES,
  controllerMetricDimensions,
  type ControllerMetricName,
} from '../lambdas/controller/metric-names.ts';

/** Each alarm fires at or above its threshold, over its own window. */
export interface AlarmThresholds {
  /**
   * Workers SIGKILLed in 15 minutes: one means a worker ignored its
   * graceful restart for its whole grace time.
   * @default 1
   */
  readonly forcedKillsPer15Minutes: number;
  /**
   * Ticks in 5 minutes in which the breaker held an app: most likely a
   * limit set far too low.
   * @default 1
   */
  readonly breakerOpenPer5Minutes: number;
  /**
   * Hosts reported silent at once, at the worst of 15 minutes.
   * @default 1
   */
  readonly silentAgents: number;
  /**
   * Controller invocations that failed in 5 minutes; one failed tick can
   * be a passing throttle from an AWS API.
   * @default 2
   */
  readonly controllerErrorsPer5Minutes: number;
  /**
   * Controller invocations throttled in 5 minutes: ticks that overran
   * the schedule, since only one may run at a time.
   * @default 2
   */
  readonly controllerThrottlesPer5Minutes: number;
  /**
   * Parameter Store configurations rejected in 5 minutes.
   * @default 1
   */
  readonly rejectedConfigPer5Minutes: number;
}

export const DEFAULT_ALARM_THRESHOLDS: AlarmThresholds = {
  forcedKillsPer15Minutes: 1,
  breakerOpenPer5Minutes: 1,
  silentAgents: 1,
  controllerErrorsPer5Minutes: 2,
  controllerThrottlesPer5Minutes: 2,
  rejectedConfigPer5Minutes: 1,
};

export interface FleetAlarmsOptions {
  readonly fleet: string;
  readonly controller: IFunction;
  readonly topic: ITopic;
  readonly thresholds: AlarmThresholds;
}

/** A controller metric for the fleet, as the controller writes it. */
export function controllerMetric(
  fleet: string,
  name: ControllerMetricName,
  statistic: 'Sum' | 'Maximum',
  period: Duration,
): Metric {
  return new Metric({
    namespace: CONTROLLER_METRIC_NAMESPACE,
    metricName: name,
    dimensionsMap: controllerMetricDimensions(fleet),
    statistic,
    period,
  });
}

/** Creates every alarm under `scope`; returns them for the dashboard. */
export function addFleetAlarms(
  scope: Construct,
  options: FleetAlarmsOptions,
): Alarm[] {
  const { fleet, controller, thresholds } = options;
  const fiveMinutes = Duration.minutes(5);
  const fifteenMinutes = Duration.minutes(15);
  const names = CONTROLLER_METRIC_NAMES;
  const alarm = (
    id: string,
    description: string,
    metric: IMetric,
    threshold: number,
  ) =>
    new Alarm(scope, id, {
      alarmDescription: `passenger-fleet ${fleet}: ${description}`,
      metric,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

  const alarms = [
    alarm(
      'ForcedKillsAlarm',
      'workers were SIGKILLed after ignoring their graceful restart',
      controllerMetric(fleet, names.forcedKills, 'Sum', fifteenMinutes),
      thresholds.forcedKillsPer15Minutes,
    ),
    alarm(
      'BreakerOpenAlarm',
      'the circuit breaker is holding an app; check its limit',
      controllerMetric(fleet, names.breakerOpen, 'Sum', fiveMinutes),
      thresholds.breakerOpenPer5Minutes,
    ),
    alarm(
      'SilentAgentsAlarm',
      'agents on tagged instances stopped reporting',
      controllerMetric(fleet, names.silentAgents, 'Maximum', fifteenMinutes),
      thresholds.silentAgents,
    ),
    alarm(
      'RejectedConfigAlarm',
      'the Parameter Store configuration was rejected; the last good one ' +
        'is in use',
      controllerMetric(fleet, names.rejectedConfig, 'Sum', fiveMinutes),
      thresholds.rejectedConfigPer5Minutes,
    ),
    alarm(
      'ControllerErrorsAlarm',
      'controller ticks are failing',
      controller.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
      thresholds.controllerErrorsPer5Minutes,
    ),
    alarm(
      'ControllerThrottlesAlarm',
      'controller ticks are throttled (a tick overran the schedule)',
      controller.metricThrottles({ period: fiveMinutes, statistic: 'Sum' }),
      thresholds.controllerThrottlesPer5Minutes,
    ),
    new Alarm(scope, 'ControllerStoppedAlarm', {
      alarmDescription:
        `passenger-fleet ${fleet}: the controller has not run for 10 ` +
        'minutes; nothing acts on the fleet',
      metric: controller.metricInvocations({
        period: Duration.minutes(10),
        statistic: 'Sum',
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.BREACHING,
    }),
  ];

  const action = new SnsAction(options.topic);
  for (const each of alarms) {
    each.addAlarmAction(action);
    each.addOkAction(action);
  }
  return alarms;
}

/** Refuses a threshold no alarm could sensibly use, naming it. */
export function checkedThresholds(
  overrides: Partial<AlarmThresholds> | undefined,
): AlarmThresholds {
  const thresholds = { ...DEFAULT_ALARM_THRESHOLDS, ...overrides };
  for (const [name, value] of Object.entries(thresholds)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(
        `PassengerFleetMonitor prop alarmThresholds.${name} must be a whole ` +
          `number of at least 1 (got ${value})`,
      );
    }
  }
  return thresholds;
}
