/**
 * Builds the fleet agent as one self-contained ES module that runs with
 * `node` alone (no npm install on the host):
 *
 *   node scripts/bundle.mjs [outfile]    default dist-bundle/agent.mjs
 *
 * Entry agent/fleet-main.ts (`agent` and `execute` only). Some bundled
 * dependencies are CommonJS and call `require` for Node's built-ins; the
 * banner gives the module a real `require` for them. A native addon
 * (better-sqlite3) cannot live in the bundle: the build fails if one
 * reaches it.
 */
import { build } from 'esbuild';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = resolve(process.argv[2] ?? join(root, 'dist-bundle/agent.mjs'));

const result = await build({
  absWorkingDir: root,
  entryPoints: ['agent/fleet-main.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  banner: {
    js: [
      "import { createRequire as __pfCreateRequire } from 'node:module';",
      'const require = __pfCreateRequire(import.meta.url);',
    ].join('\n'),
  },
});

const native = Object.keys(result.metafile.inputs).filter(
  (input) => input.includes('better-sqlite3') || input.endsWith('.node'),
);
if (native.length > 0) {
  console.error(
    `bundle: native code reached the agent bundle: ${native.join(', ')}`,
  );
  process.exit(1);
}
const bytes = result.metafile.outputs[relative(root, outfile)]?.bytes;
console.log(
  `bundle: wrote ${relative(process.cwd(), outfile)}` +
    (bytes === undefined ? '' : ` (${Math.round(bytes / 1024)} kB)`),
);
