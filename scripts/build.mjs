// Bundles the four entry points with esbuild. `--production` minifies (for the vsix and the npm
// package), `--watch` rebuilds on change, `--outdir DIR` writes somewhere other than dist/.
// scripts/package.mjs imports bundle() to build into its staging folder.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;

const entries = {
  extension: 'src/extension/main.ts',
  adapter: 'src/adapter/main.ts',
  server: 'src/server/main.ts',
  cli: 'src/cli/main.ts',
};

function options({ production = false, outdir = path.join(root, 'dist') } = {}) {
  return {
    entryPoints: Object.fromEntries(Object.entries(entries).map(([name, file]) => [name, path.join(root, file)])),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outdir,
    external: ['vscode'],
    sourcemap: production ? false : 'linked',
    minify: production,
    logLevel: 'warning',
    // `kdap --version` tells the version it was built as.
    define: { KDAP_VERSION: JSON.stringify(version) },
    banner: {},
  };
}

/** The CLI is run directly as `kdap`, so it needs a shebang and the exec bit. */
function makeExecutable(outdir) {
  const cli = path.join(outdir, 'cli.js');
  const text = fs.readFileSync(cli, 'utf8');
  if (!text.startsWith('#!')) fs.writeFileSync(cli, '#!/usr/bin/env node\n' + text);
  fs.chmodSync(cli, 0o755);
}

/** One build of the four bundles into `outdir`. */
export async function bundle(opts = {}) {
  const o = options(opts);
  await esbuild.build(o);
  makeExecutable(o.outdir);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const production = argv.includes('--production');
  const at = argv.indexOf('--outdir');
  const outdir = at >= 0 ? path.resolve(argv[at + 1]) : undefined;
  if (argv.includes('--watch')) {
    const ctx = await esbuild.context(options({ production, outdir }));
    await ctx.watch();
    console.log('esbuild: watching');
  } else {
    await bundle({ production, outdir });
  }
}
