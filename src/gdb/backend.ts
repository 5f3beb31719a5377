/**
 * Owns one gdb process in MI mode: spawn, line framing, token-matched command queue with
 * timeouts, and async records as typed events. Nothing kernel-specific lives here.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { GdbError, GdbExited, GdbTimeout } from './errors';
import { MIRecord, MITuple, parseMILine, quoteArg } from './mi/parser';

export interface GdbStartOptions {
  gdbPath: string;
  /** Extra arguments before the MI interpreter flag, e.g. `-iex` settings. */
  args?: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Default time a command may take before it is failed with GdbTimeout. */
  timeoutMs?: number;
}

export interface ExecEvent {
  cls: string;
  results: MITuple;
}

export interface GdbEvents {
  /** `*stopped`, `*running`: the target's state changed. */
  exec: [ExecEvent];
  /** `=thread-created`, `=library-loaded`, `=breakpoint-modified`, … */
  notify: [ExecEvent];
  /** `~` text that no command is waiting for (e.g. output while the target runs). */
  console: [string];
  /** `@` target output and `&` gdb log text. */
  log: [string];
  /** Every line in and out, for `trace: true`. */
  trace: ['send' | 'recv', string];
  exit: [GdbExited];
}

interface Pending {
  token: number;
  command: string;
  resolve: (r: MIResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
  console: string[];
  origin: Error;
}

export interface MIResult {
  cls: 'done' | 'running' | 'connected' | 'exit';
  results: MITuple;
  /** Console text gdb printed while running the command (for `-interpreter-exec console`). */
  console: string;
}

export class GdbBackend extends EventEmitter<GdbEvents> {
  private proc: ChildProcess | undefined;
  private nextToken = 1;
  private readonly pending = new Map<number, Pending>();
  private buffer = '';
  private stderrTail = '';
  private exited: GdbExited | undefined;
  private readonly timeoutMs: number;
  private onFirstPrompt: (() => void) | undefined;
  private gate: Promise<void> | undefined;

