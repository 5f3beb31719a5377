/**
 * `kdap dap`: the debug adapter on stdio, for any DAP client (nvim-dap, Emacs dape, …).
 * The adapter is its own bundle next to this one (dist/adapter.js), loaded when this command
 * runs: the CLI itself is built from the engine, kernel and oops layers only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { register } from './registry';

const help = `usage: kdap dap

Serves the Debug Adapter Protocol on stdin/stdout: kdap's debug adapter for any DAP client
(nvim-dap, Emacs dape, …). The launch and attach arguments are those of a "kdap" configuration
in VS Code's launch.json (kernel, vmlinux, initrd, append, remote, kgdb, …).`;

/** dist/adapter.js beside dist/cli.js; from a tsc build, out/src/adapter/main.js. */
function adapterModule(): string {
  const bundled = path.join(__dirname, 'adapter.js');
  return fs.existsSync(bundled) ? bundled : path.join(__dirname, '..', 'adapter', 'main.js');
}

register('dap', {
  summary: 'serve the Debug Adapter Protocol on stdin/stdout',
  help,
  run: async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a bundle of its own, found at run time
    const adapter = require(adapterModule()) as { serveStdio(): void };
    adapter.serveStdio();
    // The session owns the process from here; keep run() pending until stdin closes.
    await new Promise<void>((resolve) => process.stdin.on('close', resolve));
    return 0;
  },
});
