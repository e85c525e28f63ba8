/**
 * `passenger-fleet status`: the fleet as the controller's table and the
 * agents' metrics show it. Workers in grace with the time left, the
 * newest actions with their outcomes, and agents fallen silent.
 *
 * Silent agents come from the per-host heartbeat in CloudWatch, checked
 * for the hosts the table knows (open marks and recent actions): the
 * metrics cannot list hosts cheaply, and these are the ones an operator
 * is asking about. When CloudWatch cannot be read, the rest is still
 * shown, and the output says why that part is missing.
 */
import { DEFAULT_SILENT_AFTER_SECONDS } from '../../core/config.ts';
import { kbToMbRounded } from '../../core/worker.ts';
import type { FleetMetricsReader } from '../../lambdas/ports/fleet-metrics.ts';
import { TABLE_NAME_VARIABLE } from '../../lambdas/environment.ts';
import type {
  AuditEntry,
  MarkRecord,
  RecordStore,
} from '../../lambdas/store/record-store.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { renderTable } from './table.ts';

export interface StatusFlags {
  readonly json?: boolean;
  readonly table?: string;
  readonly region?: string;
  readonly limit?: string;
  readonly silentAfter?: string;
}

export interface StatusSources {
  readonly store: Pick<RecordStore, 'openRecords' | 'recentAudit'>;
  /** Absent when no CloudWatch reader can be built. */
  readonly metrics?: Pick<FleetMetricsReader, 'silentHosts'>;
  readonly now: number;
}

export interface GraceRow {
  readonly host: string;
  readonly app: string;
  readonly pid: number;
  readonly startTime: number;
  readonly state: MarkRecord['state'];
  readonly cause: MarkRecord['cause'];
  readonly memoryMb: number | null;
  readonly limitMb: number | null;
  /** Epoch ms. */
  readonly deadline: number;
  /** Negative once the deadline has passed. */
  readonly secondsLeft: number;
}

export type SilentAgents =
  | {
      readonly available: true;
      readonly checkedHosts: number;
      readonly hosts: readonly string[];
    }
  | { readonly available: false; readonly reason: string };

export interface FleetStatus {
  readonly at: number;
  readonly inGrace: readonly GraceRow[];
  readonly recent: readonly AuditEntry[];
  readonly silentAgents: SilentAgents;
}

export interface StatusOptions {
  readonly recentLimit: number;
  readonly silentAfterMs: number;
}

/** Reads everything the status shows; the store failing is fatal. */
export async function fleetStatus(
  sources: StatusSources,
  options: StatusOptions,
): Promise<FleetStatus> {
  const [marks, recent] = await Promise.all([
    sources.store.openRecords(),
    sources.store.recentAudit(options.recentLimit),
  ]);
  const inGrace = marks.map((mark) => graceRow(mark, sources.now));
  const hosts = [
    ...new Set([...marks, ...recent].map((r) => hostOf(r))),
  ].sort();
  return {
    at: sources.now,
    inGrace,
    recent,
    silentAgents: await silentAgents(sources, hosts, options.silentAfterMs),
  };
}

export function renderStatus(status: FleetStatus): string {
  const when = (ms: number) => new Date(ms).toISOString();
  const sections = [`passenger-fleet status at ${when(status.at)}`];

  sections.push(
    status.inGrace.length === 0
      ? 'Workers in grace: none'
      : `Workers in grace: ${status.inGrace.length}\n` +
          renderTable(
            ['HOST', 'APP', 'PID', 'START', 'STATE', 'CAUSE', 'MB', 'LIMIT'],
            status.inGrace.map((row) => [
              row.host,
              row.app,
              row.pid,
              row.startTime,
              row.state,
              row.cause,
              row.memoryMb ?? '?',
              row.limitMb ?? '-',
            ]),
          )
            .split('\n')
            .map((line, i) =>
              i === 0
                ? `${line}  DEADLINE`
                : `${line}  ${timeLeft(status.inGrace[i - 1])}`,
            )
            .join('\n'),
  );

  sections.push(
    status.recent.length === 0
      ? 'Recent actions: none'
      : `Recent actions (newest first):\n` +
          renderTable(
            ['TIME', 'HOST', 'APP', 'PID', 'DECISION', 'ACTION', 'OUTCOME'],
            status.recent.map((entry) => [
              when(entry.at),
              entry.host,
              entry.app,
              entry.pid,
              entry.decision,
              entry.action ?? '-',
              entry.outcome ?? 'pending',
            ]),
          ),
  );

  const silent = status.silentAgents;
  sections.push(
    !silent.available
      ? `Silent agents: not available (${silent.reason})`
      : silent.hosts.length === 0
        ? `Silent agents: none of the ${silent.checkedHosts} hosts checked`
        : `Silent agents (${silent.hosts.length} of ${silent.checkedHosts} ` +
          `hosts checked): ${silent.hosts.join(', ')}`,
  );
  return `${sections.join('\n\n')}\n`;
}

