/**
 * The metrics the controller emits through Embedded Metric Format
 * (Powertools Metrics), named once for the controller and for the CDK
 * stack's alarms and dashboard. The stack sets POWERTOOLS_SERVICE_NAME
 * and POWERTOOLS_METRICS_NAMESPACE from these constants, so a Metrics
 * built without arguments already writes where the alarms look.
 *
 * Powertools adds the dimension `service` (the service name) to every
 * metric; the controller adds `Fleet` (the fleet name) as a default
 * dimension, so that two fleets in one account keep apart. Alarms read
 * each metric with exactly these two dimensions.
 */

/** Kept apart from the agents' `PassengerFleet` namespace. */
export const CONTROLLER_METRIC_NAMESPACE = 'PassengerFleet/Controller';

/** Powertools' `service` dimension value. */
export const CONTROLLER_SERVICE_NAME = 'passenger-fleet-controller';

/** The default dimension naming the fleet. */
export const FLEET_DIMENSION = 'Fleet';

export const CONTROLLER_METRIC_NAMES = {
  /** Graceful actions hosts reported carried out (detach or signal). */
  gracefulActions: 'GracefulActions',
  /** Workers SIGKILLed at their deadline, by a host or by order. */
  forcedKills: 'ForcedKills',
  /** Orders a host refused (stale, not the same process, bad input). */
  refusals: 'Refusals',
  /** Workers left for a later tick by the fleet-wide budget. */
  budgetDeferrals: 'BudgetDeferrals',
  /** Apps the circuit breaker kept from acting this tick. */
  breakerOpen: 'BreakerOpen',
  /** Hosts whose agent has fallen silent. */
  silentAgents: 'SilentAgents',
  /** Parameter Store configurations rejected (the last good one kept). */
  rejectedConfig: 'RejectedConfig',
} as const;

export type ControllerMetricName =
  (typeof CONTROLLER_METRIC_NAMES)[keyof typeof CONTROLLER_METRIC_NAMES];

/** The dimensions every controller metric carries, as alarms read them. */
export function controllerMetricDimensions(
  fleet: string,
): Record<string, string> {
  return { service: CONTROLLER_SERVICE_NAME, [FLEET_DIMENSION]: fleet };
}
