/**
 * How an app is named and matched.
 *
 * Users name an app the way they think of it: `fleetapp`, as
 * passenger_monitor4 took it from `/data/fleetapp/current`, or the full
 * root, or Passenger's group name. Workers show the group name in their
 * title and the resolved release directory as their cwd. All of these
 * must lead to one app, and nothing else may match.
 */
import type { AppRef } from './worker.ts';

/** `/srv/x/current (production)` names the group; the root is the path. */
const ENV_SUFFIX = /^(\/.*?) \([A-Za-z0-9_.-]+\)$/;
/** Capistrano and Engine Yard: `<deploy>/current`, `<deploy>/releases/<ts>`. */
const DEPLOY_LEAF = /\/(?:current|releases\/[^/]+)(?:\/public)?\/?$/;
/** Passenger 5.0 group names often end in `/public`. */
const PUBLIC_LEAF = /\/public\/?$/;

/** The app root a group name stands for, when the group is a path. */
export function rootOfGroup(group: string): string | undefined {
  const withoutEnv = ENV_SUFFIX.exec(group)?.[1] ?? group;
  return withoutEnv.startsWith('/') ? withoutEnv : undefined;
}

/**
 * The directory an app is deployed under: `/data/fleetapp` for
 * `/data/fleetapp/current` and `/data/fleetapp/releases/2026...`.
 */
export function deployDirOf(path: string): string {
  const trimmed = path.replace(DEPLOY_LEAF, '').replace(PUBLIC_LEAF, '');
  return trimmed.length > 1 ? trimmed.replace(/\/+$/, '') : path;
}

/** The short name a person uses: the last part of the deploy dir. */
export function shortNameOf(app: AppRef): string {
  const root = app.root ?? rootOfGroup(app.group);
  if (root === undefined) return app.group;
  const parts = deployDirOf(root).split('/').filter(Boolean);
  return parts.at(-1) ?? app.group;
}

/**
 * Whether a selector a user wrote names this app: the group name, the
 * root, the deploy dir or the short name, compared exactly.
 */
export function appMatches(selector: string, app: AppRef): boolean {
  if (selector === app.group) return true;
  const root = app.root ?? rootOfGroup(app.group);
  if (root === undefined) return false;
  if (selector === root) return true;
  if (selector === deployDirOf(root)) return true;
  return selector === shortNameOf(app);
}

/** Two app references name the same deployed app. */
export function sameApp(a: AppRef, b: AppRef): boolean {
  if (a.group === b.group) return true;
  const rootA = a.root ?? rootOfGroup(a.group);
  const rootB = b.root ?? rootOfGroup(b.group);
  if (rootA === undefined || rootB === undefined) return false;
  return deployDirOf(rootA) === deployDirOf(rootB);
}
