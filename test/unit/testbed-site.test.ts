/**
 * The e2e test bed's Apache site file: it must never make Apache listen
 * anywhere but 127.0.0.1, and it must carry the Passenger settings the
 * test bed relies on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { hostNameOf, siteConfig } from '../e2e/support/apache.ts';
import type { DeployedApp } from '../e2e/support/deploy.ts';

function app(name: string): DeployedApp {
  return {
    name,
    kind: 'rack',
    deployDir: `/tmp/pfleet-testbed-x/${name}`,
    root: `/tmp/pfleet-testbed-x/${name}/current`,
    release: `/tmp/pfleet-testbed-x/${name}/releases/20260101000000`,
  };
}

const text = siteConfig({
  port: 41234,
  logDir: '/tmp/pfleet-testbed-x/logs',
  maxPoolSize: 12,
  apps: [
    { app: app('fleetapp'), minInstances: 3 },
    { app: app('otherapp'), minInstances: 2 },
  ],
});
const lines = text.split('\n').map((line) => line.trim());

describe('siteConfig', () => {
  it('listens on 127.0.0.1 and nowhere else', () => {
    const listens = lines.filter((line) => /^Listen\b/i.test(line));
    assert.deepEqual(listens, ['Listen 127.0.0.1:41234']);
    const hosts = lines.filter((line) => /^<VirtualHost\b/i.test(line));
    assert.deepEqual(hosts, [
      '<VirtualHost 127.0.0.1:41234>',
      '<VirtualHost 127.0.0.1:41234>',
    ]);
  });

  it('turns off the calls home and keeps the preloader', () => {
    for (const setting of [
      'PassengerDisableSecurityUpdateCheck on',
      'PassengerDisableAnonymousTelemetry on',
      'PassengerMaxPoolSize 12',
      'PassengerMaxPreloaderIdleTime 0',
      'PassengerPython /usr/bin/python3',
      'PassengerNodejs /usr/bin/node',
    ]) {
      assert.ok(lines.includes(setting), `missing: ${setting}`);
    }
    assert.ok(!lines.some((line) => line.startsWith('PassengerInstanceReg')));
  });

  it('gives each app its virtual host, root and minimum', () => {
    const fleet = lines.indexOf(`ServerName ${hostNameOf('fleetapp')}`);
    const other = lines.indexOf(`ServerName ${hostNameOf('otherapp')}`);
    assert.ok(fleet > 0 && other > fleet);
    const fleetBlock = lines.slice(fleet, other);
    assert.ok(
      fleetBlock.includes(
        'DocumentRoot /tmp/pfleet-testbed-x/fleetapp/current/public',
      ),
    );
    assert.ok(fleetBlock.includes('PassengerMinInstances 3'));
    assert.ok(lines.slice(other).includes('PassengerMinInstances 2'));
  });

  it('names the instance registry only when asked to', () => {
    const withRegistry = siteConfig({
      port: 41234,
      logDir: '/l',
      maxPoolSize: 4,
      apps: [],
      registryDir: '/run/pfleet-testbed-registry',
    });
    assert.match(
      withRegistry,
      /^PassengerInstanceRegistryDir \/run\/pfleet-testbed-registry$/m,
    );
  });
});
