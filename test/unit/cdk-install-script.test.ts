/**
 * Runs the install document's script with sh, as SSM would (the fleet as
 * $SSM_fleet), into a scratch root, with a stand-in systemctl that logs
 * its calls and keeps an "active" flag in a file.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  AGENT_SERVICE,
  INSTALL_ROOT_VARIABLE,
  INSTALL_SCRIPT_LINES,
  STAGING_DIRECTORY,
} from '../../cdk/agent-install-document.ts';

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'pf-install-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const SYSTEMCTL = [
  '#!/bin/sh',
  'echo "$*" >> "$FAKE_SYSTEMCTL_LOG"',
  'case "$1" in',
  '  is-active) [ -f "$FAKE_SYSTEMCTL_ACTIVE" ] ;;',
  '  start|restart) : > "$FAKE_SYSTEMCTL_ACTIVE" ;;',
  'esac',
].join('\n');

let root: string;
let bin: string;
let round = 0;

function stage(agentText: string, unitText: string): void {
  for (const [dir, name, text] of [
    ['agent', 'hash1.mjs', agentText],
    ['unit', 'hash2.service', unitText],
  ] as const) {
    const path = join(root, STAGING_DIRECTORY, dir);
    rmSync(path, { recursive: true, force: true });
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, name), text);
  }
}

async function install(fleet: string) {
  const script = join(root, 'install.sh');
  writeFileSync(script, `${INSTALL_SCRIPT_LINES.join('\n')}\n`);
  const log = join(root, 'systemctl.log');
  writeFileSync(log, '');
  const env = {
    PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`,
    SSM_fleet: fleet,
    [INSTALL_ROOT_VARIABLE]: root,
    FAKE_SYSTEMCTL_LOG: log,
    FAKE_SYSTEMCTL_ACTIVE: join(root, 'active'),
  };
  const result = await run('sh', [script], { env, timeout: 10_000 }).then(
    (done) => ({ code: 0, ...done }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
  const calls = readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
  return { ...result, calls };
}

describe('the agent install script', () => {
  beforeEach(() => {
    round += 1;
    root = join(scratch, String(round));
    bin = join(root, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'systemctl'), SYSTEMCTL, { mode: 0o755 });
  });

  it('installs, names the fleet in a drop-in, and starts the service', async () => {
    stage('agent v1', '[Service]\n');

    const result = await install('prod');

    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      readFileSync(join(root, 'opt/passenger-fleet/agent.mjs'), 'utf8'),
      'agent v1',
    );
    const dropin = readFileSync(
      join(root, `etc/systemd/system/${AGENT_SERVICE}.d/fleet.conf`),
      'utf8',
    );
    assert.match(
      dropin,
      /^\[Service\]\nExecStart=\nExecStart=\/\S+node \/opt\/passenger-fleet\/agent\.mjs agent --fleet prod\n$/,
    );
    assert.deepEqual(result.calls.slice(0, 3), [
      `enable --quiet ${AGENT_SERVICE}`,
      'daemon-reload',
      `restart ${AGENT_SERVICE}`,
    ]);
  });

  it('leaves a running agent alone when nothing changed', async () => {
    stage('agent v1', '[Service]\n');
    await install('prod');

    const again = await install('prod');

    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /changed=0/);
    assert.ok(!again.calls.some((call) => call.startsWith('restart')));
  });

  it('restarts after a new bundle', async () => {
    stage('agent v1', '[Service]\n');
    await install('prod');
    stage('agent v2', '[Service]\n');

    const again = await install('prod');

    assert.ok(again.calls.includes(`restart ${AGENT_SERVICE}`));
    assert.equal(
      readFileSync(join(root, 'opt/passenger-fleet/agent.mjs'), 'utf8'),
      'agent v2',
    );
  });

  for (const fleet of ['', 'a b', 'x;reboot', '$(id)', 'f'.repeat(65)]) {
    it(`refuses the fleet ${JSON.stringify(fleet)} and installs nothing`, async () => {
      stage('agent v1', '[Service]\n');

      const result = await install(fleet);

      assert.equal(result.code, 64);
      assert.match(result.stderr, /the fleet parameter must be/);
      assert.deepEqual(result.calls, []);
    });
  }

  it('refuses when a download left no file', async () => {
    stage('agent v1', '[Service]\n');
    rmSync(join(root, STAGING_DIRECTORY, 'unit'), { recursive: true });
    mkdirSync(join(root, STAGING_DIRECTORY, 'unit'));

    const result = await install('prod');

    assert.equal(result.code, 66);
    assert.match(result.stderr, /expected exactly one downloaded file/);
    assert.deepEqual(result.calls, []);
  });
});
