/**
 * One adapter process serving every debug session of a VS Code window over a local socket
 * (`dist/adapter.js --listen PATH`), so a session does not wait for a Node process to start and
 * load the adapter (~85 ms, more than a tenth of an attach).
 *
 * The socket lives in a directory only its owner may enter (the extension makes it with
 * mkdtemp, mode 0700): whoever connects can run gdb. A client that goes away without a
 * `disconnect` ends its session as a disconnect would (QEMU started by it killed, a kernel
 * attached to detached). The process ends when its stdin closes (the extension host is gone or
 * let it go), after ending every session, or after `idleMs` without a session.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { ADAPTER_LISTENING } from './protocol';
import { KdapSession } from './session';

export interface SocketServerOptions {
  /** Exit after this long with no session connected. */
  idleMs: number;
  /** How long ending the sessions may take when the process is told to end. */
  endMs?: number;
}

export function serveSocket(socketPath: string, options: SocketServerOptions): void {
  const sessions = new Set<KdapSession>();
  let idleTimer: NodeJS.Timeout | undefined;
  let ending = false;

  const armIdle = (): void => {
    clearTimeout(idleTimer);
    if (sessions.size === 0 && !ending) idleTimer = setTimeout(() => void endAll('idle'), options.idleMs);
  };

  const server = net.createServer((socket) => {
    if (ending) {
      socket.destroy();
      return;
    }
    clearTimeout(idleTimer);
    const session = new KdapSession();
    session.setRunAsServer(true);
    sessions.add(session);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      void session.clientGone().finally(() => {
        sessions.delete(session);
        armIdle();
      });
    });
    session.start(socket, socket);
  });

  async function endAll(why: string): Promise<void> {
    if (ending) return;
    ending = true;
    clearTimeout(idleTimer);
    server.close();
    const ended = Promise.all([...sessions].map((s) => s.clientGone()));
    const late = new Promise((resolve) => setTimeout(resolve, options.endMs ?? 5000).unref());
    await Promise.race([ended, late]);
    fs.rmSync(socketPath, { force: true });
    process.stderr.write(`kdap adapter: ${why}, exiting\n`);
    process.exit(0);
  }

  server.on('error', (err) => {
    process.stderr.write(`kdap adapter: cannot listen on ${socketPath}: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(socketPath, () => {
    process.stdout.write(`${ADAPTER_LISTENING} on ${socketPath}\n`);
    armIdle();
  });
  process.stdin.on('end', () => void endAll('the extension host let go'));
  process.stdin.on('error', () => void endAll('the extension host is gone'));
  process.stdin.resume();
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => void endAll(sig));
}
