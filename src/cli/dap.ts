/** `kdap dap`: the debug adapter on stdio, for any DAP client (nvim-dap, Emacs dape, …). */
import { KdapSession } from '../adapter/session';
import { DebugSession } from '@vscode/debugadapter';
import { register } from './registry';

register('dap', {
  summary: 'serve the Debug Adapter Protocol on stdin/stdout',
  run: async () => {
    DebugSession.run(KdapSession);
    // The session owns the process from here; keep run() pending until stdin closes.
    await new Promise<void>((resolve) => process.stdin.on('close', resolve));
    return 0;
  },
});
