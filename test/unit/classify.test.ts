import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  classifyTitle,
  titleFromCmdline,
  type TitleEra,
} from '../../core/classify.ts';
import type { ProcessRole, WorkerKind } from '../../core/worker.ts';

const WSGI_LOADER =
  '/usr/bin/python3 /usr/share/passenger/helper-scripts/wsgi-loader.py';
const NGINX_HELPER =
  'PassengerNginxHelperServer /usr/lib/passenger ruby 3 4 0 40 0 3600 1 ' +
  'deploy 1000 1000 /tmp/passenger.17881';
const FLEET = '/data/fleetapp/current (production)';
const SECONDHAND = '/home/p/Secondhand (development)';

// [title, kind, era, group]; every one is an app worker.
const WORKERS: [string, WorkerKind, TitleEra, string?][] = [
  // Passenger 1 to 3
  ['Rails: /data/www/current', 'ruby', '1-3', '/data/www/current'],
  ['Rack: /opt/redmine-2.3.1', 'ruby', '1-3', '/opt/redmine-2.3.1'],
  ['WSGI: /srv/py/current', 'python', '1-3', '/srv/py/current'],
  // 3.9 betas and 4.0
  ['Passenger RackApp: /srv/a', 'ruby', '4', '/srv/a'],
  ['Passenger ClassicRailsApp: /srv/a', 'ruby', '4', '/srv/a'],
  ['Passenger NodeApp: /srv/n/current', 'node', '4', '/srv/n/current'],
  ['Passenger MeteorApp: /srv/m (12345)', 'meteor', '4', '/srv/m'],
  ['Passenger MeteorApp: /srv/m', 'meteor', '4', '/srv/m'],
  ['Passenger WsgiApp', 'python', '4'],
  ['Passenger WsgiApp: /srv/p', 'python', '4', '/srv/p'],
  // 5.0 to 5.2: the group often ends in /public
  ['Passenger RubyApp: /www/api/public', 'ruby', '5+', '/www/api/public'],
  ['Passenger RubyApp: shop', 'ruby', '5+', 'shop'],
  // 5.3.0 to 6.0.7: smart-spawned workers keep the preloader's title
  ['Passenger AppPreloader: /a (forking...)', 'ruby', '5.3-6.0.7', '/a'],
  // 6.0.8 and later
  [`Passenger RubyApp: ${FLEET}`, 'ruby', '6.0.8+', FLEET],
  [`Passenger RubyApp: ${SECONDHAND}`, 'ruby', '6.0.8+', SECONDHAND],
  ['Passenger NodeApp: /data/node/current', 'node', '4', '/data/node/current'],
  ['Passenger App: billing', 'unknown', '6.0.8+', 'billing'],
  // Python workers never get a title
  [WSGI_LOADER, 'python', 'unknown'],
  ['python /opt/passenger/helper-scripts/wsgi-loader.py', 'python', 'unknown'],
  [
    '/venv/bin/python3.11 /p/helper-scripts/wsgi-loader.py',
    'python',
    'unknown',
  ],
  // padding and stray spaces around the title
  ['  Passenger RubyApp: /srv/a  ', 'ruby', '5+', '/srv/a'],
];

// [title, role]; none is a worker, so kind and era are unknown.
const NEVER_TOUCH: [string, ProcessRole][] = [
  ['Passenger ApplicationSpawner: /data/www/current', 'spawner'],
  ['Passenger FrameworkSpawner: 2.3.5', 'spawner'],
  ['Passenger spawn server', 'spawner'],
  ['PassengerWatchdog', 'watchdog'],
  ['PassengerHelperAgent', 'core'],
  ['PassengerLoggingAgent', 'agent'],
  [NGINX_HELPER, 'core'],
  ['Passenger AppPreloader: /srv/a/current', 'preloader'],
  ['PassengerAgent watchdog', 'watchdog'],
  ['PassengerAgent server', 'core'],
  ['PassengerAgent logger', 'agent'],
  ['Passenger watchdog', 'watchdog'],
  ['Passenger core', 'core'],
  ['Passenger ust-router', 'agent'],
  ['Passenger UstRouter', 'agent'],
  ['/usr/sbin/apache2 -k start', 'web-server'],
  ['/usr/sbin/httpd -DFOREGROUND', 'web-server'],
  ['httpd', 'web-server'],
  ['nginx: master process /usr/sbin/nginx', 'web-server'],
  ['nginx: worker process', 'web-server'],
  // near misses: they look like workers at a glance
  ['Passenger AppPreloader: /x', 'preloader'],
  ['Passenger AppPreloader: /x (forking)', 'preloader'],
  ['Passenger AppPreloader: /x (forking...) y', 'preloader'],
  ['Passenger RubyApp:', 'agent'],
  ['vim Passenger RubyApp: /x', 'other'],
  ['grep Rails: /data/www/current', 'other'],
  ['Rails:', 'other'],
  ['ruby', 'other'],
  ['', 'other'],
  ['   ', 'other'],
  [`less ${WSGI_LOADER}`, 'other'],
  [`gdb --args ${WSGI_LOADER}`, 'other'],
  [`${WSGI_LOADER}.bak`, 'other'],
  ['python3 /srv/app/wsgi.py', 'other'],
  ['apache2ctl graceful', 'other'],
  ['nginx-exporter', 'other'],
  ['passenger-status --show=xml', 'other'],
  ['PassengerWatchdogs', 'other'],
];

describe('classify', () => {
  describe('classifyTitle', () => {
    for (const [title, kind, era, group] of WORKERS) {
      it(`reads ${JSON.stringify(title)} as a ${kind} worker`, () => {
        const expected = { role: 'app-worker', kind, era };

        const actual = classifyTitle(title);

        assert.deepEqual(actual, group ? { ...expected, group } : expected);
      });
    }

    for (const [title, role] of NEVER_TOUCH) {
      it(`reads ${JSON.stringify(title)} as ${role}`, () => {
        assert.deepEqual(classifyTitle(title), {
          role,
          kind: 'unknown',
          era: 'unknown',
        });
      });
    }
  });

  describe('titleFromCmdline', () => {
    const CMDLINES: [string, string][] = [
      [
        'Passenger RubyApp: /srv/a (production)\0\0\0\0\0',
        'Passenger RubyApp: /srv/a (production)',
      ],
      [`${WSGI_LOADER.replace(' ', '\0')}\0`, WSGI_LOADER],
      ['nginx: worker process\0', 'nginx: worker process'],
      ['\0\0', ''],
    ];
    for (const [raw, title] of CMDLINES) {
      it(`turns ${JSON.stringify(raw)} into ${JSON.stringify(title)}`, () => {
        assert.equal(titleFromCmdline(raw), title);
      });
    }
  });
});
