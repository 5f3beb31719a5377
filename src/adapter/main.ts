/**
 * Entry point of dist/adapter.js: serves DAP on stdin/stdout (also `kdap dap`), or with
 * `--listen PATH` every session of a VS Code window on a local socket (socket-server.ts).
 */
import { DebugSession } from '@vscode/debugadapter';
import { KdapSession } from './session';
import { serveSocket } from './socket-server';

export function serveStdio(): void {
  DebugSession.run(KdapSession);
}

/** A server with no session for this long ends; the extension starts another when one is needed. */
const IDLE_MS = 15 * 60_000;

if (require.main === module) {
  const at = process.argv.indexOf('--listen');
  if (at >= 0 && process.argv[at + 1]) serveSocket(process.argv[at + 1], { idleMs: Number(process.env.KDAP_ADAPTER_IDLE_MS) || IDLE_MS });
  else serveStdio();
}
