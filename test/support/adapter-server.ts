/**
 * `dist/adapter.js --listen` started as the extension starts it (a socket in a private
 * directory), for the tests and benches that drive the adapter process a window keeps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { adapterJs } from './dap';

export interface AdapterServer {
  proc: ChildProcess;
  socket: string;
  /** The private directory the socket is in; remove it when done. */
  dir: string;
  /** What the server wrote to stderr so far. */
  stderr: string;
}

/** Starts the server (with `env` added to this process's) and resolves once it says it listens. */
export async function startAdapterServer(env: NodeJS.ProcessEnv = {}, adapter = adapterJs): Promise<AdapterServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-adapter-'));
  const socket = path.join(dir, 'dap.sock');
  const proc = spawn(process.execPath, [adapter, '--listen', socket], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const server: AdapterServer = { proc, socket, dir, stderr: '' };
  proc.stderr!.on('data', (d: Buffer) => (server.stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the adapter server did not say it listens; stderr: ${server.stderr}`)), 20_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes(`listening on ${socket}`)) return;
      clearTimeout(timer);
      resolve();
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the adapter server exited (${code}): ${server.stderr}`));
    });
  });
  return server;
}
