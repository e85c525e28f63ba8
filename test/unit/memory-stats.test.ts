import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  parseMemoryStats,
  type MemoryStatsReport,
  type StatsSection,
} from '../../core/memory-stats.ts';
import type { ProcessRole, WorkerKind } from '../../core/worker.ts';

function fixture(name: string): string {
  const url = new URL(`../fixtures/corpus/${name}`, import.meta.url);
  return readFileSync(url, 'utf8');
}

const APACHE = '/usr/sbin/apache2 -k start';
const NGINX_WORKER = 'nginx: worker process';
const WSGI =
  '/usr/bin/python3 /usr/share/passenger/helper-scripts/wsgi-loader.py';
const FLEET = '/data/fleetapp/current (production)';
const OTHER = '/data/otherapp/current (production)';
const FLEET_RUBY = `Passenger RubyApp: ${FLEET}`;
const OTHER_RUBY = `Passenger RubyApp: ${OTHER}`;
const FLEET_PRELOADER = 'Passenger AppPreloader: /data/fleetapp/current';
const NODE = 'Passenger NodeApp: /data/nodeapp/current';
const RAILS = 'Rails: /data/www/current';
const NGINX_HELPER =
  'PassengerNginxHelperServer /usr/lib/passenger ruby 3 4 0 40 0 3600 1 ' +
  'deploy 1000 1000 /tmp/passenger.17881';
const VARNISH = 'Passenger RubyApp: /var/www/varnishapi/public';
const FORKING =
  'Passenger AppPreloader: /home/deploy/xxx/back-end/current (forking...)';

/** What every name in the corpus is: role, kind and app group. */
const TITLES: Record<string, [ProcessRole, WorkerKind, string?]> = {
  [APACHE]: ['web-server', 'unknown'],
  [NGINX_WORKER]: ['web-server', 'unknown'],
  'nginx: master process /usr/sbin/nginx -c /etc/nginx/nginx.conf': [
    'web-server',
    'unknown',
  ],
  'nginx: master process /opt/nginx/sbin/nginx -c /opt/nginx/conf/nginx.conf': [
    'web-server',
    'unknown',
  ],
  'nginx: master process /opt/production/nginx/sbin/nginx': [
    'web-server',
    'unknown',
  ],
  [NGINX_HELPER]: ['core', 'unknown'],
  'Passenger spawn server': ['spawner', 'unknown'],
  'Passenger ApplicationSpawner: /data/www/current': ['spawner', 'unknown'],
  [RAILS]: ['app-worker', 'ruby', '/data/www/current'],
  'Rack: /opt/redmine-2.3.1': ['app-worker', 'ruby', '/opt/redmine-2.3.1'],
  PassengerWatchdog: ['watchdog', 'unknown'],
  PassengerHelperAgent: ['core', 'unknown'],
  PassengerLoggingAgent: ['agent', 'unknown'],
  'Passenger RackApp: /Users/phusion/testapp/current': [
    'app-worker',
    'ruby',
    '/Users/phusion/testapp/current',
  ],
  'Passenger RackApp: /Users/phusion/passenger_website/current': [
    'app-worker',
    'ruby',
    '/Users/phusion/passenger_website/current',
  ],
  'PassengerAgent watchdog': ['watchdog', 'unknown'],
  'PassengerAgent server': ['core', 'unknown'],
  'PassengerAgent logger': ['agent', 'unknown'],
  'Passenger AppPreloader: /var/www/varnishapi': ['preloader', 'unknown'],
  [VARNISH]: ['app-worker', 'ruby', '/var/www/varnishapi/public'],
  'Passenger watchdog': ['watchdog', 'unknown'],
  'Passenger core': ['core', 'unknown'],
  [FORKING]: ['app-worker', 'ruby', '/home/deploy/xxx/back-end/current'],
  'Passenger RubyApp: /home/pierre/Secondhand (development)': [
    'app-worker',
    'ruby',
    '/home/pierre/Secondhand (development)',
  ],
  [FLEET_PRELOADER]: ['preloader', 'unknown'],
  [FLEET_RUBY]: ['app-worker', 'ruby', FLEET],
  [OTHER_RUBY]: ['app-worker', 'ruby', OTHER],
  [WSGI]: ['app-worker', 'python'],
  [NODE]: ['app-worker', 'node', '/data/nodeapp/current'],
};

