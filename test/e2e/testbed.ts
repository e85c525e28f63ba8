/**
 * A real Passenger behind Apache, set up and torn down by the e2e tests
 * and the bench.
 *
 * It deploys up to four apps under a temp dir (Engine Yard layout, owned
 * by an unprivileged user), gives each a virtual host on one port of
 * 127.0.0.1, starts Apache and waits until Passenger lists every worker
 * the apps' minimums ask for. Only one test bed runs at a time on a host:
 * it owns the machine's Apache while it lives.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  hostNameOf,
  installSite,
  siteConfig,
  startApache,
  stopApacheAndSweep,
  systemdRegistryDir,
  uninstallSite,
} from './support/apache.ts';
import {
  deployApp,
  ensureAppUser,
  type AppKind,
  type DeployedApp,
} from './support/deploy.ts';
import { freeLoopbackPort, get, type HttpReply } from './support/http.ts';
import { acquireTestbedLock, releaseTestbedLock } from './support/lock.ts';
import { readPool, serving, type PoolProcess } from './support/pool.ts';
import { warmUp } from './support/warm-up.ts';

export type { HttpReply } from './support/http.ts';
export type { PoolProcess } from './support/pool.ts';

export const APP_KINDS = {
  fleetapp: 'rack',
  otherapp: 'rack',
  nodeapp: 'node',
  pyapp: 'wsgi',
} as const satisfies Record<string, AppKind>;
export type AppName = keyof typeof APP_KINDS;

export type Availability = { ok: true } | { ok: false; reason: string };

export interface TestbedOptions {
  /**
   * Apps to deploy and the workers Passenger keeps for each
   * (PassengerMinInstances). @default fleetapp 3, otherapp 2, nodeapp 1,
   * pyapp 1
   */
  readonly apps?: Partial<Record<AppName, number>>;
  /** @default the sum of the minimums plus 5, for replacements */
  readonly maxPoolSize?: number;
  /** The unprivileged owner of the apps. @default 'pfleet' */
  readonly appUser?: string;
  /** How long to wait for every worker to be listed. @default 60 s */
  readonly readyTimeoutMs?: number;
}

