/**
 * NodejsFunction bundles with the local esbuild (a direct devDependency):
 * no Docker, no network. These tests bundle for real, once with the
 * stand-in handler and once with the controller's own, when it exists.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { REPOSITORY_ROOT } from '../../cdk/passenger-fleet-monitor.ts';
import { FIXTURE_PATHS, testStack } from './cdk-support.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pf-cdk-bundle-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const REAL_HANDLER = join(REPOSITORY_ROOT, 'lambdas/controller/handler.ts');

/** The bundled handler's text, from the synthesized asset directory. */
function bundledHandler(name: string, controllerEntry: string): string {
  const outdir = join(scratch, name);
  const app = new App({ outdir });
  testStack(app, { controllerEntry });
  app.synth();
  const bundles = readdirSync(outdir).filter((entry) =>
    existsSync(join(outdir, entry, 'index.mjs')),
  );
  assert.equal(bundles.length, 1, `one bundled asset in ${outdir}`);
  return readFileSync(join(outdir, bundles[0] ?? '', 'index.mjs'), 'utf8');
}

describe('controller bundling', () => {
  it('bundles an ES module with the require shim, locally', () => {
    const code = bundledHandler('fixture', FIXTURE_PATHS.controllerEntry);

    assert.match(code, /createRequire/);
    assert.match(code, /export\s*\{/);
  });

  it(
    'bundles the real controller handler',
    {
      skip: existsSync(REAL_HANDLER)
        ? false
        : 'lambdas/controller/handler.ts does not exist yet',
    },
    () => {
      const code = bundledHandler('real', REAL_HANDLER);

      assert.match(code, /handler/);
      assert.ok(!/from\s*["']@aws-sdk\//.test(code), 'the SDK is bundled in');
    },
  );
});
