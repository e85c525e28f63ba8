/**
 * What a run would cost on AWS per instance-month, from the counts the
 * simulated services kept, at the list prices of sim/prices.ts.
 *
 * A run covers hours, not a month: every count is scaled by the month's
 * length over the run's. Custom metrics are billed per metric-month
 * prorated by the hours with data, so the series-hours counted (a series
 * with data in an hour, per hour) over 730 are metric-months; the tiers
 * apply to the whole fleet's total before it is shared out.
 *
 * Lambda's duration is not measured here (the bench's CPU time of a tick
 * says nothing about a Lambda's wall time): it is modelled as a fixed
 * start plus a round trip per AWS call, made one after another, which
 * overstates a controller that overlaps its calls.
 */
import type { CloudWatchUsage } from './cloudwatch.ts';
import type { StoreUsage } from './dynamo.ts';
import {
  HOURS_PER_MONTH,
  PRICES,
  priced,
  pricedInTiers,
  type Price,
} from './prices.ts';

const HOUR_MS = 3_600_000;

export interface LambdaModel {
  readonly memoryMb: number;
  readonly baseMs: number;
  readonly perCallMs: number;
}

export const DEFAULT_LAMBDA: LambdaModel = {
  memoryMb: 512,
  baseMs: 100,
  perCallMs: 15,
};

export interface CostInputs {
  readonly instances: number;
  readonly simulatedMs: number;
  readonly cloudwatch: CloudWatchUsage;
  readonly store: StoreUsage;
  readonly ticks: number;
  /** Every AWS call the controller made, over all ticks. */
  readonly controllerApiCalls: number;
  readonly lambda?: LambdaModel;
}

export interface CostLine {
  readonly item: string;
  /** Units over a month for the whole fleet. */
  readonly unitsPerMonth: number;
  readonly usdPerMonth: number;
  readonly source: string;
}

export interface CostReport {
  readonly lines: readonly CostLine[];
  readonly usdPerMonth: number;
  readonly usdPerInstanceMonth: number;
}

export function costOf(inputs: CostInputs): CostReport {
  if (!(inputs.simulatedMs >= HOUR_MS)) {
    throw new RangeError(
      'simulatedMs must cover at least one hour for metric-hours to mean ' +
        `anything (got ${inputs.simulatedMs})`,
    );
  }
  if (!(inputs.instances >= 1)) {
    throw new RangeError(
      `instances must be at least 1 (got ${inputs.instances})`,
    );
  }
  const monthly = (HOURS_PER_MONTH * HOUR_MS) / inputs.simulatedMs;
  const lambda = inputs.lambda ?? DEFAULT_LAMBDA;
  const { cloudwatch, store } = inputs;

  const metricMonths = (cloudwatch.seriesHours * monthly) / HOURS_PER_MONTH;
  const puts = cloudwatch.putRequests * monthly;
  const analysed =
    (cloudwatch.metricsAnalysed + cloudwatch.metricsRequested) * monthly;
  const lists = cloudwatch.listMetricsCalls * monthly;
  const writes = store.writeUnits * monthly;
  const reads = store.readUnits * monthly;
  const invocations = inputs.ticks * monthly;
  const seconds =
    (inputs.ticks * lambda.baseMs +
      inputs.controllerApiCalls * lambda.perCallMs) /
    1000;
  const gbSeconds = ((seconds * lambda.memoryMb) / 1024) * monthly;

  const lines: CostLine[] = [
    line(
      'custom metrics (metric-months)',
      metricMonths,
      pricedInTiers(PRICES.customMetric, metricMonths),
      PRICES.customMetric.source,
    ),
    flatLine('PutMetricData requests', puts, PRICES.putMetricData),
    flatLine('ListMetrics requests', lists, PRICES.listMetrics),
    flatLine(
      'GetMetricData metrics read or analysed',
      analysed,
      PRICES.getMetricData,
    ),
    flatLine('DynamoDB write units', writes, PRICES.dynamoWrite),
    flatLine('DynamoDB read units', reads, PRICES.dynamoRead),
    flatLine('Lambda requests', invocations, PRICES.lambdaRequest),
    flatLine('Lambda arm64 GB-seconds', gbSeconds, PRICES.lambdaArmGbSecond),
  ];
  const usdPerMonth = lines.reduce((sum, l) => sum + l.usdPerMonth, 0);
  return {
    lines,
    usdPerMonth,
    usdPerInstanceMonth: usdPerMonth / inputs.instances,
  };
}

/** A line billed at one price per unit, with that price's source. */
function flatLine(item: string, unitsPerMonth: number, price: Price) {
  return line(item, unitsPerMonth, priced(price, unitsPerMonth), price.source);
}

function line(
  item: string,
  unitsPerMonth: number,
  usdPerMonth: number,
  source: string,
): CostLine {
  return { item, unitsPerMonth, usdPerMonth, source };
}
