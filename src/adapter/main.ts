/** Entry point of dist/adapter.js: serves DAP on stdin/stdout (also `kdap dap`). */
import { DebugSession } from '@vscode/debugadapter';
import { KdapSession } from './session';

export function serveStdio(): void {
  DebugSession.run(KdapSession);
}

if (require.main === module) serveStdio();