/** [pid, ppid, memoryMb, name] for Apache and Nginx; no ppid for Passenger. */
type WebRow = [number, number, number | null, string];
type PassengerRow = [number, number | null, string];

interface CorpusCase {
  file: string;
  version?: string;
  date?: string;
  warnings?: string[];
  skipped?: [number, string][];
  apache?: WebRow[];
  nginx?: WebRow[];
  passenger?: PassengerRow[];
}

const SUDO_WARNING =
  '*** WARNING: Please run this tool with sudo. Otherwise the private ' +
  'dirty RSS (a reliable metric for real memory usage) of processes ' +
  'cannot be determined.';
const APACHE_WARNING =
  '*** WARNING: The Apache executable cannot be found. Please set the ' +
  "APXS2 environment variable to your 'apxs2' executable's filename, or " +
  "set the HTTPD environment variable to your 'httpd' or 'apache2' " +
  "executable's filename.";

/** The testbed's three Apache processes, with their Private values. */
function testbedApache(...privateMb: (number | null)[]): WebRow[] {
  return [
    [4109, 29737, privateMb[0] ?? null, APACHE],
    [4110, 29737, privateMb[1] ?? null, APACHE],
    [29737, 1, privateMb[2] ?? null, APACHE],
  ];
}

const BLOATED_PASSENGER: PassengerRow[] = [
  [4088, 3.8, 'Passenger watchdog'],
  [4091, 4.9, 'Passenger core'],
  [4169, 3.6, FLEET_PRELOADER],
  [4210, 306.0, FLEET_RUBY],
  [4229, 125.9, FLEET_RUBY],
  [4244, 213.1, OTHER_RUBY],
  [4263, 5.8, FLEET_RUBY],
  [4309, 13.1, OTHER_RUBY],
  [4318, 87.3, WSGI],
  [4386, 68.1, NODE],
];

