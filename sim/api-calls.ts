/**
 * AWS calls of one controller tick: how many it made, and the fewest that
 * the APIs' batching limits allow for the same work.
 */
import type { ConfigInput } from '../core/config.ts';
import {
  MAX_QUERIES_PER_CALL,
  TROUBLE_QUERIES,
  type CloudWatchUsage,
} from './cloudwatch.ts';
import {
  BATCH_WRITE_ITEMS,
  isBatchMethod,
  isQueryMethod,
  type StoreUsage,
} from './dynamo.ts';
import type { CommandUsage } from './ssm.ts';

export interface Snapshot {
  readonly cloudwatch: CloudWatchUsage;
  readonly commands: CommandUsage;
  readonly store: StoreUsage;
  /** GetParametersByPath returns 10 parameters a page. */
  readonly parameterPages: number;
}

export function totalCalls(s: Snapshot): number {
  return (
    s.cloudwatch.getMetricDataCalls +
    s.cloudwatch.listMetricsCalls +
    s.commands.sendCommandCalls +
    s.commands.getInvocationCalls +
    s.commands.listInvocationCalls +
    s.store.calls +
    s.parameterPages
  );
}

/**
 * The fewest calls that do what the tick did, within the APIs' limits:
 *
 *   Parameter Store   one read of the tree, 10 parameters a page
 *   trouble           3 Insights queries, and Insights takes one a call
 *   census            as many ListMetrics and GetMetricData calls as the
 *                     read made: each was a full page or the last one
 *   heartbeats        500 hosts a call, for the hosts asked about
 *   SendCommand       one per command: each names its own instance in
 *                     its parameters, so none can share a call
 *   results           one GetCommandInvocation per command asked about
 *   lookups           one ListCommandInvocations page per lookup
 *   DynamoDB          each conditional write alone (no batch takes a
 *                     condition), audit entries 25 a batch, and each
 *                     kind of query (marks, orders) once
 */
export function minimumCalls(
  before: Snapshot,
  after: Snapshot,
  pagesPerRead: number,
): number {
  const delta = (pick: (s: Snapshot) => number) => pick(after) - pick(before);
  const calls = (name: string) => delta((s) => s.store.byMethod[name] ?? 0);
  const methods = Object.keys(after.store.byMethod);
  const queryKinds = methods.filter(
    (name) => isQueryMethod(name) && calls(name) > 0,
  ).length;
  const conditionalWrites = methods
    .filter((name) => !isQueryMethod(name) && !isBatchMethod(name))
    .reduce((sum, name) => sum + calls(name), 0);
  const cw = (pick: (c: CloudWatchUsage) => number) =>
    delta((s) => pick(s.cloudwatch));
  return (
    (delta((s) => s.parameterPages) > 0 ? pagesPerRead : 0) +
    (cw((c) => c.troubleReads) > 0 ? TROUBLE_QUERIES : 0) +
    cw((c) => c.listMetricsCalls) +
    cw((c) => c.censusCalls) +
    Math.ceil(cw((c) => c.heartbeatQueries) / MAX_QUERIES_PER_CALL) +
    delta((s) => s.commands.sendCommandCalls) +
    delta((s) => s.commands.getInvocationCalls) +
    delta((s) => s.commands.listInvocationCalls) +
    conditionalWrites +
    Math.ceil(delta((s) => s.store.auditEntries) / BATCH_WRITE_ITEMS) +
    queryKinds
  );
}

export function parameterCount(config: ConfigInput): number {
  return Math.max(1, Object.keys(config).length);
}
