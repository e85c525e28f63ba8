/**
 * When an agent publishes, and what: pure, handed the time.
 *
 * Every PutMetricData request costs $0.00001, so one per host per minute
 * is $0.44 per instance-month: about the whole budget by itself. While
 * nothing on the host is over its limit, only the census goes out, every
 * few minutes. A worker crossing its limit, or a new orphan suspect, is
 * published at once, because the controller can only act on what it can
 * read, and then every minute while the trouble lasts, and once more when
 * it clears. Nothing goes out twice within `minGapMs`.
 *
 * Publishing more often when a worker comes near its limit (say 80 %)
 * would buy nothing: the agent samples every few seconds and publishes
 * the crossing itself at once.
 *
 *   census   |-------- census interval --------|--------- ...
 *   trouble        x! (at once)  |- 1 min -|- 1 min -|cleared
 *   gap            |min gap| nothing goes out in here
 */
import type { DatumSelection, HostFigures } from './metric-schema.ts';

export interface CadenceOptions {
  /** Every host sends its census this often. */
  readonly censusIntervalMs: number;
  /** While an app is in trouble, its detail goes out this often. */
  readonly troubleIntervalMs: number;
  /** The per-host heartbeat; see core/metric-schema.ts for its cost. */
  readonly heartbeatIntervalMs: number;
  /** Never two publishes closer than this. */
  readonly minGapMs: number;
}

export const DEFAULT_CADENCE: CadenceOptions = {
  censusIntervalMs: 5 * 60_000,
  troubleIntervalMs: 60_000,
  heartbeatIntervalMs: 3 * 3_600_000,
  minGapMs: 10_000,
};

export interface CadenceState {
  /** Epoch ms of the last publish of each kind; null before the first. */
  readonly lastPublishAt: number | null;
  readonly lastCensusAt: number | null;
  readonly lastHeartbeatAt: number | null;
  readonly lastDetailAt: number | null;
  /** App → identity keys in trouble, as the last detail showed them. */
  readonly shown: Readonly<Record<string, readonly string[]>>;
}

export const INITIAL_CADENCE: CadenceState = {
  lastPublishAt: null,
  lastCensusAt: null,
  lastHeartbeatAt: null,
  lastDetailAt: null,
  shown: {},
};

export interface PublishPlan extends DatumSelection {
  readonly publish: boolean;
  /** Something new crossed a line: send without the usual jitter. */
  readonly urgent: boolean;
  /** A few words for the debug log. */
  readonly reason: string;
  /** The state to keep once the plan is handed to the publisher. */
  readonly state: CadenceState;
}

export function planPublish(
  state: CadenceState,
  figures: HostFigures,
  now: number,
  options: CadenceOptions = DEFAULT_CADENCE,
): PublishPlan {
  const trouble = new Map<string, string[]>();
  for (const app of figures.apps) {
    const keys = [...app.overLimit, ...app.orphanSuspects];
    if (keys.length > 0) trouble.set(app.app, keys);
  }
  const cleared = Object.keys(state.shown).filter((a) => !trouble.has(a));
  const fresh = [...trouble].filter(([app, keys]) => {
    const shown = new Set(state.shown[app] ?? []);
    return keys.some((key) => !shown.has(key));
  });

  // A clock set back must not silence the agent until it catches up.
  const since = (at: number | null) =>
    at === null || now < at ? Infinity : now - at;
  const urgent = fresh.length > 0;
  const censusDue = since(state.lastCensusAt) >= options.censusIntervalMs;
  const heartbeatDue =
    since(state.lastHeartbeatAt) >= options.heartbeatIntervalMs;
  const detailDue =
    (trouble.size > 0 || cleared.length > 0) &&
    since(state.lastDetailAt) >= options.troubleIntervalMs;
  const gapKept = since(state.lastPublishAt) >= options.minGapMs;

  const reasons = [
    urgent && `new trouble in ${fresh.map(([app]) => app).join(', ')}`,
    censusDue && 'census due',
    heartbeatDue && 'heartbeat due',
    detailDue && !urgent && 'detail due',
  ].filter((reason): reason is string => typeof reason === 'string');

  if (reasons.length === 0 || !gapKept) {
    return {
      publish: false,
      urgent: false,
      census: false,
      heartbeat: false,
      detailApps: [],
      reason:
        reasons.length === 0
          ? 'nothing due'
          : `held back by the ${options.minGapMs} ms gap: ` +
            reasons.join('; '),
      state,
    };
  }

  const detail = urgent || detailDue;
  const detailApps = detail ? [...trouble.keys(), ...cleared].sort() : [];
  return {
    publish: true,
    urgent,
    census: censusDue,
    heartbeat: heartbeatDue,
    detailApps,
    reason: reasons.join('; '),
    state: {
      lastPublishAt: now,
      lastCensusAt: censusDue ? now : state.lastCensusAt,
      lastHeartbeatAt: heartbeatDue ? now : state.lastHeartbeatAt,
      lastDetailAt: detail ? now : state.lastDetailAt,
      shown: detail ? Object.fromEntries(trouble) : state.shown,
    },
  };
}
