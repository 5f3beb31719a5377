/** `kdap dap`: the debug adapter on stdio, for any DAP client (nvim-dap, Emacs dape, …). */
import { KdapSession } from '../adapter/session';
import { DebugSession } from '@vscode/debugadapter';
import { register } from './registry';

const help = `usage: kdap dap

Serves the Debug Adapter Protocol on stdin/stdout: kdap's debug adapter for any DAP client
(nvim-dap, Emacs dape, …). The launch and attach arguments are those of a "kdap" configuration
in VS Code's launch.json (kernel, vmlinux, initrd, append, remote, kgdb, …).`;

register('dap', {
  summary: 'serve the Debug Adapter Protocol on stdin/stdout',
  help,
  run: async () => {
    DebugSession.run(KdapSession);
    // The session owns the process from here; keep run() pending until stdin closes.
    await new Promise<void>((resolve) => process.stdin.on('close', resolve));
    return 0;
  },
});