export interface RequestOptions {
  /** @default 'fleetapp' */
  readonly app?: AppName;
  /** @default 15 s */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface Testbed {
  readonly port: number;
  readonly baseDir: string;
  /** passenger.log and Apache's logs for the test bed. */
  readonly logDir: string;
  readonly apps: Readonly<Partial<Record<AppName, DeployedApp>>>;
  /** GET on 127.0.0.1 through the app's virtual host. */
  request(path: string, options?: RequestOptions): Promise<HttpReply>;
  /** Pids Passenger routes the app's requests to (alive and enabled). */
  workers(app: AppName): Promise<number[]>;
  /** Every process Passenger lists for the app, detached ones too. */
  pool(app: AppName): Promise<PoolProcess[]>;
  /** Stops Apache, waits until every Passenger process is gone, cleans up. */
  stop(): Promise<void>;
}

const DEFAULT_MIN_INSTANCES: Record<AppName, number> = {
  fleetapp: 3,
  otherapp: 2,
  nodeapp: 1,
  pyapp: 1,
};
const REQUIRED_PROGRAMS = [
  '/usr/sbin/apache2ctl',
  '/usr/sbin/apache2',
  '/usr/bin/passenger-config',
  '/usr/sbin/passenger-status',
  '/usr/sbin/passenger-memory-stats',
];
const MOD_PASSENGER = '/usr/lib/apache2/modules/mod_passenger.so';
const STOP_TIMEOUT_MS = 30_000;
/** Every test bed's temp dir starts so; only its apps run from there. */
const TESTBED_PREFIX = join(
  systemdRegistryDir() === undefined ? tmpdir() : '/srv',
  'pfleet-testbed-',
);

/** Whether this host can run the test bed, and if not, why not. */
export function passengerAvailable(): Availability {
  if (process.platform !== 'linux') {
    return { ok: false, reason: `needs Linux, this is ${process.platform}` };
  }
  if (process.getuid?.() !== 0) {
    return { ok: false, reason: 'needs root to run Apache and read workers' };
  }
  for (const program of REQUIRED_PROGRAMS) {
    try {
      accessSync(program, constants.X_OK);
    } catch {
      return { ok: false, reason: `${program} is not installed` };
    }
  }
  if (!existsSync(MOD_PASSENGER)) {
    return { ok: false, reason: `${MOD_PASSENGER} is not installed` };
  }
  return { ok: true };
}

export async function startTestbed(
  options: TestbedOptions = {},
): Promise<Testbed> {
  const availability = passengerAvailable();
  if (!availability.ok) {
    throw new Error(`cannot start the test bed: ${availability.reason}`);
  }
  const minInstances = options.apps ?? DEFAULT_MIN_INSTANCES;
  const names = (Object.keys(minInstances) as AppName[]).filter(
    (name) => (minInstances[name] ?? 0) > 0,
  );
  if (names.length === 0) throw new Error('test bed options.apps is empty');
  const total = names.reduce((sum, name) => sum + (minInstances[name] ?? 0), 0);

  await acquireTestbedLock();
  let baseDir: string | undefined;
  try {
    // a crashed run may have left Apache or orphaned workers behind
    await stopApacheAndSweep(TESTBED_PREFIX, STOP_TIMEOUT_MS);
    const user = await ensureAppUser(options.appUser ?? 'pfleet');
    baseDir = await mkdtemp(TESTBED_PREFIX);
    await chmod(baseDir, 0o755);
    const logDir = join(baseDir, 'logs');
    await mkdir(logDir, { mode: 0o755 });
    const apps: Partial<Record<AppName, DeployedApp>> = {};
    for (const name of names) {
      apps[name] = await deployApp(baseDir, name, APP_KINDS[name], user);
    }
    const port = await freeLoopbackPort();
    const registryDir = systemdRegistryDir();
    if (registryDir !== undefined) {
      await mkdir(registryDir, { recursive: true, mode: 0o755 });
      // read by passenger-status and friends, here and in the CLI we run
      process.env.PASSENGER_INSTANCE_REGISTRY_DIR = registryDir;
    }
    await installSite(
      siteConfig({
        port,
        logDir,
        ...(registryDir === undefined ? {} : { registryDir }),
        maxPoolSize: options.maxPoolSize ?? total + 5,
        apps: names.map((name) => ({
          app: apps[name] as DeployedApp,
          minInstances: minInstances[name] ?? 1,
        })),
      }),
    );
    const testbed = makeHandle(port, baseDir, logDir, apps);
    await startApache();
    await warmUp(testbed, minInstances, options.readyTimeoutMs ?? 60_000);
    return testbed;
  } catch (error) {
    const log = baseDir ? await logTail(join(baseDir, 'logs')) : '';
    await tearDown(baseDir).catch(() => undefined);
    throw new Error(
      `test bed did not come up: ${(error as Error).message}\n${log}`,
      { cause: error },
    );
  }
}

/** Everything stop() does; also what a failed start cleans up with. */
async function tearDown(baseDir: string | undefined): Promise<void> {
  try {
    await stopApacheAndSweep(
      baseDir ? `${baseDir}/` : TESTBED_PREFIX,
      STOP_TIMEOUT_MS,
    );
  } finally {
    await uninstallSite();
    if (baseDir) await rm(baseDir, { recursive: true, force: true });
    await releaseTestbedLock();
  }
}

function makeHandle(
  port: number,
  baseDir: string,
  logDir: string,
  apps: Partial<Record<AppName, DeployedApp>>,
): Testbed {
  const rootOf = (name: AppName): string => {
    const app = apps[name];
    if (app === undefined) throw new Error(`app ${name} is not deployed`);
    return app.root;
  };
  const pool = async (name: AppName) => {
    const root = rootOf(name);
    return (await readPool()).filter((p) => p.appRoot === root);
  };
  let stopped = false;
  return {
    port,
    baseDir,
    logDir,
    apps,
    request: (path, requestOptions = {}) =>
      get(path, {
        port,
        hostName: hostNameOf(requestOptions.app ?? 'fleetapp'),
        timeoutMs: requestOptions.timeoutMs ?? 15_000,
        signal: requestOptions.signal,
      }),
    pool,
    workers: async (name) => serving(await pool(name)).map((p) => p.pid),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await tearDown(baseDir);
    },
  };
}

async function logTail(logDir: string): Promise<string> {
  const text = await readFile(join(logDir, 'passenger.log'), 'utf8').catch(
    () => '',
  );
  const lines = text.trim().split('\n').slice(-20);
  return lines.length > 0 && lines[0] !== ''
    ? `last lines of ${logDir}/passenger.log:\n${lines.join('\n')}`
    : '';
}
