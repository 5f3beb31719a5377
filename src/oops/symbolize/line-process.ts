/**
 * A long-lived helper process spoken to line by line over stdin/stdout, the way llvm-symbolizer
 * and addr2line are meant to be used as "server children" (both flush stdout after every answer).
 *
 * - Started on the first exchange, not before; stopped after `idleMs` without work and started
 *   again when needed, so an editor that shows one crash log an hour does not keep 400 MB of
 *   DWARF state alive.
 * - Exchanges are pipelined: each one is written as soon as it is queued, and the answer lines
 *   are handed to the oldest unfinished exchange until its `complete` predicate says it has
 *   them all. The process answers in order, so that is enough to keep them apart.
 * - A process that exits, fails to start or stops answering rejects every open exchange; the
 *   next exchange starts a new one.
 * - Every process is killed on dispose, and `liveProcessIds()` lists those not yet reaped, so
 *   tests can prove nothing leaks.
 *
 * Arguments are always an array (no shell); nothing from a crash log ever becomes an argument.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface LineProcessOptions {
  program: string;
  args: readonly string[];
  /** Stop the process after this long without an exchange; 0 keeps it until dispose. */
  idleMs: number;
  /** An exchange that gets no complete answer in this time kills the process. */
  timeoutMs?: number;
  /** Name for error messages (`llvm-symbolizer vmlinux`). */
  label: string;
}

export class ToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolError';
  }
}

interface Exchange {
  lines: string[];
  complete: (lines: readonly string[]) => boolean;
  resolve: (lines: string[]) => void;
  reject: (err: Error) => void;
}

const live = new Set<number>();

/** Pids of helper processes started here and not yet exited. */
export function liveProcessIds(): number[] {
  return [...live];
}

const DEFAULT_TIMEOUT_MS = 120_000;
const STDERR_KEEP = 4096;

export class LineProcess {
  private child: ChildProcessWithoutNullStreams | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly open: Exchange[] = [];
  private partial = '';
  private stderr = '';
  private idleTimer: NodeJS.Timeout | undefined;
  private answerTimer: NodeJS.Timeout | undefined;
  private disposed = false;
  /** How many processes were started over this object's life (for tests and benchmarks). */
  starts = 0;

  constructor(private readonly options: LineProcessOptions) {}

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Writes `input` (whole lines, newline-terminated) and resolves with the answer lines once
   * `complete(linesSoFar)` returns true.
   */
  exchange(input: string, complete: (lines: readonly string[]) => boolean): Promise<string[]> {
    if (this.disposed) return Promise.reject(new ToolError(`${this.options.label}: already disposed`));
    return new Promise<string[]>((resolve, reject) => {
      let child: ChildProcessWithoutNullStreams;
      try {
        child = this.ensure();
      } catch (err) {
        reject(err instanceof Error ? err : new ToolError(String(err)));
        return;
      }
      this.open.push({ lines: [], complete, resolve, reject });
      this.clearIdle();
      this.armAnswerTimer();
      child.stdin.write(input);
    });
  }

  private ensure(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const child = spawn(this.options.program, [...this.options.args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.starts++;
    this.partial = '';
    this.stderr = '';
    if (child.pid !== undefined) live.add(child.pid);
    const pid = child.pid;
    this.exited = new Promise<void>((resolve) => {
      let done = false;
      const finish = (why: string) => {
        if (done) return;
        done = true;
        if (pid !== undefined) live.delete(pid);
        if (this.child === child) {
          this.child = undefined;
          this.failAll(new ToolError(`${this.options.label}: ${why}${this.stderr ? `: ${this.stderr.trim()}` : ''}`));
        }
        resolve();
      };
      child.on('exit', (code, signal) => finish(signal ? `killed by ${signal}` : `exited with status ${code}`));
      child.on('error', (err: NodeJS.ErrnoException) =>
        finish(err.code === 'ENOENT' ? `${this.options.program} not found` : `cannot run ${this.options.program}: ${err.message}`),
      );
    });
    child.stdout.setEncoding('utf8');
    // A stopped process may still flush; its lines must not reach the next process's exchanges.
    child.stdout.on('data', (chunk: string) => {
      if (this.child === child) this.receive(chunk);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_KEEP);
    });
    // A write after the process died must not become an unhandled 'error' event.
    child.stdin.on('error', () => undefined);
    return child;
  }

  private receive(chunk: string): void {
    const text = this.partial + chunk;
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      const ex = this.open[0];
      if (!ex) continue; // Output nobody asked for (a banner): dropped.
      ex.lines.push(line.endsWith('\r') ? line.slice(0, -1) : line);
      if (ex.complete(ex.lines)) {
        this.open.shift();
        ex.resolve(ex.lines);
      }
    }
    if (this.open.length === 0) {
      this.clearAnswerTimer();
      this.armIdle();
    } else {
      this.armAnswerTimer();
    }
  }

  private failAll(err: Error): void {
    this.clearAnswerTimer();
    for (const ex of this.open.splice(0)) ex.reject(err);
  }

  private armIdle(): void {
    this.clearIdle();
    if (this.options.idleMs <= 0) return;
    this.idleTimer = setTimeout(() => void this.stop(), this.options.idleMs);
    this.idleTimer.unref();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private armAnswerTimer(): void {
    this.clearAnswerTimer();
    const ms = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.answerTimer = setTimeout(() => {
      const child = this.child;
      this.failAll(new ToolError(`${this.options.label}: no answer within ${ms} ms`));
      child?.kill('SIGKILL');
    }, ms);
    this.answerTimer.unref();
  }

  private clearAnswerTimer(): void {
    if (this.answerTimer) clearTimeout(this.answerTimer);
    this.answerTimer = undefined;
  }

  /** Ends the process (if any) and resolves once it has been reaped. Open exchanges are rejected. */
  async stop(): Promise<void> {
    this.clearIdle();
    const child = this.child;
    if (child) {
      this.child = undefined;
      this.failAll(new ToolError(`${this.options.label}: stopped`));
      // Closing stdin is enough for both tools; the signal covers one that is busy.
      child.stdin.end();
      child.kill('SIGTERM');
      const exited = this.exited;
      const hard = setTimeout(() => child.kill('SIGKILL'), 2000);
      hard.unref();
      await exited;
      clearTimeout(hard);
    }
  }

  /** Stops for good: later exchanges reject. */
  dispose(): Promise<void> {
    this.disposed = true;
    return this.stop();
  }
}
