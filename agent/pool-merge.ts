/**
 * What Passenger's pool adds to what /proc shows: whether a worker is
 * listed, whether it is being let go, its sessions, and, for a Python
 * worker that has no title, the app group it serves.
 *
 * A pool we only half understood must never read as a smaller pool, or
 * the workers missing from it would look like orphans. So the pool counts
 * as known only when passenger-status answered and every entry was read.
 */
import { deployDirOf } from '../core/app.ts';
import {
  parsePoolXml,
  poolPids,
  type PoolGroup,
  type PoolProcess,
} from '../core/pool-status.ts';
import type { AppRef } from '../core/worker.ts';
import type { PassengerTools, ToolResult } from './host.ts';

export interface PoolMember {
  readonly group: PoolGroup;
  readonly process: PoolProcess;
}

export interface PoolReading {
  /** Every entry was read: a pid missing from `members` is not listed. */
  readonly complete: boolean;
  readonly members: ReadonlyMap<number, PoolMember>;
  readonly groups: readonly PoolGroup[];
  readonly passengerVersion: string | null;
  /** Sentences saying what was not understood, when anything was not. */
  readonly problems: readonly string[];
}

/** What the pool says about one listed worker. */
export interface PoolFacts {
  readonly inPool?: boolean;
  readonly detached?: boolean;
  readonly sessions?: number;
}

const TOOL = 'passenger-status --show=xml';
/** Passenger's life_status values once a process is on its way out. */
const LEAVING_STATUSES = new Set(['SHUTTING_DOWN', 'SHUT_DOWN']);

/** A pool that was not read: nothing listed, nothing ruled out. */
export const UNREAD_POOL: PoolReading = {
  complete: false,
  members: new Map(),
  groups: [],
  passengerVersion: null,
  problems: [],
};

/** Runs passenger-status and reads its answer; never rejects. */
export async function readPool(tools: PassengerTools): Promise<PoolReading> {
  let result: ToolResult;
  try {
    result = await tools.poolXml();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return unread(`${TOOL} could not be run: ${message}`);
  }
  const failure = toolFailure(result);
  if (failure !== undefined) return unread(failure);

  const parsed = parsePoolXml(result.stdout);
  if (!parsed.ok) {
    return unread(`${TOOL} gave output that is not a pool: ${parsed.reason}`);
  }
  const { snapshot, skipped } = parsed;
  const problems = skipped.map(
    (entry) => `${TOOL}: ${entry}; workers it does not list stay unknown`,
  );
  return {
    complete: skipped.length === 0,
    members: poolPids(snapshot),
    groups: snapshot.groups,
    passengerVersion: snapshot.passengerVersion,
    problems,
  };
}

function unread(problem: string): PoolReading {
  return { ...UNREAD_POOL, problems: [problem] };
}

/** Why a run of passenger-status gave no pool, or undefined if it did. */
function toolFailure(result: ToolResult): string | undefined {
  const said = firstLine(result.stderr) ?? firstLine(result.stdout);
  const saying = said === undefined ? '' : `: ${said}`;
  if (result.missing) return `${TOOL} could not be run${saying}`;
  if (result.timedOut) {
    return `${TOOL} did not answer within its timeout (${result.elapsedMs} ms)`;
  }
  if (result.exitCode === 0) return undefined;
  if (result.exitCode === 2) {
    return (
      `${TOOL} was not authorized (exit 2)${saying}; run the agent as ` +
      "root or as the workers' owner"
    );
  }
  if (result.exitCode === 1) {
    return `${TOOL} found no running Passenger (exit 1)${saying}`;
  }
  const how =
    result.exitCode === null
      ? `was killed by ${result.signal ?? 'a signal'}`
      : `failed with exit ${result.exitCode}`;
  return `${TOOL} ${how}${saying}`;
}

function firstLine(text: string): string | undefined {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .find(Boolean);
  return line === undefined ? undefined : line.slice(0, 200);
}

/**
 * inPool is left out when the pool is not fully known, so that no caller
 * can mistake "not read" for "not listed".
 */
export function poolFactsOf(pid: number, pool: PoolReading): PoolFacts {
  const member = pool.members.get(pid);
  if (member === undefined) return pool.complete ? { inPool: false } : {};
  const { enabled, lifeStatus, sessions } = member.process;
  const detached =
    enabled === 'DETACHED' ||
    (lifeStatus !== null && LEAVING_STATUSES.has(lifeStatus));
  return sessions === null
    ? { inPool: true, detached }
    : { inPool: true, detached, sessions };
}

/**
 * The app of a worker whose title names none (Python's wsgi-loader): the
 * group Passenger lists its pid under; else the one group deployed from
 * the directory it runs in; else that directory itself. Undefined when
 * neither the pool nor its working directory tells.
 */
export function appOfUntitled(
  pid: number,
  cwd: string | undefined,
  pool: PoolReading,
): AppRef | undefined {
  const listed = pool.members.get(pid);
  if (listed !== undefined) {
    const root = cwd ?? listed.group.appRoot ?? undefined;
    return root === undefined
      ? { group: listed.group.name }
      : { group: listed.group.name, root };
  }
  if (cwd === undefined) return undefined;
  const deployDir = deployDirOf(cwd);
  const candidates = pool.groups.filter(
    (group) =>
      group.appRoot !== null && deployDirOf(group.appRoot) === deployDir,
  );
  // Two groups from one directory (two environments, say) are ambiguous.
  const [only] = candidates;
  if (candidates.length === 1 && only !== undefined) {
    return { group: only.name, root: cwd };
  }
  return { group: cwd, root: cwd };
}

/** A titled worker's app, with the root Passenger gives when it lists it. */
export function appOfTitled(
  pid: number,
  group: string,
  pool: PoolReading,
): AppRef {
  const appRoot = pool.members.get(pid)?.group.appRoot;
  return appRoot === undefined || appRoot === null
    ? { group }
    : { group, root: appRoot };
}
