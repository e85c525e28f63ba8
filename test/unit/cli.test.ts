/**
 * The CLI as a person meets it: every way `enforce` refuses to run says
 * what is wrong in one line on stderr and exits with its own code, and
 * acts on nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildProcTree } from './fake-proc-tree.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pf-cli-'));
const quietHost = buildProcTree([
  {
    pid: 300,
    comm: 'bash',
    startTime: 100,
    cmdline: '/bin/bash\0',
  },
]);
after(() => {
  rmSync(dir, { recursive: true, force: true });
  quietHost.remove();
});

function cli(args: readonly string[]) {
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'agent/cli/main.ts', ...args],
    { cwd: REPO, encoding: 'utf8', timeout: 60_000 },
  );
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const state = (name: string) => ['--state', join(dir, `${name}.db`)];

describe('passenger-fleet CLI', () => {
  it('names the flag, the rule and the value of a bad limit (64)', () => {
    const run = cli(['enforce', 'shop', '-l', '-5', '--once', ...state('a')]);
    assert.equal(run.code, 64);
    assert.equal(
      run.stderr.trim(),
      'passenger-fleet: invalid configuration: --limit: defaults.limitMb ' +
        'must be greater than 0 (got -5)',
    );
    assert.equal(run.stdout, '');
  });

  it('names the setting a config file misspells (64)', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ defaults: { limitMB: 300 } }));
    const run = cli(['enforce', '--once', '--config', file, ...state('b')]);
    assert.equal(run.code, 64);
    assert.match(run.stderr, /defaults\.limitMB is not a known setting/);
  });

  it('says which config file it cannot read (66)', () => {
    const missing = join(dir, 'missing.json');
    const run = cli(['enforce', '--once', '--config', missing, ...state('c')]);
    assert.equal(run.code, 66);
    assert.match(
      run.stderr,
      /--config: cannot read .*missing\.json \(ENOENT\)/,
    );
  });

  it('leaves the host alone while another run holds the lock (75)', () => {
    const lock = join(dir, 'held.lock');
    // This very test process is a live holder.
    const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    const startTime = Number(
      stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19],
    );
    writeFileSync(
      lock,
      JSON.stringify({ pid: process.pid, startTime, since: 'now' }),
    );
    const run = cli(['enforce', '--once', '--lock', lock, ...state('d')]);
    assert.equal(run.code, 75);
    assert.match(
      run.stderr,
      /another run \(pid \d+ since now\) holds the lock/,
    );
  });

  it('says so when no Passenger runs on the host (69)', () => {
    const run = cli([
      'enforce',
      '--once',
      '--proc-root',
      quietHost.root,
      '--tool-timeout',
      '5',
      ...state('e'),
    ]);
    assert.equal(run.code, 69);
    assert.match(run.stderr, /no Passenger is running on this host/);
  });

  it('says who may run it when worker memory cannot be read (77)', (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to run as nobody');
    const host = buildProcTree([
      {
        pid: 400,
        comm: 'ruby',
        startTime: 100,
        cmdline: 'Passenger RubyApp: /data/shop/current (production)\0',
        uid: 1001,
        memory: { privateDirtyKb: 300_000, rssKb: 310_000 },
      },
    ]);
    try {
      chmodSync(host.root, 0o755);
      // As the kernel does for another user's process.
      chmodSync(join(host.root, '400', 'smaps_rollup'), 0o000);
      const stateDir = mkdtempSync(join(tmpdir(), 'pf-cli-nobody-'));
      chmodSync(stateDir, 0o777);
      const run = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          'agent/cli/main.ts',
          'enforce',
          '--once',
          '--no-orphans',
          '--proc-root',
          host.root,
          '--tool-timeout',
          '5',
          '--state',
          join(stateDir, 'state.db'),
        ],
        {
          cwd: REPO,
          encoding: 'utf8',
          timeout: 60_000,
          uid: 65534,
          gid: 65534,
          env: { ...process.env, HOME: stateDir },
        },
      );
      rmSync(stateDir, { recursive: true, force: true });
      assert.equal(run.status, 77, run.stderr);
      assert.match(
        run.stderr,
        /cannot read the memory of 1 worker\(s\): run as root or as the workers' owner \(uid 1001\); running as uid 65534/,
      );
      assert.equal(run.stdout, '');
    } finally {
      host.remove();
    }
  });

  it('refuses a non-number interval, naming it (64)', () => {
    const run = cli(['enforce', '--interval', 'soon', ...state('f')]);
    assert.equal(run.code, 64);
    assert.match(
      run.stderr,
      /--interval must be a number of seconds from 1 to 3600 \(got "soon"\)/,
    );
  });

  it('prints help for every command', () => {
    for (const command of ['enforce', 'workers', 'execute']) {
      const run = cli([command, '--help']);
      assert.equal(run.code, 0, command);
      assert.match(run.stdout, new RegExp(`Usage: passenger-fleet ${command}`));
    }
  });

  it('lists what a saved passenger-memory-stats output holds', () => {
    const fixture =
      'test/fixtures/corpus/p6.0.17-apache-testbed-bloated-root.txt';
    const run = cli(['workers', '--json', '--stats-file', fixture]);
    assert.equal(run.code, 0, run.stderr);
    const rows = JSON.parse(run.stdout) as {
      pid: number;
      role: string;
      privateMb: number;
    }[];
    const worker = rows.find((row) => row.pid === 4210);
    assert.deepEqual(
      { role: worker?.role, privateMb: worker?.privateMb },
      { role: 'app-worker', privateMb: 306 },
    );
    assert.equal(rows.find((row) => row.pid === 4169)?.role, 'preloader');
  });
});