  constructor(private readonly options: GdbStartOptions) {
    super();
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  get running(): boolean {
    return this.proc !== undefined && this.exited === undefined;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Spawns gdb and waits for its first prompt. */
  async start(): Promise<void> {
    const args = ['-q', '-nx', ...(this.options.args ?? []), '--interpreter=mi3'];
    const proc = spawn(this.options.gdbPath, args, {
      cwd: this.options.cwd,
      env: { ...process.env, ...this.options.env, TERM: 'dumb' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.proc = proc;
    const ready = new Promise<void>((resolve, reject) => {
      this.onFirstPrompt = () => {
        this.onFirstPrompt = undefined;
        resolve();
      };
      proc.once('error', (err) => reject(new GdbExited(undefined, null, null, err.message)));
      proc.once('exit', () => reject(this.exited ?? new GdbExited(undefined, proc.exitCode, null, this.stderrTail)));
    });
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (chunk: string) => this.onData(chunk));
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-4000);
      this.emit('log', chunk);
    });
    proc.stdin!.on('error', () => undefined); // EPIPE after gdb died; 'exit' reports it.
    proc.on('exit', (code, signal) => this.onExit(code, signal));
    proc.on('error', (err) => {
      this.stderrTail += err.message;
      this.onExit(null, null);
    });
    await ready;
  }

  /** Sends an MI command built from an argument array; resolves with its result record. */
  send(operation: string, args: readonly string[] = [], timeoutMs?: number): Promise<MIResult> {
    const command = [operation, ...args.map(quoteArg)].join(' ');
    return this.sendRaw(command, timeoutMs);
  }

  /** Runs a CLI command through `-interpreter-exec console` and returns what it printed. */
  async console(cliCommand: string, timeoutMs?: number): Promise<string> {
    const r = await this.send('-interpreter-exec', ['console', cliCommand], timeoutMs);
    return r.console;
  }

  sendRaw(command: string, timeoutMs?: number): Promise<MIResult> {
    // Held by exclusive(): wait, in order, until it ends.
    if (this.gate) return this.gate.then(() => this.sendRaw(command, timeoutMs));
    return this.sendNow(command, timeoutMs);
  }

  /**
   * Runs `fn` with gdb to itself: what anyone else sends meanwhile waits until it ends. `fn`
   * sends through the handle it is given. For modes that change what every command means
   * (QEMU's physical-memory mode), so nothing else lands inside the mode.
   */
  async exclusive<T>(fn: (gdb: Pick<GdbBackend, 'send'>) => Promise<T>): Promise<T> {
    while (this.gate) await this.gate;
    let release!: () => void;
    this.gate = new Promise<void>((r) => (release = r));
    try {
      return await fn({ send: (operation, args = [], timeoutMs) => this.sendNow([operation, ...args.map(quoteArg)].join(' '), timeoutMs) });
    } finally {
      this.gate = undefined;
      release();
    }
  }

  private sendNow(command: string, timeoutMs?: number): Promise<MIResult> {
    const origin = new Error(); // keeps the caller's stack for the eventual error
    if (this.exited) return Promise.reject(new GdbExited(command, this.exited.exitCode, this.exited.signal, this.stderrTail));
    if (!this.proc) return Promise.reject(new Error('gdb is not started'));
    const token = this.nextToken++;
    return new Promise<MIResult>((resolve, reject) => {
      const ms = timeoutMs ?? this.timeoutMs;
      const entry: Pending = { token, command, resolve, reject, timer: undefined, console: [], origin };
      if (ms > 0 && Number.isFinite(ms)) {
        entry.timer = setTimeout(() => {
          this.pending.delete(token);
          reject(withStack(new GdbTimeout(command, ms), origin));
        }, ms);
      }
      this.pending.set(token, entry);
      const line = `${token}${command}\n`;
      this.emit('trace', 'send', line.trimEnd());
      this.proc!.stdin!.write(line);
    });
  }

  /** Sends SIGINT to gdb, which interrupts a running remote target (`-exec-interrupt` needs async mode). */
  interrupt(): void {
    if (this.proc?.pid && !this.exited) process.kill(this.proc.pid, 'SIGINT');
  }

  /** Asks gdb to exit, then kills it if it does not. Safe to call twice. */
  async stop(graceMs = 2000): Promise<void> {
    const proc = this.proc;
    if (!proc || this.exited) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    try {
      proc.stdin!.write('-gdb-exit\n');
    } catch {
      // pipe already closed
    }
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    if (line === '') return;
    this.emit('trace', 'recv', line);
    let record: MIRecord;
    try {
      record = parseMILine(line);
    } catch {
      record = { type: 'other', text: line };
    }
    switch (record.type) {
      case 'result':
        this.settle(record.token, record.cls, record.results);
        break;
      case 'exec':
        this.emit('exec', { cls: record.cls, results: record.results });
        break;
      case 'notify':
      case 'status':
        this.emit('notify', { cls: record.cls, results: record.results });
        break;
      case 'console': {
        // gdb runs one command at a time, so console text belongs to the oldest pending command.
        const oldest = this.pending.values().next().value as Pending | undefined;
        if (oldest) oldest.console.push(record.text);
        else this.emit('console', record.text);
        break;
      }
      case 'target':
      case 'log':
        this.emit('log', record.text);
        break;
      case 'other':
        this.emit('log', record.text + '\n');
        break;
      case 'prompt':
        this.onFirstPrompt?.();
        break;
    }
  }

  private settle(token: number | undefined, cls: string, results: MITuple): void {
    if (token === undefined) return;
    const entry = this.pending.get(token);
    if (!entry) return;
    this.pending.delete(token);
    if (entry.timer) clearTimeout(entry.timer);
    if (cls === 'error') {
      const msg = typeof results.msg === 'string' ? results.msg : 'gdb reported an error';
      const code = typeof results.code === 'string' ? results.code : undefined;
      entry.reject(withStack(new GdbError(entry.command, msg, code), entry.origin));
      return;
    }
    entry.resolve({ cls: cls as MIResult['cls'], results, console: entry.console.join('') });
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = new GdbExited(undefined, code, signal, this.stderrTail);
    for (const entry of this.pending.values()) {
      if (entry.timer) clearTimeout(entry.timer);
      entry.reject(withStack(new GdbExited(entry.command, code, signal, this.stderrTail), entry.origin));
    }
    this.pending.clear();
    this.emit('exit', this.exited);
  }
}

function withStack<E extends Error>(error: E, origin: Error): E {
  if (origin.stack) error.stack = `${error.name}: ${error.message}\n${origin.stack.split('\n').slice(1).join('\n')}`;
  return error;
}
