/**
 * A minimal LSP client over a child process's stdio: Content-Length framing, request/response
 * matching and a record of notifications, enough to drive dist/server.js in tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';

interface Message {
  id?: number;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { message: string };
}

export interface Notification {
  method: string;
  params: unknown;
  /** Order of arrival among all messages, to compare with responses. */
  seq: number;
}

export class LspClient {
  private readonly child: ChildProcess;
  private buffer = Buffer.alloc(0);
  private nextId = 1;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (m: Message & { seq: number }) => void }>();
  readonly notifications: Notification[] = [];
  private readonly listeners: Array<() => void> = [];
  stderr = '';

  constructor(serverJs: string) {
    this.child = spawn(process.execPath, [serverJs, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (chunk: Buffer) => this.receive(chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
  }

  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/Content-Length: (\d+)/i.exec(this.buffer.subarray(0, end).toString())?.[1]);
      if (this.buffer.length < end + 4 + length) return;
      const msg = JSON.parse(this.buffer.subarray(end + 4, end + 4 + length).toString()) as Message;
      this.buffer = this.buffer.subarray(end + 4 + length);
      const seq = this.seq++;
      if (msg.id !== undefined && msg.method === undefined) this.waiting.get(msg.id)?.resolve({ ...msg, seq });
      else if (msg.method && msg.id !== undefined) this.send({ id: msg.id, result: null }); // server → client requests
      else if (msg.method) {
        this.notifications.push({ method: msg.method, params: msg.params, seq });
        for (const l of this.listeners.splice(0)) l();
      }
    }
  }

  private send(msg: object): void {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...msg }));
    this.child.stdin!.write(`Content-Length: ${body.length}\r\n\r\n`);
    this.child.stdin!.write(body);
  }

  /** Sends a request; resolves with the result and the arrival order of the response. */
  request<T>(method: string, params: unknown): Promise<{ result: T; seq: number }> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, {
        resolve: (m) => (m.error ? reject(new Error(m.error.message)) : resolve({ result: m.result as T, seq: m.seq })),
      });
      this.send({ id, method, params });
    });
  }

  notify(method: string, params: unknown): void {
    this.send({ method, params });
  }

  /** The first notification (past or future) that satisfies `pred`. */
  async waitFor(pred: (n: Notification) => boolean): Promise<Notification> {
    for (;;) {
      const found = this.notifications.find(pred);
      if (found) return found;
      await new Promise<void>((resolve) => this.listeners.push(resolve));
    }
  }

  async close(): Promise<void> {
    await this.request('shutdown', null).catch(() => undefined);
    this.notify('exit', null);
    await new Promise<void>((resolve) => {
      if (this.child.exitCode !== null) return resolve();
      this.child.on('exit', () => resolve());
      setTimeout(() => this.child.kill(), 2000).unref();
    });
  }
}