/** The command: flags → sources → one read → table or JSON on stdout. */
export async function runStatus(
  flags: StatusFlags,
  sources?: StatusSources,
): Promise<number> {
  const options = {
    recentLimit: wholeFlag('--limit', flags.limit, 20, 1, 1000),
    silentAfterMs:
      wholeFlag(
        '--silent-after',
        flags.silentAfter,
        DEFAULT_SILENT_AFTER_SECONDS,
        60,
        7 * 24 * 3600,
      ) * 1000,
  };
  const status = await fleetStatus(
    sources ?? (await awsSources(flags)),
    options,
  ).catch((error: unknown) => {
    if (error instanceof CliError) throw error;
    throw new CliError(
      `cannot read the fleet table: ${(error as Error)?.message ?? error}`,
      EXIT.failure,
    );
  });
  process.stdout.write(
    flags.json ? `${JSON.stringify(status)}\n` : renderStatus(status),
  );
  return EXIT.ok;
}

/** The table and CloudWatch of the account the SDK's credentials name. */
async function awsSources(flags: StatusFlags): Promise<StatusSources> {
  const tableName = (
    flags.table ??
    process.env[TABLE_NAME_VARIABLE] ??
    ''
  ).trim();
  if (tableName === '') {
    throw new CliError(
      `--table must name the fleet's DynamoDB table (the stack's ` +
        `TableName output), or set ${TABLE_NAME_VARIABLE}`,
      EXIT.usage,
    );
  }
  // Loaded here, so the other subcommands never load the AWS SDK.
  const [{ DynamoDBClient }, { DynamoDBDocumentClient }, store, metrics] =
    await Promise.all([
      import('@aws-sdk/client-dynamodb'),
      import('@aws-sdk/lib-dynamodb'),
      import('../../lambdas/store/dynamo-record-store.ts'),
      import('../../lambdas/aws/cloudwatch-fleet-metrics.ts'),
    ]);
  const region = flags.region === undefined ? {} : { region: flags.region };
  const client = DynamoDBDocumentClient.from(new DynamoDBClient(region));
  return {
    store: new store.DynamoRecordStore({ tableName, client }),
    metrics: new metrics.CloudWatchFleetMetrics({
      client: metrics.createFleetMetricsClient(region),
    }),
    now: Date.now(),
  };
}

async function silentAgents(
  sources: StatusSources,
  hosts: readonly string[],
  silentAfterMs: number,
): Promise<SilentAgents> {
  if (sources.metrics === undefined) {
    return { available: false, reason: 'no CloudWatch reader configured' };
  }
  if (hosts.length === 0) {
    return { available: true, checkedHosts: 0, hosts: [] };
  }
  try {
    const silent = await sources.metrics.silentHosts(
      hosts,
      sources.now,
      silentAfterMs,
    );
    return { available: true, checkedHosts: hosts.length, hosts: silent };
  } catch (error) {
    const message = (error as Error)?.message ?? String(error);
    return { available: false, reason: `CloudWatch: ${message}` };
  }
}

function graceRow(mark: MarkRecord, now: number): GraceRow {
  return {
    host: mark.identity.host,
    app: mark.app,
    pid: mark.identity.pid,
    startTime: mark.identity.startTime,
    state: mark.state,
    cause: mark.cause,
    memoryMb: mark.memoryKb === null ? null : kbToMbRounded(mark.memoryKb),
    limitMb: mark.limitKb === null ? null : kbToMbRounded(mark.limitKb),
    deadline: mark.deadline,
    secondsLeft: Math.round((mark.deadline - now) / 1000),
  };
}

function hostOf(record: MarkRecord | AuditEntry): string {
  return 'identity' in record ? record.identity.host : record.host;
}

/** `in 25s at 12:00:05Z` or `overdue 3s since 12:00:05Z`. */
function timeLeft(row: GraceRow | undefined): string {
  if (row === undefined) return '';
  const at = new Date(row.deadline).toISOString().slice(11, 19);
  return row.secondsLeft >= 0
    ? `in ${row.secondsLeft}s at ${at}Z`
    : `overdue ${-row.secondsLeft}s since ${at}Z`;
}

function wholeFlag(
  name: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min || value > max) {
    throw new CliError(
      `${name} must be a whole number from ${min} to ${max} (got "${text}")`,
      EXIT.usage,
    );
  }
  return value;
}
