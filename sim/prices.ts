/**
 * The one table of AWS list prices the simulator bills with (us-east-1,
 * as noted in the project's AWS field notes, late 2026). Each price says
 * where it comes from, so that a reader re-checks the page, not the code.
 */

export interface Price {
  /** US dollars per `per` units. */
  readonly usd: number;
  readonly per: number;
  readonly unit: string;
  readonly source: string;
}

/** CloudWatch bills custom metrics in tiers of metric-months. */
export interface TieredPrice {
  readonly tiers: readonly {
    /** Metric-months in this tier; Infinity for the last. */
    readonly upTo: number;
    readonly usdPerUnit: number;
  }[];
  readonly unit: string;
  readonly source: string;
}

const CLOUDWATCH = 'https://aws.amazon.com/cloudwatch/pricing/';
const DYNAMODB = 'https://aws.amazon.com/dynamodb/pricing/on-demand/';
const LAMBDA = 'https://aws.amazon.com/lambda/pricing/';

export const PRICES = {
  customMetric: {
    tiers: [
      { upTo: 10_000, usdPerUnit: 0.3 },
      { upTo: 250_000, usdPerUnit: 0.1 },
      // The next tiers start far beyond any fleet simulated here; the
      // second tier's price is kept so that nothing comes out cheaper.
      { upTo: Infinity, usdPerUnit: 0.1 },
    ],
    unit: 'metric-month, prorated by the hour with data',
    source: CLOUDWATCH,
  },
  putMetricData: {
    usd: 0.01,
    per: 1_000,
    unit: 'PutMetricData requests',
    source: CLOUDWATCH,
  },
  listMetrics: {
    usd: 0.01,
    per: 1_000,
    unit: 'ListMetrics requests',
    source: CLOUDWATCH,
  },
  getMetricData: {
    usd: 0.01,
    per: 1_000,
    unit: 'metrics requested or analysed by GetMetricData and Insights',
    source: CLOUDWATCH,
  },
  dynamoWrite: {
    usd: 0.625,
    per: 1_000_000,
    unit: 'on-demand write request units',
    source: DYNAMODB,
  },
  dynamoRead: {
    usd: 0.125,
    per: 1_000_000,
    unit: 'on-demand read request units',
    source: DYNAMODB,
  },
  lambdaRequest: {
    usd: 0.2,
    per: 1_000_000,
    unit: 'Lambda requests',
    source: LAMBDA,
  },
  lambdaArmGbSecond: {
    usd: 0.0000133334,
    per: 1,
    unit: 'arm64 GB-seconds',
    source: LAMBDA,
  },
} as const satisfies Record<string, Price | TieredPrice>;

/** CloudWatch's month for proration: 365 × 24 / 12 hours. */
export const HOURS_PER_MONTH = 730;

export function priced(price: Price, units: number): number {
  return (units / price.per) * price.usd;
}

export function pricedInTiers(price: TieredPrice, units: number): number {
  let cost = 0;
  let floor = 0;
  for (const tier of price.tiers) {
    const inTier = Math.max(0, Math.min(units, tier.upTo) - floor);
    cost += inTier * tier.usdPerUnit;
    floor = tier.upTo;
    if (units <= floor) break;
  }
  return cost;
}
