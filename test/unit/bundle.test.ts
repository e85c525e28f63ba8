/**
 * The agent bundle as a host runs it: built by scripts/bundle.mjs, copied
 * alone into a directory with no node_modules anywhere above it, and run
 * with `node` and nothing else.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { runCommand, type CommandResult } from '../e2e/support/command.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

let buildDir: string;
let hostDir: string;
let bundle: string;

function runBundle(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CommandResult> {
  return runCommand(process.execPath, [bundle, ...args], {
    cwd: hostDir,
    timeoutMs: 20_000,
    // nothing of the project's environment: no NODE_OPTIONS, no tsx
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
  });
}

describe('the agent bundle', { timeout: 120_000 }, () => {
  before(async () => {
    buildDir = await mkdtemp(join(tmpdir(), 'pfleet-bundle-build-'));
    hostDir = await mkdtemp(join(tmpdir(), 'pfleet-bundle-host-'));
    const built = join(buildDir, 'agent.mjs');
    const result = await runCommand(
      process.execPath,
      ['scripts/bundle.mjs', built],
      { cwd: PROJECT_ROOT, timeoutMs: 90_000 },
    );
    assert.equal(result.exitCode, 0, `bundle failed:\n${result.stderr}`);
    bundle = join(hostDir, 'agent.mjs');
    await copyFile(built, bundle);
  });

  after(async () => {
    for (const dir of [buildDir, hostDir]) {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });

  it('offers agent and execute, and nothing that needs a native addon', async () => {
    const result = await runBundle(['--help']);

    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^\s+agent \[options\]/m);
    assert.match(result.stdout, /^\s+execute \[options\]/m);
    assert.doesNotMatch(result.stdout, /^\s+(enforce|workers)\b/m);
  });

  it('refuses orders with bad values, exit 64, and signals nothing', async () => {
    const result = await runBundle(['execute'], {
      AWS_SSM_INSTANCE_ID: 'i-0123456789abcdef0',
      SSM_instanceId: 'i-0123456789abcdef0',
      SSM_app: 'shop',
      SSM_measure: 'private',
      SSM_notAfter: String(Math.floor(Date.now() / 1000) + 60),
      SSM_orders: '4242:1:force-kill:-:-:-; kill -9 1',
    });

    assert.equal(result.exitCode, 64, result.stderr);
    assert.match(result.stdout, /^PF-REJECTED \{.*"field":"orders"/m);
    assert.match(result.stdout, /^PF-DONE \{"v":1,"orders":0,/m);
    assert.match(result.stderr, /no order was carried out/);
  });

  it('starts the agent, which stops with exit 69 when IMDS does not answer', async () => {
    const result = await runBundle([
      'agent',
      '--fleet',
      'prod',
      '--imds-endpoint',
      'http://127.0.0.1:9',
    ]);

    assert.equal(result.exitCode, 69, result.stderr);
    assert.match(result.stderr, /instance metadata service did not tell/);
  });
});
