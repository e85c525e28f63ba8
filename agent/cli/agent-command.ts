/**
 * `passenger-fleet agent --fleet <name>`: the daemon each instance runs
 * (deploy/passenger-fleet-agent.service). This module only checks flags
 * and wires the real ports; agent-loop.ts does the work.
 *
 *   IMDSv2 ─> instance id, region
 *   SSM client ─> SsmParameterSource ─> FleetConfigCache
 *   CloudWatch client ─> CloudWatchMetrics ─> PublishBuffer
 *   /proc + Passenger's tools ─> collectSample
 *   deadline spool ─> DeadlineHandover, every interval: keeps the
 *     deadlines of `execute` runs that died (deadline-handover.ts)
 *   runAgentLoop until SIGTERM or SIGINT, then one last flush (bounded)
 */
import { SSMClient } from '@aws-sdk/client-ssm';
import { METRIC_NAMESPACE } from '../../core/metric-schema.ts';
import { parameterRoot } from '../../core/parameter-tree.ts';
import { runAgentLoop } from '../agent-loop.ts';
import { collectSample } from '../collector.ts';
import { hostDeadlineHandover } from '../deadline-handover.ts';
import { MemoryCache } from '../memory-cache.ts';
import { createEventLog, type EventLog } from '../decision-log.ts';
import { FleetConfigCache } from '../fleet-config-cache.ts';
import { ImdsError, readInstanceIdentity } from '../imds.ts';
import {
  CloudWatchMetrics,
  createCloudWatchClient,
} from '../metrics/cloudwatch-metrics.ts';
import { PublishBuffer } from '../metrics/publish-buffer.ts';
import { SsmParameterSource } from '../parameters/ssm-parameter-source.ts';
import { LinuxProc } from '../proc.ts';
import { PassengerCommandTools } from '../tools.ts';
import { CliError, EXIT } from './exit-codes.ts';

export { runAgentLoop } from '../agent-loop.ts';

export interface AgentFlags {
  readonly fleet?: string;
  /** Seconds between samples. @default 5 */
  readonly interval?: string;
  /** @default PassengerFleet */
  readonly namespace?: string;
  readonly imdsEndpoint?: string;
  /** Overrides the region IMDS gives. */
  readonly region?: string;
  readonly dryRun?: boolean;
  readonly syslog?: boolean;
  readonly toolTimeout?: string;
  readonly spoolDir?: string;
}