const CORPUS: CorpusCase[] = [
  {
    file: 'p1-macos-error-passenger-issue180.txt',
    warnings: ['ps: illegal argument: httpd', 'ps: nlwp: keyword not found'],
    skipped: [
      [2, 'usage text printed by ps'],
      [3, 'usage text printed by ps'],
      [4, 'usage text printed by ps'],
      [5, 'usage text printed by ps'],
    ],
  },
  {
    file: 'p2-nginx-scout-plugins-fixture.txt',
    nginx: [
      [
        17881,
        1,
        0.6,
        'nginx: master process /usr/sbin/nginx -c /etc/nginx/nginx.conf',
      ],
      [18419, 17881, 5.2, NGINX_WORKER],
      [18516, 17881, 5.2, NGINX_WORKER],
      [18556, 17881, 9.2, NGINX_WORKER],
      [18557, 17881, 5.8, NGINX_WORKER],
    ],
    passenger: [
      [18381, 7.9, NGINX_HELPER],
      [18391, 8.4, 'Passenger spawn server'],
      [18632, 171.5, RAILS],
      [18634, 176.0, RAILS],
      [499, 173.5, RAILS],
      [505, 175.3, RAILS],
      [509, 173.5, RAILS],
      [23732, 157.5, RAILS],
      [23734, 159.9, RAILS],
      [23736, 167.0, RAILS],
      [23738, 164.0, RAILS],
      [23740, 163.8, RAILS],
      [23742, 156.2, RAILS],
      [2982, 90.6, 'Passenger ApplicationSpawner: /data/www/current'],
      [3001, 154.2, RAILS],
      [3191, 152.1, RAILS],
    ],
  },
  {
    file: 'p3-nginx-redmine-ru-notes.txt',
    warnings: [APACHE_WARNING],
    nginx: [
      [
        17797,
        1,
        0.0,
        'nginx: master process /opt/nginx/sbin/nginx -c /opt/nginx/conf/nginx.conf',
      ],
      [17799, 17797, 0.2, NGINX_WORKER],
    ],
    passenger: [
      [347, 143.3, 'Rack: /opt/redmine-2.3.1'],
      [17758, 0.1, 'PassengerWatchdog'],
      [17761, 1.3, 'PassengerHelperAgent'],
      [17763, 6.0, 'Passenger spawn server'],
      [17766, 0.0, 'PassengerLoggingAgent'],
    ],
  },
  {
    file: 'p4-apache-nginx-phusion-library-walkthrough.txt',
    version: '4.0.56',
    date: '2015-01-28 17:10:53 +0100',
    apache: [
      [1529, 10548, 39.0, APACHE],
      [1648, 10548, 29.6, APACHE],
      [10548, 1, 2.9, APACHE],
    ],
    nginx: [
      [
        7185,
        4762,
        0.5,
        'nginx: master process /opt/production/nginx/sbin/nginx',
      ],
      [7254, 7185, 4.6, NGINX_WORKER],
    ],
    passenger: [
      [7236, 0.3, 'PassengerWatchdog'],
      [7239, 2.2, 'PassengerHelperAgent'],
      [7248, 1.9, 'PassengerLoggingAgent'],
      [7265, 71.0, 'Passenger RackApp: /Users/phusion/testapp/current'],
      [
        7428,
        166.8,
        'Passenger RackApp: /Users/phusion/passenger_website/current',
      ],
    ],
  },
  {
    file: 'p5-nginx-varnish-rest-api-readme.txt',
    passenger: [
      [14717, 0.9, 'PassengerAgent watchdog'],
      [14720, 1.4, 'PassengerAgent server'],
      [14725, 0.8, 'PassengerAgent logger'],
      [14741, 2.2, 'Passenger AppPreloader: /var/www/varnishapi'],
      [14761, 12.2, VARNISH],
      [14768, 9.8, VARNISH],
      [14775, 2.3, VARNISH],
    ],
  },
  {
    file: 'p5x-nginx-apppreloader-forking-jackie-do-notes.txt',
    passenger: [
      [3051, 2.9, 'Passenger watchdog'],
      [3060, 6.5, 'Passenger core'],
      [17130, 85.8, FORKING],
      [17147, 78.6, FORKING],
      [17164, 78.9, FORKING],
      [17183, 72.9, FORKING],
    ],
  },
  {
    file: 'p6-apache-secondhand-docs.txt',
    version: '6.0.24',
    date: '2025-01-09 19:53:45 +0000',
    apache: [
      [534659, 1, 0.7, APACHE],
      [534693, 534659, 4.0, APACHE],
      [534695, 534659, 3.8, APACHE],
    ],
    passenger: [
      [534662, 2.7, 'Passenger watchdog'],
      [534666, 7.8, 'Passenger core'],
      [
        535706,
        102.1,
        'Passenger RubyApp: /home/pierre/Secondhand (development)',
      ],
    ],
  },
  {
    file: 'p6.0.17-apache-testbed-idle-root.txt',
    version: '6.0.17',
    date: '2026-12-03 12:58:00 +0000',
    apache: testbedApache(1.8, 1.9, 1.1),
    passenger: [
      [4088, 3.8, 'Passenger watchdog'],
      [4091, 4.6, 'Passenger core'],
      [4169, 3.6, FLEET_PRELOADER],
      [4210, 6.0, FLEET_RUBY],
      [4229, 5.9, FLEET_RUBY],
      [4244, 13.1, OTHER_RUBY],
      [4263, 5.8, FLEET_RUBY],
      [4309, 13.1, OTHER_RUBY],
      [4318, 7.3, WSGI],
      [4386, 7.9, NODE],
    ],
  },
  {
    file: 'p6.0.17-apache-testbed-bloated-root.txt',
    version: '6.0.17',
    date: '2026-12-03 12:58:08 +0000',
    apache: testbedApache(1.9, 1.9, 1.1),
    passenger: BLOATED_PASSENGER,
  },
  {
    file: 'p6.0.17-apache-testbed-bloated-root-tty.raw',
    version: '6.0.17',
    date: '2026-12-03 12:58:09 +0000',
    apache: testbedApache(1.9, 1.9, 1.1),
    passenger: BLOATED_PASSENGER,
  },
  {
    file: 'p6.0.17-apache-testbed-bloated-nonroot.txt',
    version: '6.0.17',
    date: '2026-12-03 12:58:09 +0000',
    warnings: [SUDO_WARNING],
    apache: testbedApache(null, null, null),
    passenger: BLOATED_PASSENGER.map(([pid, , name]) => [pid, null, name]),
  },
  {
    file: 'p6.0.17-apache-testbed-orphan-memory-stats.txt',
    version: '6.0.17',
    date: '2026-12-03 12:52:41 +0000',
    apache: [
      [13109, 1, 1.1, APACHE],
      [26679, 13109, 1.7, APACHE],
      [26680, 13109, 2.0, APACHE],
    ],
    passenger: [
      [26660, 5.6, 'Passenger watchdog'],
      [26782, 13.1, FLEET_RUBY],
      [26819, 13.1, OTHER_RUBY],
      [26892, 7.3, WSGI],
      [27217, 3.8, 'Passenger core'],
    ],
  },
];

