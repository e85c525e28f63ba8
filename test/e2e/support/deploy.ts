/**
 * Lays the test bed's apps out the Engine Yard way,
 * `<base>/<app>/releases/<timestamp>` with a `current` symlink, and hands
 * them to an unprivileged user. Passenger runs each app as the owner of
 * its startup file, so the workers never run as root.
 */
import {
  chmod,
  chown,
  lchown,
  mkdir,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';

import { runChecked, runCommand } from './command.ts';
import { nodeApp, rackApp, wsgiApp } from './app-sources.ts';

export type AppKind = 'rack' | 'node' | 'wsgi';

export interface DeployedApp {
  readonly name: string;
  readonly kind: AppKind;
  /** `<base>/<name>`, what Engine Yard calls the deploy dir. */
  readonly deployDir: string;
  /** `<base>/<name>/current`: the app root Passenger is given. */
  readonly root: string;
  /** The release directory `current` points at (workers' cwd). */
  readonly release: string;
}

export interface AppUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

const STARTUP_FILES: Record<AppKind, string> = {
  rack: 'config.ru',
  node: 'app.js',
  wsgi: 'passenger_wsgi.py',
};

const USER_NAME_RULE = /^[a-z_][a-z0-9_-]{0,30}$/;
const COMMAND_TIMEOUT_MS = 10_000;

/** Looks the user up and creates it (no home, no shell) when missing. */
export async function ensureAppUser(name: string): Promise<AppUser> {
  if (!USER_NAME_RULE.test(name)) {
    throw new Error(
      `app user must be a plain lowercase user name, got '${name}'`,
    );
  }
  const existing = await lookUpUser(name);
  if (existing !== undefined) return existing;
  await runChecked(
    'useradd',
    ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name],
    { timeoutMs: COMMAND_TIMEOUT_MS },
  );
  const created = await lookUpUser(name);
  if (created === undefined) {
    throw new Error(`useradd ${name} succeeded but getent cannot find it`);
  }
  return created;
}

async function lookUpUser(name: string): Promise<AppUser | undefined> {
  const result = await runCommand('getent', ['passwd', name], {
    timeoutMs: COMMAND_TIMEOUT_MS,
  });
  if (result.exitCode !== 0) return undefined;
  const [, , uid, gid] = result.stdout.trim().split(':');
  return { name, uid: Number(uid), gid: Number(gid) };
}

/** Writes one app and returns where it lives. */
export async function deployApp(
  baseDir: string,
  name: string,
  kind: AppKind,
  owner: AppUser,
): Promise<DeployedApp> {
  const deployDir = join(baseDir, name);
  const release = join(deployDir, 'releases', '20260101000000');
  const root = join(deployDir, 'current');

  // directories: the release, with public/ (Apache's DocumentRoot) and tmp/
  for (const dir of [release, join(release, 'public'), join(release, 'tmp')]) {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  }
  await writeFile(join(release, STARTUP_FILES[kind]), sourceOf(kind, name), {
    mode: 0o644,
  });
  await symlink(release, root);

  // ownership: everything from the deploy dir down belongs to the app user
  for (const dir of [
    deployDir,
    join(deployDir, 'releases'),
    release,
    join(release, 'public'),
    join(release, 'tmp'),
    join(release, STARTUP_FILES[kind]),
  ]) {
    await chown(dir, owner.uid, owner.gid);
  }
  await lchown(root, owner.uid, owner.gid);
  await chmod(deployDir, 0o755);
  return { name, kind, deployDir, root, release };
}

function sourceOf(kind: AppKind, name: string): string {
  if (kind === 'rack') return rackApp(name);
  if (kind === 'node') return nodeApp(name);
  return wsgiApp(name);
}