/** What the agent may take at most to deliver what it holds at stop. */
const FINAL_FLUSH_MS = 5_000;
const REGION = /^[a-z]{2}(-[a-z]+)+-[0-9]$/;
/** CloudWatch: 1 to 255 characters, no leading colon, printable ASCII. */
const NAMESPACE = /^[A-Za-z0-9.\-_/#:]{1,255}$/;

export async function runAgent(flags: AgentFlags): Promise<number> {
  const settings = checkedFlags(flags);
  const log = createEventLog({ syslog: flags.syslog === true });
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    log.info(`${signal} received; stopping`, { event: 'stopping' });
    stop.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const sleep = abortableSleep(stop.signal);
  try {
    const identity = await instanceIdentity(flags.imdsEndpoint);
    const region = flags.region ?? identity.region;
    const host = identity.instanceId;

    // configuration
    const ssm = new SSMClient({ region, maxAttempts: 3 });
    const config = new FleetConfigCache({
      source: new SsmParameterSource({ client: ssm }),
      fleet: settings.fleet,
      clock: Date.now,
      log,
    });

    // metrics: a pending jitter wait ends at stop, so the last flush goes
    const cloudWatch = createCloudWatchClient({ region });
    const buffer = new PublishBuffer({
      port: new CloudWatchMetrics({
        client: cloudWatch,
        namespace: settings.namespace,
        sleep,
      }),
      host,
      clock: Date.now,
      log,
    });

    // the host
    const proc = new LinuxProc();
    const tools = new PassengerCommandTools({ timeoutMs: settings.toolMs });
    const memoryCache = new MemoryCache();
    const sample = (readPool: boolean) =>
      collectSample({
        host,
        proc,
        tools,
        now: Date.now,
        readPool,
        memoryCache,
      });

    // deadlines whose `execute` died
    const handover = hostDeadlineHandover({
      host,
      proc,
      tools,
      log,
      ...(flags.spoolDir !== undefined && { spoolDir: flags.spoolDir }),
    });
    const adoption = setInterval(() => handover.adopt(), settings.intervalMs);
    adoption.unref();
    handover.adopt();

    log.info('agent started', {
      event: 'agent-started',
      host,
      region,
      fleet: settings.fleet,
      intervalMs: settings.intervalMs,
      dryRun: flags.dryRun === true,
    });
    const summary = await runAgentLoop({
      host,
      sample,
      config,
      buffer,
      clock: Date.now,
      sleep,
      stop: stop.signal,
      intervalMs: settings.intervalMs,
      log,
      dryRun: flags.dryRun === true,
    });
    clearInterval(adoption);
    // Adopted deadlines not yet due stay in the spool for the next agent.
    handover.close();
    await finalFlush(buffer, log);
    log.info('agent stopped', { event: 'agent-stopped', ...summary });
    ssm.destroy();
    cloudWatch.destroy();
    return EXIT.ok;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await log.close();
  }
}

interface AgentSettings {
  readonly fleet: string;
  readonly intervalMs: number;
  readonly namespace: string;
  readonly toolMs: number;
}

function checkedFlags(flags: AgentFlags): AgentSettings {
  const fleet = flags.fleet ?? '';
  try {
    parameterRoot(fleet);
  } catch (error) {
    throw new CliError(`--fleet ${(error as Error).message}`, EXIT.usage);
  }
  const namespace = flags.namespace ?? METRIC_NAMESPACE;
  if (!NAMESPACE.test(namespace) || namespace.startsWith(':')) {
    throw new CliError(
      '--namespace must be 1 to 255 of A-Z a-z 0-9 . - _ / # : and not ' +
        `start with ':', got ${JSON.stringify(namespace)}`,
      EXIT.usage,
    );
  }
  if (flags.region !== undefined && !REGION.test(flags.region)) {
    throw new CliError(
      `--region must be a region name like us-east-1, got ` +
        JSON.stringify(flags.region),
      EXIT.usage,
    );
  }
  return {
    fleet,
    namespace,
    intervalMs: seconds('--interval', flags.interval ?? '5', 1, 300),
    toolMs: seconds('--tool-timeout', flags.toolTimeout ?? '10', 1, 600),
  };
}

function seconds(flag: string, raw: string, min: number, max: number) {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new CliError(
      `${flag} must be a number of seconds from ${min} to ${max}, got ` +
        JSON.stringify(raw),
      EXIT.usage,
    );
  }
  return value * 1000;
}

async function instanceIdentity(endpoint: string | undefined) {
  try {
    return await readInstanceIdentity(
      endpoint === undefined ? {} : { endpoint },
    );
  } catch (error) {
    if (!(error instanceof ImdsError)) throw error;
    throw new CliError(
      `the instance metadata service did not tell this instance's id and ` +
        `region: ${error.message}`,
      EXIT.unavailable,
    );
  }
}

async function finalFlush(
  buffer: PublishBuffer,
  log: Pick<EventLog, 'warn'>,
): Promise<void> {
  const deadline = Date.now() + FINAL_FLUSH_MS;
  let status = 'delivered';
  // 'joined': a put of the loop is still under way; let it end, then go
  while (buffer.stats().held > 0 && Date.now() < deadline) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), deadline - Date.now());
    });
    status = await Promise.race([buffer.flush(), timeout]);
    clearTimeout(timer);
    if (status !== 'joined') break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const held = buffer.stats().held;
  if (held > 0) {
    log.warn(`${held} metric data not delivered at stop`, {
      event: 'metrics-lost-at-stop',
      status,
    });
  }
}

/** A sleep that ends early, at once, when the signal is aborted. */
function abortableSleep(signal: AbortSignal) {
  return (ms: number) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
}