/** Puts a row under a Passenger header: PID VMSize Private Name. */
function inTable(row: string): string {
  return `--- Passenger processes ---\nPID VMSize Private Name\n${row}`;
}

function expectedProcesses(entry: CorpusCase) {
  const web = (section: StatsSection, rows: WebRow[] = []) =>
    rows.map(([pid, ppid, memoryMb, name]) => ({
      section,
      pid,
      ppid,
      memoryMb,
      name,
    }));
  const passenger = (entry.passenger ?? []).map(([pid, memoryMb, name]) => ({
    section: 'passenger' as StatsSection,
    pid,
    ppid: undefined,
    memoryMb,
    name,
  }));
  return [
    ...web('apache', entry.apache),
    ...web('nginx', entry.nginx),
    ...passenger,
  ].map((process) => {
    const title = TITLES[process.name];
    assert.ok(title, `no expected classification for ${process.name}`);
    const [role, kind, group] = title;
    return { ...process, role, kind, group };
  });
}

function actualProcesses(report: MemoryStatsReport) {
  return report.processes.map((process) => ({
    section: process.section,
    pid: process.pid,
    ppid: process.ppid,
    memoryMb: process.memoryMb,
    name: process.name,
    role: process.classified.role,
    kind: process.classified.kind,
    group: process.classified.group,
  }));
}

