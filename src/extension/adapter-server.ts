/**
 * The adapter process of this window: dist/adapter.js started once with `--listen` on a socket in
 * a private directory, serving each debug session over its own connection (adapter/socket-server.ts).
 * Started when a kdap configuration is first resolved, so it comes up while VS Code prepares
 * the session, and kept for the next one. When it cannot start, or dies, sessions fall back to
 * an adapter process of their own, and the next one tries again.
 */
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ADAPTER_LISTENING } from '../adapter/protocol';

const START_MS = 10_000;

export interface RunningServer {
  readonly socket: string;
  readonly pid: number;
}

export class AdapterServer {
  private starting?: Promise<RunningServer | undefined>;
  private child?: cp.ChildProcess;
  private disposed = false;
  /** Why the last start failed, for the log. */
  lastError?: string;

  constructor(
    private readonly adapterJs: string,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** The running server, started if need be; undefined when it cannot start. */
  ensure(): Promise<RunningServer | undefined> {
    // Windows has named pipes, not sockets in a private directory: sessions there keep their own process.
    if (this.disposed || process.platform === 'win32') return Promise.resolve(undefined);
    this.starting ??= this.start();
    return this.starting;
  }

  /** Starts the server without waiting for it. */
  warm(): void {
    void this.ensure();
  }

  private start(): Promise<RunningServer | undefined> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-adapter-'));
    const socket = path.join(dir, 'dap.sock');
    const child = cp.spawn(process.execPath, [this.adapterJs, '--listen', socket], {
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr = (stderr + text).slice(-4000);
      for (const line of text.split('\n')) if (line.trim()) this.log(line);
    });
    child.stdin.on('error', () => undefined);
    const gone = (): void => {
      if (this.child === child) {
        this.child = undefined;
        this.starting = undefined;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    };
    return new Promise<RunningServer | undefined>((resolve) => {
      let out = '';
      let listening = false;
      const fail = (why: string): void => {
        this.lastError = why;
        this.log(`adapter server: ${why}`);
        resolve(undefined);
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        fail(`did not listen within ${START_MS / 1000} s`);
      }, START_MS);
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (text: string) => {
        out += text;
        if (listening || !out.includes(ADAPTER_LISTENING) || child.pid === undefined) return;
        listening = true;
        clearTimeout(timer);
        resolve({ socket, pid: child.pid });
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        gone();
        fail(err.message);
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        gone();
        const why = `exited (${signal ?? `code ${code}`})${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`;
        if (listening) this.log(`adapter server ${why}`);
        else fail(`${why} before it listened`);
      });
    });
  }

  /** Lets the server go: it ends its sessions and exits; killed if it has not within 5 s. */
  dispose(): void {
    this.disposed = true;
    const child = this.child;
    if (!child) return;
    child.stdin?.end();
    setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, 5000).unref();
  }
}
