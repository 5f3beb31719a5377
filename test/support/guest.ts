/**
 * Drives a booted guest's serial console: wait for text, run shell commands and read their
 * output and exit status. Works on anything that emits console text and accepts input,
 * such as a QemuProcess.
 *
 * The console text is normalised: carriage returns and terminal control sequences (busybox
 * ash sends ESC[6n, a cursor-position query, before every prompt) are removed.
 */
import { randomBytes } from 'node:crypto';

/** What GuestConsole needs: 'console' events with text, an 'exit' event, and write(). */
export interface ConsoleSource {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  on(event: string, listener: (...args: any[]) => void): unknown;
  write(data: string): boolean;
}

export interface RunResult {
  /** What the command printed (kernel messages that arrived meanwhile included), no trailing newline. */
  output: string;
  status: number;
}

interface Waiter {
  re: RegExp;
  from: number;
  resolve: (m: RegExpExecArray & { end: number }) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

// CSI sequences (ESC [ params final), other two-byte ESC sequences, and stray BEL.
const CONTROL = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|\x07/g;

export class GuestConsole {
  /** Normalised console text since this object was created. */
  text = '';
  private pending = '';
  private waiters: Waiter[] = [];
  private exited: string | undefined;
  private readonly nonce = randomBytes(3).toString('hex');
  private counter = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private lastData = Date.now();

  constructor(
    private readonly source: ConsoleSource,
    readonly prompt = 'guest# ',
  ) {
    source.on('console', (chunk: string) => this.feed(chunk));
    source.on('exit', (...args: unknown[]) => {
      this.exited = `the guest exited (${args.map((a) => JSON.stringify(a)).join(', ')})`;
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`${this.exited} while waiting for ${w.re}\n${this.tail()}`));
      }
    });
  }

  /** Adds raw console text (also usable without a source, e.g. for replayed logs). */
  feed(chunk: string): void {
    let s = this.pending + chunk;
    // Keep an escape sequence or a \r that may be cut at the chunk end for the next chunk.
    const esc = s.lastIndexOf('\x1b');
    if (esc >= 0 && esc > s.length - 16 && !/^\x1b(\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_])/.test(s.slice(esc))) {
      this.pending = s.slice(esc);
      s = s.slice(0, esc);
    } else {
      this.pending = '';
    }
    this.text += s.replace(CONTROL, '').replace(/\r/g, '');
    this.lastData = Date.now();
    this.check();
  }

  /** Current end of the text: pass it as `from` to look only at what comes next. */
  mark(): number {
    return this.text.length;
  }

  /** The last `chars` characters of the console, for error messages. */
  tail(chars = 3000): string {
    const t = this.text.slice(-chars);
    return `--- console tail ---\n${t}\n--- end of console ---`;
  }

  /** Resolves with the first match of `re` in the text after `from`; `end` is the offset after it. */
  waitFor(re: RegExp, timeoutMs = 60_000, from = 0): Promise<RegExpExecArray & { end: number }> {
    const found = this.match(re, from);
    if (found) return Promise.resolve(found);
    if (this.exited) return Promise.reject(new Error(`${this.exited} while waiting for ${re}\n${this.tail()}`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        re,
        from,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} on the guest console\n${this.tail()}`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Waits for the shell prompt after `from`. */
  waitForPrompt(timeoutMs = 60_000, from = 0): Promise<RegExpExecArray & { end: number }> {
    return this.waitFor(new RegExp(escapeRegExp(this.prompt)), timeoutMs, from);
  }

  /**
   * Resolves once the console has been silent for `quietMs`. Use it after a crash dump: while
   * the kernel prints an Oops it writes the UART without the port lock, so shell output that
   * comes at the same time gets interleaved with it character by character.
   */
  async quiet(quietMs = 500, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new Error(`${this.exited} while waiting for a quiet console\n${this.tail()}`);
      const idle = Date.now() - this.lastData;
      if (idle >= quietMs) return;
      if (Date.now() > deadline) throw new Error(`the console did not go quiet for ${quietMs} ms within ${timeoutMs} ms\n${this.tail()}`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(quietMs - idle + 5, 100)));
    }
  }

  /**
   * Types a command that crashes (Oops, BUG, panic) and waits for the kernel's report to end
   * (`---[ end trace` by default) and the console to go quiet. Resolves with the report text.
   * The command's own shell output is not collected: it may be interleaved with the report.
   */
  async crash(command: string, end: RegExp = /---\[ end (?:trace|Kernel panic)[^\n]*\]---/, timeoutMs = 60_000): Promise<string> {
    await this.queue;
    const from = this.mark();
    this.sendLine(command);
    const m = await this.waitFor(end, timeoutMs, from);
    await this.quiet(500, timeoutMs);
    return this.text.slice(from, m.end);
  }

  /** Types one line into the console. */
  sendLine(line: string): void {
    if (!this.source.write(`${line}\n`)) throw new Error(`cannot type into the guest: ${this.exited ?? 'console closed'}`);
  }

  /**
   * Runs a shell command (one line) and resolves with its output and exit status. Commands run
   * one at a time, in call order. Output is found between two markers that the shell prints
   * around the command; the typed line itself cannot match them (the markers are split by
   * quotes there).
   */
  run(command: string, timeoutMs = 60_000): Promise<RunResult> {
    const next = this.queue.then(() => this.runNow(command, timeoutMs));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async runNow(command: string, timeoutMs: number): Promise<RunResult> {
    if (command.includes('\n')) throw new Error('run() takes a single line');
    const id = `${this.nonce}x${++this.counter}`;
    const begin = `KDAPB${id}`;
    const end = `KDAPE${id}`;
    const from = this.mark();
    this.sendLine(`echo KDAP''B${id}; ${command}; echo KDAP''E${id}:$?`);
    // The status must be followed by something (normally \n) so that it is complete.
    const re = new RegExp(`${begin}\\n?([\\s\\S]*?)${end}:(\\d+)(?=\\D)`);
    let m: RegExpExecArray;
    try {
      m = await this.waitFor(re, timeoutMs, from);
    } catch (e) {
      throw new Error(`command \`${command}\` did not finish: ${(e as Error).message}`);
    }
    return { output: m[1].replace(/\n$/, ''), status: Number(m[2]) };
  }

  /** run(), and throws unless the command exited with status 0. */
  async sh(command: string, timeoutMs = 60_000): Promise<string> {
    const r = await this.run(command, timeoutMs);
    if (r.status !== 0) throw new Error(`\`${command}\` exited with status ${r.status}:\n${r.output}\n${this.tail(1500)}`);
    return r.output;
  }

  private match(re: RegExp, from: number): (RegExpExecArray & { end: number }) | undefined {
    const flags = re.flags.replace('g', '').replace('y', '');
    const r = new RegExp(re.source, flags);
    const m = r.exec(this.text.slice(from));
    if (!m) return undefined;
    const result = m as RegExpExecArray & { end: number };
    result.index += from;
    result.end = result.index + m[0].length;
    return result;
  }

  private check(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      const m = this.match(w.re, w.from);
      if (!m) return true;
      clearTimeout(w.timer);
      w.resolve(m);
      return false;
    });
  }
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
