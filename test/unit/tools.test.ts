import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  PassengerCommandTools,
  runTool,
  toolEnvironment,
} from '../../agent/tools.ts';

const NODE = process.execPath;
const PRINT_ARGV =
  'process.stdout.write(JSON.stringify(process.argv.slice(1)))';

describe('runTool', () => {
  it('reports a missing program without throwing', async () => {
    const result = await runTool('passenger-fleet-no-such-tool', ['x']);
    assert.equal(result.missing, true);
    assert.equal(result.exitCode, null);
    assert.equal(result.timedOut, false);
    assert.match(result.stderr, /passenger-fleet-no-such-tool: not found/);
  });

  it('kills a command that outlives its timeout', async () => {
    const started = Date.now();
    const result = await runTool('sleep', ['5'], { timeoutMs: 200 });
    const tookMs = Date.now() - started;
    assert.equal(result.timedOut, true);
    assert.equal(result.signal, 'SIGKILL');
    assert.equal(result.exitCode, null);
    assert.equal(result.missing, false);
    assert.ok(tookMs >= 150 && tookMs < 2000, `took ${tookMs} ms`);
  });

  it('reports the exit code and stderr of a failing command', async () => {
    const result = await runTool(NODE, [
      '-e',
      'process.stderr.write("Could not detach process 7.\\n"); process.exit(3)',
    ]);
    assert.deepEqual(
      { ...result, elapsedMs: 0 },
      {
        exitCode: 3,
        signal: null,
        stdout: '',
        stderr: 'Could not detach process 7.\n',
        timedOut: false,
        missing: false,
        elapsedMs: 0,
      },
    );
  });

  it('hands shell syntax to the program as literal arguments', async () => {
    const marker = join(tmpdir(), `passenger-fleet-pwned-${process.pid}`);
    const args = [
      'a;b',
      '$(id)',
      '`id`',
      `; touch ${marker}`,
      '| cat',
      '\'quoted\' "twice"',
      '$HOME',
    ];
    const result = await runTool(NODE, ['-e', PRINT_ARGV, ...args]);
    assert.equal(result.exitCode, 0);
    assert.deepEqual(JSON.parse(result.stdout), args);
    assert.equal(existsSync(marker), false);
  });

  it('refuses to run without a timeout', async () => {
    const result = await runTool('sleep', ['5'], { timeoutMs: 0 });
    assert.equal(result.exitCode, null);
    assert.ok(result.elapsedMs < 100);
    assert.match(result.stderr, /timeoutMs must be a positive whole number/);
  });

  it('refuses an argument holding a NUL byte, running nothing', async () => {
    const result = await runTool(NODE, ['-e', PRINT_ARGV, 'a\0b']);
    assert.equal(result.exitCode, null);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /argv\[3\] must not hold a NUL byte/);
  });

  it('kills a command whose output passes the buffer limit', async () => {
    const result = await runTool(
      NODE,
      ['-e', 'process.stdout.write("x".repeat(100000))'],
      { maxBufferBytes: 1000 },
    );
    assert.equal(result.timedOut, false);
    assert.notEqual(result.exitCode, 0);
    assert.match(result.stderr, /over the buffer limit/);
  });
});

describe('toolEnvironment', () => {
  it('sets the C locale, drops COLUMNS and adds the sbin dirs', () => {
    const env = toolEnvironment({
      PATH: '/usr/bin:/bin',
      COLUMNS: '80',
      LANG: 'de_DE.UTF-8',
      HOME: '/root',
    });
    assert.deepEqual(env, {
      PATH: '/usr/bin:/bin:/usr/sbin:/usr/local/sbin',
      LANG: 'de_DE.UTF-8',
      LC_ALL: 'C',
      HOME: '/root',
    });
  });

  it('does not repeat a sbin dir already in PATH', () => {
    const env = toolEnvironment({ PATH: '/usr/sbin:/bin' });
    assert.equal(env.PATH, '/usr/sbin:/bin:/usr/local/sbin');
  });
});

describe('PassengerCommandTools', () => {
  let dir: string;
  let log: string;
  let tools: PassengerCommandTools;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fake-passenger-'));
    log = join(dir, 'calls.log');
    // each fake tool logs its name, its argv and what it was given in env
    for (const name of ['passenger-status', 'passenger-config']) {
      const script = join(dir, name);
      writeFileSync(
        script,
        '#!/bin/sh\n' +
          `printf '%s|' "${name}" "$@" "LC_ALL=$LC_ALL" ` +
          `"COLUMNS=\${COLUMNS-unset}" >> '${log}'\n` +
          `echo >> '${log}'\n` +
          'printf "%s\\n" "$@"\n',
      );
      chmodSync(script, 0o755);
    }
    // found by name through PATH, as on a real host
    tools = new PassengerCommandTools({
      timeoutMs: 5000,
      baseEnv: { PATH: `${dir}:/usr/bin:/bin`, COLUMNS: '132' },
    });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const calls = () =>
    existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];

  it('asks passenger-status for XML in a plain environment', async () => {
    rmSync(log, { force: true });
    const result = await tools.poolXml();
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout, '--show=xml\n');
    assert.deepEqual(calls(), [
      'passenger-status|--show=xml|LC_ALL=C|COLUMNS=unset|',
    ]);
  });

  it('detaches a pid given as its own argument', async () => {
    rmSync(log, { force: true });
    const result = await tools.detach(4210);
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout, 'detach-process\n4210\n');
    assert.deepEqual(calls(), [
      'passenger-config|detach-process|4210|LC_ALL=C|COLUMNS=unset|',
    ]);
  });

  for (const pid of [0, -1, 1.5, Number.NaN, 2 ** 53, Infinity]) {
    it(`refuses to detach pid ${pid}, running nothing`, async () => {
      rmSync(log, { force: true });
      const result = await tools.detach(pid);
      assert.equal(result.exitCode, null);
      assert.equal(result.missing, false);
      assert.match(result.stderr, /pid must be a positive whole number/);
      assert.deepEqual(calls(), []);
    });
  }

  it('runs a user command from its argv', async () => {
    const result = await tools.run([NODE, '-e', PRINT_ARGV, '$(id)', '42']);
    assert.deepEqual(JSON.parse(result.stdout), ['$(id)', '42']);
  });

  it('refuses an empty argv', async () => {
    const result = await tools.run([]);
    assert.equal(result.exitCode, null);
    assert.match(result.stderr, /argv must start with a program/);
  });

  it('reports a tool that is not installed as missing', async () => {
    const result = await new PassengerCommandTools({
      passengerMemoryStats: 'passenger-memory-stats-not-installed',
      baseEnv: { PATH: dir },
    }).memoryStats();
    assert.equal(result.missing, true);
    assert.match(result.stderr, /passenger-memory-stats-not-installed: not/);
  });

  it('refuses options that cannot work, naming them', () => {
    assert.throws(
      () => new PassengerCommandTools({ timeoutMs: 0 }),
      /timeoutMs must be a positive whole number of ms, got 0/,
    );
    assert.throws(
      () => new PassengerCommandTools({ passengerConfig: ' ' }),
      /passengerConfig must be a program name or path, got " "/,
    );
  });
});