describe('memory-stats', () => {
  describe('parseMemoryStats on the corpus', () => {
    for (const entry of CORPUS) {
      it(`reads ${entry.file}`, () => {
        const text = fixture(entry.file);

        const report = parseMemoryStats(text);

        assert.deepEqual(actualProcesses(report), expectedProcesses(entry));
        assert.equal(report.version, entry.version);
        assert.equal(report.date, entry.date);
        assert.deepEqual(report.warnings, entry.warnings ?? []);
        assert.deepEqual(
          report.skipped.map((line) => [line.lineNumber, line.reason]),
          entry.skipped ?? [],
        );
        const lines = text.split('\n');
        for (const process of report.processes) {
          const line = lines[process.lineNumber - 1] ?? '';
          assert.match(line, new RegExp(`^(?:\\x1b\\[\\d+m)*${process.pid} `));
          assert.equal(process.memoryColumn, 'private');
          assert.equal(process.maybeTruncated, process.name === NGINX_HELPER);
        }
      });
    }

    it('reads the forking titles of 5.3 to 6.0.7 as workers', () => {
      const report = parseMemoryStats(
        fixture('p5x-nginx-apppreloader-forking-jackie-do-notes.txt'),
      );

      const forking = report.processes.filter((p) => p.name === FORKING);
      assert.equal(forking.length, 4);
      for (const process of forking) {
        assert.equal(process.classified.era, '5.3-6.0.7');
      }
    });
  });

  describe('parseMemoryStats on single rows', () => {
    // [row, pid, vmSizeMb, memoryMb, name]
    const READ: [string, number, number | null, number | null, string][] = [
      ['4210  508.6 MB  306.0 MB  ruby', 4210, 508.6, 306, 'ruby'],
      ['4210  508.6 MB  ?  ruby', 4210, 508.6, null, 'ruby'],
      ['4210  ?  ?  ruby', 4210, null, null, 'ruby'],
      ['7  1.0 MB  2.0 MB  my  app   x', 7, 1, 2, 'my  app   x'],
      ['7  1.0 MB  2.0 MB  helper 3 4 0', 7, 1, 2, 'helper 3 4 0'],
      ['7\t1.0 MB\t2.0 MB\truby', 7, 1, 2, 'ruby'],
      ['\x1b[32m7  1.0 MB  2.0 MB  ruby\x1b[0m', 7, 1, 2, 'ruby'],
      ['7  1.0 MB  2.0 MB  ruby\r', 7, 1, 2, 'ruby'],
      ['4194304  1 MB  2 MB  ruby', 4194304, 1, 2, 'ruby'],
    ];
    for (const [row, pid, vmSizeMb, memoryMb, name] of READ) {
      it(`reads ${JSON.stringify(row)}`, () => {
        const report = parseMemoryStats(inTable(row));

        assert.deepEqual(report.skipped, []);
        assert.deepEqual(
          report.processes.map((p) => [p.pid, p.vmSizeMb, p.memoryMb, p.name]),
          [[pid, vmSizeMb, memoryMb, name]],
        );
        assert.equal(report.processes[0]?.lineNumber, 3);
        assert.equal(report.processes[0]?.section, 'passenger');
      });
    }

    const SHIFTED = 'Name looks like a value, columns may be shifted';
    const REFUSED: [string, string][] = [
      ['7 1 MB 2 MB \x1b[2Kruby', 'line holds control character U+001B'],
      ['7 1 MB 2 MB ruby\rfake', 'line holds control character U+000D'],
      ['7 1 MB 2 MB ru\0by', 'line holds control character U+0000'],
      [
        '7 306 MB Passenger x',
        "Private is not a number of MB or '?': 'Passenger'",
      ],
      ['7 29737 508.6 MB 306 MB x', "VMSize '29737' lacks its unit MB"],
      ['7 1 MB 2 MB 12345', `${SHIFTED}: '12345'`],
      ['7 1 MB 2 MB 3 MB ruby', `${SHIFTED}: '3 MB ruby'`],
      ['7 1 MB ? ?', `${SHIFTED}: '?'`],
      ['7 1 MB 2 MB MB', `${SHIFTED}: 'MB'`],
      ['-5 1 MB 2 MB ruby', "pid is not a positive integer: '-5'"],
      ['0 1 MB 2 MB ruby', "pid is out of range 1..4194304: '0'"],
      ['4194305 1 MB 2 MB x', "pid is out of range 1..4194304: '4194305'"],
      ['1e3 1 MB 2 MB ruby', "pid is not a positive integer: '1e3'"],
      ['0042 1 MB 2 MB ruby', "pid is not a positive integer: '0042'"],
      ['42.0 1 MB 2 MB ruby', "pid is not a positive integer: '42.0'"],
      ['hello world', "pid is not a positive integer: 'hello'"],
      ['7 -1.0 MB 2 MB ruby', "VMSize is not a number of MB or '?': '-1.0'"],
      ['7 1,5 MB 2 MB ruby', "VMSize is not a number of MB or '?': '1,5'"],
      ['7 1 MB 2048 kB ruby', "Private '2048' lacks its unit MB"],
      ['4210', 'VMSize is missing'],
      ['4210 1.0 MB', 'Private is missing'],
      ['4210 1.0 MB 2.0 MB', 'Name is missing'],
    ];
    for (const [row, reason] of REFUSED) {
      it(`refuses ${JSON.stringify(row)}: ${reason}`, () => {
        const report = parseMemoryStats(inTable(row));

        assert.deepEqual(report.processes, []);
        assert.deepEqual(
          report.skipped.map((line) => [line.lineNumber, line.reason]),
          [[3, reason]],
        );
      });
    }

    const HUGE: [string, string][] = [
      ['pid', `${'9'.repeat(400)} 1 MB 2 MB ruby`],
      ['size', `7 1 MB ${'9'.repeat(400)} MB ruby`],
      ['size past 2^64 bytes', '7 1 MB 17592186044417 MB ruby'],
    ];
    for (const [what, row] of HUGE) {
      it(`refuses a huge ${what}`, () => {
        const report = parseMemoryStats(inTable(row));

        assert.deepEqual(report.processes, []);
        assert.match(
          report.skipped[0]?.reason ?? '',
          /^(?:pid is out of range|Private is larger than any process)/,
        );
      });
    }

    it('accepts a size of exactly 2^64 bytes', () => {
      const report = parseMemoryStats(inTable('7 1 MB 17592186044416 MB x'));

      assert.equal(report.processes[0]?.memoryMb, 2 ** 44);
    });
  });

  describe('parseMemoryStats on tables', () => {
    it('needs a header before it trusts a row', () => {
      const report = parseMemoryStats(
        '--- Passenger processes ---\n4210  1.0 MB  2.0 MB  ruby',
      );

      assert.deepEqual(report.processes, []);
      assert.deepEqual(report.skipped, [
        {
          lineNumber: 2,
          text: '4210  1.0 MB  2.0 MB  ruby',
          reason: 'no table header seen yet',
        },
      ]);
    });

    it('needs a section title before it trusts a header', () => {
      const report = parseMemoryStats(
        'PID VMSize Private Name\n4210  1.0 MB  2.0 MB  ruby',
      );

      assert.deepEqual(report.processes, []);
      assert.deepEqual(
        report.skipped.map((line) => line.reason),
        ['table header before any section title', 'no table header seen yet'],
      );
    });

    const BAD_HEADERS: [string, string][] = [
      ['PID RSS Private Name', "table header has an unknown column 'RSS'"],
      [
        'PID VMSize Private Private Name',
        "table header repeats the column 'Private'",
      ],
      [
        'PID VMSize Name',
        'table header needs exactly one Private or Resident column',
      ],
      [
        'PID Private Resident Name',
        'table header needs exactly one Private or Resident column',
      ],
    ];
    for (const [header, reason] of BAD_HEADERS) {
      it(`refuses the header ${header} and the rows under it`, () => {
        const text = `--- Nginx processes ---\n${header}\n4210 1.0 MB 2.0 MB x`;

        const report = parseMemoryStats(text);

        assert.deepEqual(report.processes, []);
        assert.deepEqual(
          report.skipped.map((line) => [line.lineNumber, line.reason]),
          [
            [2, reason],
            [3, 'no table header seen yet'],
          ],
        );
      });
    }

    it('reads the Resident column of some 4.0 builds', () => {
      const text = [
        '----- Apache processes -----',
        'PID   PPID  VMSize    Resident  Name',
        '-----------------------------------',
        '1234  1     231.0 MB  39.0 MB   /usr/sbin/apache2 -k start',
      ].join('\n');

      const [process] = parseMemoryStats(text).processes;

      assert.equal(process?.memoryColumn, 'resident');
      assert.equal(process?.memoryMb, 39);
      assert.equal(process?.ppid, 1);
      assert.equal(process?.section, 'apache');
    });

    it('reads the Threads column of the ## header', () => {
      const text = [
        '--- Apache processes ---',
        '## PID  PPID  Threads  VMSize  Private  Name',
        '100  0  4  10.0 MB  1.0 MB  httpd',
        '101  100  0  10.0 MB  1.0 MB  httpd',
      ].join('\n');

      const report = parseMemoryStats(text);

      assert.deepEqual(
        report.processes.map((p) => [p.pid, p.ppid, p.memoryMb, p.name]),
        [[100, 0, 1, 'httpd']],
      );
      assert.deepEqual(
        report.skipped.map((line) => line.reason),
        ["Threads is out of range 1..4194304: '0'"],
      );
    });

    it('ends a table at its totals', () => {
      const text = [
        '--- Passenger processes ---',
        'PID VMSize Private Name',
        '### Processes: 0',
        '4210  1.0 MB  2.0 MB  ruby',
      ].join('\n');

      const report = parseMemoryStats(text);

      assert.deepEqual(report.processes, []);
      assert.deepEqual(
        report.skipped.map((line) => line.reason),
        ["line follows the section's totals"],
      );
    });

    it('ends a table at the next section title', () => {
      const text = [
        '--- Apache processes ---',
        'PID PPID VMSize Private Name',
        '--- Nginx processes ---',
        '4210  1  1.0 MB  2.0 MB  nginx: worker process',
      ].join('\n');

      const report = parseMemoryStats(text);

      assert.deepEqual(report.processes, []);
      assert.deepEqual(
        report.skipped.map((line) => line.reason),
        ['no table header seen yet'],
      );
    });

    it('passes over prompts, elisions, rules and totals in silence', () => {
      const text = [
        '$ sudo passenger-memory-stats',
        'deploy@web1:~# /usr/sbin/passenger-memory-stats',
        '...',
        '-- Passenger processes --',
        'PID VMSize Private Name',
        '------------------------',
        '4210  1.0 MB  2.0 MB  ruby',
        '…',
        '## Processes: 1',
        '### Total private dirty RSS: 2.00 MB (?)',
      ].join('\n');

      const report = parseMemoryStats(text);

      assert.deepEqual(report.skipped, []);
      assert.deepEqual(report.warnings, []);
      assert.deepEqual(
        report.processes.map((p) => [p.pid, p.lineNumber]),
        [[4210, 7]],
      );
    });

    it('reports empty and CR-only input as nothing at all', () => {
      for (const text of ['', '\r', '\r\r\r', '\r\n\r\n', '\n\n']) {
        const report = parseMemoryStats(text);

        assert.deepEqual(report, { processes: [], skipped: [], warnings: [] });
      }
    });

    it('answers input that is not text with a warning', () => {
      const report = parseMemoryStats(undefined as unknown as string);

      assert.deepEqual(report.processes, []);
      assert.deepEqual(report.warnings, ['input is not text but undefined']);
    });
  });

  describe('parseMemoryStats on long names', () => {
    const NAMES: [string, number, boolean][] = [
      ['a short title', 40, false],
      ['a title one short of the limit', 79, false],
      ['a title at the limit', 80, true],
      ['a title ps would surely have cut', 120, true],
    ];
    for (const [title, length, maybeTruncated] of NAMES) {
      it(`says maybeTruncated ${maybeTruncated} for ${title}`, () => {
        const name = `Passenger RubyApp: /${'a'.repeat(length - 20)}`;
        const [process] = parseMemoryStats(
          inTable(`1 1 MB 2 MB ${name}`),
        ).processes;

        assert.equal(process?.name.length, length);
        assert.equal(process?.maybeTruncated, maybeTruncated);
      });
    }
  });

  describe('parseMemoryStats on hostile input', () => {
    it('survives ten megabytes of random bytes', { timeout: 60_000 }, () => {
      const bytes = Buffer.alloc(10 * 1024 * 1024);
      let seed = 0x2545f491;
      for (let i = 0; i < bytes.length; i++) {
        // xorshift32: repeatable noise without a dependency.
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        bytes[i] = seed & 0xff;
      }

      const report = parseMemoryStats(bytes.toString('latin1'));

      assert.deepEqual(report.processes, []);
      assert.equal(report.skipped.length, 1000);
      assert.match(
        report.warnings.at(-1) ?? '',
        /^\d+ more skipped lines not listed$/,
      );
      assert.ok(report.skipped.every((line) => line.text.length <= 500));
    });

    const PATHOLOGICAL: [string, string][] = [
      ['a megabyte of CRs before a letter', `${'\r'.repeat(1 << 20)}x`],
      ['a megabyte of hashes', '#'.repeat(1 << 20)],
      [
        'a megabyte of dashes and a title',
        `${'-'.repeat(1 << 20)} Nginx processes x`,
      ],
      ['an unfinished colour code', `\x1b[${'1'.repeat(1 << 20)}`],
      ['a megabyte-long row', `1 1.0 MB 2.0 MB ${'x '.repeat(1 << 19)}`],
      [
        'a megabyte-long prompt',
        `${'$'.repeat(1 << 20)} passenger-memory-statsx`,
      ],
    ];
    for (const [title, line] of PATHOLOGICAL) {
      it(`reads ${title} in linear time`, { timeout: 10_000 }, () => {
        const started = performance.now();
        const report = parseMemoryStats(inTable(line));
        const elapsedMs = performance.now() - started;

        assert.ok(elapsedMs < 2_000, `took ${Math.round(elapsedMs)} ms`);
        assert.ok(report.skipped.length + report.processes.length <= 1);
      });
    }

    // Tables that look real, with rows that are often valid and often
    // slightly wrong, among noise: so that the property sees processes.
    const sectionTitle = fc.constantFrom(
      '----- Passenger processes -----',
      '--- Apache processes ---',
      '\x1b[44m-- Nginx processes --\x1b[0m',
    );
    /** Each header and how many integer columns come before the sizes. */
    const LAYOUTS: [string, number][] = [
      ['PID VMSize Private Name', 0],
      ['\x1b[37mPID   PPID  VMSize  Private  Name', 1],
      ['## PID PPID Threads VMSize Resident Name', 2],
    ];
    const size = fc.constantFrom('?', '1.5 MB', '12 MB', '0.0 MB', '1 MB');
    const name = fc.constantFrom('ruby', 'Passenger RubyApp: /a (x)', 'a  b');
    const ending = fc.constantFrom('', '\r', '\x1b[0m', '  ', '\r\rx');
    const goodRow = (integers: number) =>
      fc
        .tuple(
          fc.integer({ min: 1, max: 4_194_304 }),
          fc.array(fc.nat(5000), {
            minLength: integers,
            maxLength: integers,
          }),
          size,
          size,
          name,
          ending,
        )
        .map(([pid, numbers, vmSize, memory, title, end]) =>
          [pid, ...numbers, vmSize, memory, title].join('  ').concat(end),
        );
    const anyValue = fc.oneof(
      size,
      fc.constantFrom('MB', '-1', '99999999999999999999 MB', '1.', '?MB'),
      fc.integer({ min: -2, max: 5_000_000 }).map(String),
    );
    const anyRow = fc
      .tuple(
        fc.integer({ min: -2, max: 4_200_000 }),
        fc.array(anyValue, { maxLength: 5 }),
        fc.constantFrom('ruby', '12 x', ''),
        ending,
      )
      .map(([pid, values, title, end]) =>
        [pid, ...values, title].join('  ').concat(end),
      );
    const noise = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.constantFrom(
        '### Processes: 2',
        '-----',
        '...',
        '*** WARNING: x',
        'ps: x',
        'usage: ps',
        '   [-L]',
        '$ passenger-memory-stats',
        'Version: 6.0.17',
        '',
      ),
    );
    const block = fc.constantFrom(...LAYOUTS).chain(([head, integers]) =>
      fc
        .tuple(
          sectionTitle,
          fc.array(fc.oneof(goodRow(integers), anyRow, noise), {
            maxLength: 8,
          }),
        )
        .map(([title, rows]) => [title, head, ...rows].join('\n')),
    );
    const text = fc
      .array(fc.oneof(block, noise), { maxLength: 6 })
      .map((parts) => parts.join('\n'));

    it('never throws and names only pids found on their lines', () => {
      fc.assert(
        fc.property(text, (input) => {
          const inputLines = input.split('\n');

          const report = parseMemoryStats(input);

          for (const process of report.processes) {
            const source = inputLines[process.lineNumber - 1] ?? '';
            const pidAlone = new RegExp(`(?<![0-9.])${process.pid}(?![0-9.])`);
            assert.match(source, pidAlone);
            assert.ok(process.pid >= 1 && process.pid <= 4_194_304);
          }
          for (const skipped of report.skipped) {
            assert.ok(skipped.lineNumber >= 1);
            assert.ok(skipped.lineNumber <= inputLines.length);
          }
        }),
        { numRuns: 1000 },
      );
    });
  });
});
