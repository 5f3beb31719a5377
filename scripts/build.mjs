// Bundles the four entry points with esbuild. `--production` minifies (for the vsix),
// `--watch` rebuilds on change.
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const entries = {
  extension: 'src/extension/main.ts',
  adapter: 'src/adapter/main.ts',
  server: 'src/server/main.ts',
  cli: 'src/cli/main.ts',
};

const options = {
  entryPoints: entries,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outdir: 'dist',
  external: ['vscode'],
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  banner: {},
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log('esbuild: watching');
} else {
  await esbuild.build(options);
  // The CLI is run directly as `kdap`, so it needs a shebang and the exec bit.
  const fs = await import('node:fs');
  const cli = 'dist/cli.js';
  const text = fs.readFileSync(cli, 'utf8');
  if (!text.startsWith('#!')) fs.writeFileSync(cli, '#!/usr/bin/env node\n' + text);
  fs.chmodSync(cli, 0o755);
}
