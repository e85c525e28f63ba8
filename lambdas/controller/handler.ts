/**
 * The controller Lambda, run every minute by EventBridge: a thin shell
 * that wires the AWS adapters into a Controller once per cold start, runs
 * one tick, logs its report, flushes the metrics (Embedded Metric Format)
 * and rethrows any failure so the invocation shows as failed.
 *
 * The Controller lives in module scope, so a warm invocation keeps its
 * last good configuration.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { SSMClient } from '@aws-sdk/client-ssm';
import { SsmParameterSource } from '../../agent/parameters/ssm-parameter-source.ts';
import { CloudWatchFleetMetrics } from '../aws/cloudwatch-fleet-metrics.ts';
import { clientConfig } from '../aws/client-options.ts';
import { SsmCommandPort } from '../aws/ssm-command-port.ts';
import {
  FLEET_NAME_VARIABLE,
  ORDER_DOCUMENT_VARIABLE,
  requiredVariable,
  TABLE_NAME_VARIABLE,
} from '../environment.ts';
import { DynamoRecordStore } from '../store/dynamo-record-store.ts';
import { Controller } from './controller.ts';
import type {
  ControllerLog,
  MetricsSink,
  TickReport,
} from './controller-ports.ts';
import {
  CONTROLLER_METRIC_NAMESPACE,
  CONTROLLER_SERVICE_NAME,
  FLEET_DIMENSION,
} from './metric-names.ts';

export interface ControllerEnvironment {
  readonly tableName: string;
  readonly fleetName: string;
  readonly orderDocument: string;
}

/** The variables the stack sets, checked once; an error names the missing one. */
export function readEnvironment(
  environment: Readonly<Record<string, string | undefined>>,
): Readonly<ControllerEnvironment> {
  return Object.freeze({
    tableName: requiredVariable(environment, TABLE_NAME_VARIABLE),
    fleetName: requiredVariable(environment, FLEET_NAME_VARIABLE),
    orderDocument: requiredVariable(environment, ORDER_DOCUMENT_VARIABLE),
  });
}

interface ColdStart {
  readonly controller: Controller;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

let coldStart: ColdStart | undefined;

function start(): ColdStart {
  const environment = readEnvironment(process.env);
  const logger = new Logger({ serviceName: CONTROLLER_SERVICE_NAME });
  const metrics = new Metrics({
    namespace: CONTROLLER_METRIC_NAMESPACE,
    serviceName: CONTROLLER_SERVICE_NAME,
    defaultDimensions: { [FLEET_DIMENSION]: environment.fleetName },
  });
  const log: ControllerLog = {
    info: (message, fields) => logger.info(message, { ...fields }),
    warn: (message, fields) => logger.warn(message, { ...fields }),
    error: (message, fields) => logger.error(message, { ...fields }),
  };
  const sink: MetricsSink = {
    count: (name, value) => metrics.addMetric(name, MetricUnit.Count, value),
  };
  const controller = new Controller({
    fleet: environment.fleetName,
    metrics: new CloudWatchFleetMetrics(),
    commands: new SsmCommandPort({ documentName: environment.orderDocument }),
    store: new DynamoRecordStore({ tableName: environment.tableName }),
    parameters: new SsmParameterSource({
      client: new SSMClient(clientConfig({})),
    }),
    log,
    sink,
  });
  return { controller, logger, metrics };
}

export async function handler(): Promise<TickReport> {
  coldStart ??= start();
  const { controller, logger, metrics } = coldStart;
  try {
    return await controller.tick(Date.now());
  } catch (error) {
    logger.error('tick failed; nothing after the failing step was done', {
      error: error instanceof Error ? `${error.name}: ${error.message}` : error,
    });
    throw error;
  } finally {
    metrics.publishStoredMetrics();
  }
}
