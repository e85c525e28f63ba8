/**
 * Apache with mod_passenger for the test bed: the site file, and starting
 * and stopping the server with apache2ctl (these hosts have no systemd).
 *
 * The test bed owns this machine's Apache while it runs. It listens on
 * 127.0.0.1 only: ports.conf loses its `Listen 80` and the stock site is
 * disabled, and our site file carries its own `Listen 127.0.0.1:<port>`.
 */
import { existsSync, realpathSync } from 'node:fs';
import { readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';

import { runChecked, runCommand } from './command.ts';
import type { DeployedApp } from './deploy.ts';
import { findProcesses, readCwd, type ProcessFacts } from './procfs.ts';
import { waitFor } from './wait.ts';

export const APACHE_DIR = '/etc/apache2';
export const SITE_NAME = 'passenger-fleet-testbed';
const SITE_AVAILABLE = `${APACHE_DIR}/sites-available/${SITE_NAME}.conf`;
const SITE_ENABLED = `${APACHE_DIR}/sites-enabled/${SITE_NAME}.conf`;
const STOCK_SITE_ENABLED = `${APACHE_DIR}/sites-enabled/000-default.conf`;
const PORTS_CONF = `${APACHE_DIR}/ports.conf`;
const PORTS_CONF_TEXT =
  '# Emptied by the passenger-fleet test bed: its site file holds its own\n' +
  '# Listen 127.0.0.1:<port>, so nothing listens on another address.\n';

const APACHECTL_TIMEOUT_MS = 30_000;
const SWEEP_TIMEOUT_MS = 10_000;

export interface SiteApp {
  readonly app: DeployedApp;
  readonly minInstances: number;
}

export interface SiteOptions {
  readonly port: number;
  readonly apps: readonly SiteApp[];
  readonly maxPoolSize: number;
  /** Where Passenger's and Apache's logs for the test bed go. */
  readonly logDir: string;
  /** Set on systemd hosts; see systemdRegistryDir(). */
  readonly registryDir?: string;
}

/**
 * On a systemd host apache2ctl starts Apache through its unit, whose
 * PrivateTmp hides Apache's /tmp from us: Passenger's instance registry
 * must then live elsewhere (and the tools be told where), and so must the
 * apps. Undefined where init is not systemd, as on these test machines.
 */
export function systemdRegistryDir(): string | undefined {
  const init = (() => {
    try {
      return realpathSync('/proc/1/exe');
    } catch {
      return '';
    }
  })();
  return init.includes('systemd') ? '/run/pfleet-testbed-registry' : undefined;
}

/** The host name a request uses to reach an app's virtual host. */
export function hostNameOf(appName: string): string {
  return `${appName}.testbed.invalid`;
}

/** The site file's text: server-wide Passenger settings, a vhost per app. */
export function siteConfig(options: SiteOptions): string {
  const address = `127.0.0.1:${options.port}`;
  const lines = [
    `# passenger-fleet e2e test bed; written by test/e2e/testbed.ts.`,
    `Listen ${address}`,
    'PassengerDisableSecurityUpdateCheck on',
    'PassengerDisableAnonymousTelemetry on',
    `PassengerMaxPoolSize ${options.maxPoolSize}`,
    // The Ruby preloader would otherwise exit after 5 idle minutes, and
    // the tests check that it was never touched.
    'PassengerMaxPreloaderIdleTime 0',
    'PassengerPython /usr/bin/python3',
    'PassengerNodejs /usr/bin/node',
    `PassengerLogFile ${options.logDir}/passenger.log`,
    ...(options.registryDir
      ? [`PassengerInstanceRegistryDir ${options.registryDir}`]
      : []),
    // Apache's children are bystanders the tests check by pid: keep every
    // one alive, neither reaped when idle nor recycled after N requests.
    '<IfModule mpm_event_module>',
    '  MaxSpareThreads 150',
    '  MaxConnectionsPerChild 0',
    '</IfModule>',
    '',
  ];
  for (const { app, minInstances } of options.apps) {
    const documentRoot = `${app.root}/public`;
    lines.push(
      `<VirtualHost ${address}>`,
      `  ServerName ${hostNameOf(app.name)}`,
      `  DocumentRoot ${documentRoot}`,
      `  ErrorLog ${options.logDir}/apache-error.log`,
      `  CustomLog ${options.logDir}/apache-access.log combined`,
      `  PassengerMinInstances ${minInstances}`,
      `  <Directory ${documentRoot}>`,
      '    Require all granted',
      '    Options -MultiViews',
      '  </Directory>',
      '</VirtualHost>',
      '',
    );
  }
  return lines.join('\n');
}

/** Writes and enables our site; empties ports.conf; disables the stock one. */
export async function installSite(text: string): Promise<void> {
  const ports = await readFile(PORTS_CONF, 'utf8').catch(() => '');
  if (ports !== PORTS_CONF_TEXT) await writeFile(PORTS_CONF, PORTS_CONF_TEXT);
  await rm(STOCK_SITE_ENABLED, { force: true });
  await writeFile(SITE_AVAILABLE, text);
  if (!existsSync(SITE_ENABLED)) await symlink(SITE_AVAILABLE, SITE_ENABLED);
}

/** Disables our site; its apps live in a temp dir that is about to go. */
export async function uninstallSite(): Promise<void> {
  await unlink(SITE_ENABLED).catch(() => undefined);
}

export async function startApache(): Promise<void> {
  await runChecked('apache2ctl', ['configtest'], {
    timeoutMs: APACHECTL_TIMEOUT_MS,
  });
  await runChecked('apache2ctl', ['start'], {
    timeoutMs: APACHECTL_TIMEOUT_MS,
  });
}

/** Apache's own processes (master and children). */
export function apacheProcesses(): ProcessFacts[] {
  return findProcesses((title) => /^\/usr\/sbin\/apache2\b/.test(title));
}

/** Passenger's processes: watchdog, core, preloaders and app workers. */
export function passengerProcesses(): ProcessFacts[] {
  return findProcesses(
    (title) =>
      /^Passenger /.test(title) ||
      /helper-scripts\/wsgi-loader\.py/.test(title),
  );
}

/**
 * Stops Apache and waits, bounded, until neither Apache nor Passenger has
 * a process left. Passenger's watchdog takes its core and workers down
 * when Apache goes, but a worker busy in a long request can take a while.
 */
export async function stopApache(timeoutMs: number): Promise<void> {
  if (apacheProcesses().length > 0) {
    const result = await runCommand('apache2ctl', ['stop'], {
      timeoutMs: APACHECTL_TIMEOUT_MS,
    });
    if (result.missing || result.timedOut) {
      throw new Error('apache2ctl stop could not be run or did not finish');
    }
  }
  await waitFor(
    'Apache and Passenger processes to exit',
    () =>
      apacheProcesses().length + passengerProcesses().length === 0
        ? true
        : undefined,
    { timeoutMs, intervalMs: 100 },
    () =>
      [...apacheProcesses(), ...passengerProcesses()]
        .map((p) => p.pid)
        .join(', '),
  );
}

/**
 * Stops Apache; if something is still up after `timeoutMs`, kills the
 * processes whose cwd lies under `appsPrefix` (test bed apps orphaned by a
 * dead core: nothing else runs from there) and waits again.
 */
export async function stopApacheAndSweep(
  appsPrefix: string,
  timeoutMs: number,
): Promise<void> {
  try {
    await stopApache(timeoutMs);
    return;
  } catch (error) {
    const leftovers = findProcesses(
      (_title, pid) => readCwd(pid)?.startsWith(appsPrefix) === true,
    );
    if (leftovers.length === 0) throw error;
    for (const { pid } of leftovers) process.kill(pid, 'SIGKILL');
  }
  await stopApache(SWEEP_TIMEOUT_MS);
}
