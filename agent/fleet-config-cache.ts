/**
 * The fleet configuration as the agent holds it: read from Parameter
 * Store under `/passenger-fleet/<fleet>` (core/parameter-tree.ts), kept
 * for minutes, and kept on when a read fails or a value is refused.
 *
 * Parameter Store serves about 40 reads a second to the whole account.
 * With 10,000 agents reading two pages every 15 minutes that is 22 a
 * second, so the cache time is long, jittered so that a fleet started at
 * once spreads out, and after a failure the agent waits one minute, then
 * two, four... up to the cache time, so that throttling is not made worse
 * by every agent retrying together.
 *
 * A refused value throws out the whole read, not just that setting: half
 * a configuration (an app override gone, say) could put a much lower
 * limit on an app than anyone meant.
 */
import type { FleetConfig } from '../core/config.ts';
import {
  configFromParameters,
  describeParameterProblem,
  parameterRoot,
} from '../core/parameter-tree.ts';
import type { EventLog } from './decision-log.ts';
import type { ParameterSource } from './parameters/parameter-source.ts';

export interface FleetConfigCacheOptions {
  readonly source: ParameterSource;
  /** The `<fleet>` part of the parameter root. */
  readonly fleet: string;
  /** Epoch ms. */
  readonly clock: () => number;
  /** In [0, 1); Math.random by default. */
  readonly random?: () => number;
  /** How long a good read is used. Default 15 minutes. */
  readonly ttlMs?: number;
  /** Each wait is longer or shorter by up to this fraction. Default 0.2. */
  readonly jitter?: number;
  /** First wait after a failed or refused read. Default 1 minute. */
  readonly retryMs?: number;
  readonly log: Pick<EventLog, 'info' | 'warn'>;
}

export interface ConfigCacheStatus {
  readonly root: string;
  /** Epoch ms of the read that gave the config in use; null before one. */
  readonly loadedAt: number | null;
  readonly nextReadAt: number;
  /** Reads in a row that failed or were refused. */
  readonly failuresInARow: number;
  readonly failedReads: number;
  readonly refusedReads: number;
  /** Why the last read was not used; null after a good one. */
  readonly lastProblem: string | null;
}

export class FleetConfigCache {
  readonly #options: FleetConfigCacheOptions;
  readonly #root: string;
  readonly #random: () => number;
  readonly #ttlMs: number;
  readonly #jitter: number;
  readonly #retryMs: number;
  #config: FleetConfig | undefined;
  #loadedAt: number | null = null;
  #nextReadAt = -Infinity;
  #reading: Promise<void> | undefined;
  #failuresInARow = 0;
  #failedReads = 0;
  #refusedReads = 0;
  #lastProblem: string | null = null;

  constructor(options: FleetConfigCacheOptions) {
    this.#options = options;
    this.#root = parameterRoot(options.fleet);
    this.#random = options.random ?? Math.random;
    this.#ttlMs = options.ttlMs ?? 15 * 60_000;
    this.#jitter = options.jitter ?? 0.2;
    this.#retryMs = options.retryMs ?? 60_000;
    if (!(this.#jitter >= 0 && this.#jitter < 1)) {
      throw new RangeError(
        `jitter must be at least 0 and below 1 (got ${this.#jitter})`,
      );
    }
  }

  /**
   * The configuration to use now, read again when due. Undefined until a
   * first good read: without it the agent cannot tell a limit.
   */
  async current(): Promise<FleetConfig | undefined> {
    if (this.#options.clock() >= this.#nextReadAt) {
      this.#reading ??= this.#read().finally(() => {
        this.#reading = undefined;
      });
      await this.#reading;
    }
    return this.#config;
  }

  status(): ConfigCacheStatus {
    return {
      root: this.#root,
      loadedAt: this.#loadedAt,
      nextReadAt: this.#nextReadAt,
      failuresInARow: this.#failuresInARow,
      failedReads: this.#failedReads,
      refusedReads: this.#refusedReads,
      lastProblem: this.#lastProblem,
    };
  }

  async #read(): Promise<void> {
    const startedAt = this.#options.clock();
    let parameters;
    try {
      parameters = await this.#options.source.parametersUnder(this.#root);
    } catch (error) {
      this.#failedReads++;
      const message = error instanceof Error ? error.message : String(error);
      this.#fail(startedAt, `could not read ${this.#root}: ${message}`, {
        event: 'config-read-failed',
        error: message,
      });
      return;
    }

    const parsed = configFromParameters(this.#root, parameters);
    if (!parsed.ok) {
      this.#refusedReads++;
      for (const problem of parsed.problems) {
        this.#options.log.warn(
          `fleet config refused: ${describeParameterProblem(problem)}`,
          {
            event: 'config-rejected',
            parameter: problem.parameters.join(', ') || null,
            field: problem.field,
            rule: problem.rule,
          },
        );
      }
      const first = parsed.problems[0];
      this.#fail(
        startedAt,
        `${parsed.problems.length} problem(s) under ${this.#root}` +
          (first ? `, first: ${describeParameterProblem(first)}` : ''),
        { event: 'config-refused' },
      );
      return;
    }

    const changed =
      JSON.stringify(parsed.config) !== JSON.stringify(this.#config);
    this.#config = parsed.config;
    this.#loadedAt = startedAt;
    this.#failuresInARow = 0;
    this.#lastProblem = null;
    this.#nextReadAt = startedAt + this.#jittered(this.#ttlMs);
    if (changed) {
      this.#options.log.info(`fleet config loaded from ${this.#root}`, {
        event: 'config-loaded',
        parameters: parameters.length,
      });
    }
  }

  #fail(at: number, problem: string, fields: Record<string, unknown>): void {
    this.#failuresInARow++;
    this.#lastProblem = problem;
    const wait = Math.min(
      this.#ttlMs,
      this.#retryMs * 2 ** (this.#failuresInARow - 1),
    );
    this.#nextReadAt = at + this.#jittered(wait);
    const kept =
      this.#loadedAt === null
        ? 'no config yet, so no limits are known'
        : `keeping the config read at ${isoTime(this.#loadedAt)}`;
    this.#options.log.warn(`${problem}; ${kept}`, {
      ...fields,
      retryInMs: this.#nextReadAt - at,
    });
  }

  #jittered(ms: number): number {
    return Math.round(ms * (1 + this.#jitter * (2 * this.#random() - 1)));
  }
}

function isoTime(epochMs: number): string {
  return new Date(epochMs).toISOString();
}
