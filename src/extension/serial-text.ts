/**
 * The text side of the guest console terminal, without vscode so it can be tested alone: which
 * sessions get one, line endings for a terminal, and what arrives before the terminal is open.
 */
import type { KdapConfiguration } from './debug';

/**
 * Whether a session will have guest console output to show: QEMU's serial port (launch), or
 * the console sharing a kgdb line. Other sessions get a terminal only if output does arrive.
 */
export function expectsConsole(config: KdapConfiguration): boolean {
  if (config.serialTerminal !== true) return false;
  if (config.request === 'launch') return config.serialConsole !== false;
  return config.request === 'attach' && !!config.kgdb && config.kgdb.shareConsole !== false;
}

/**
 * A terminal needs `\r\n` to get back to column 0, and a serial line does not always send it
 * (a guest tty without ONLCR, raw mode, firmware, a kgdb console). `\r\n` stays as it is, also
 * when a chunk ends between the two.
 */
export class CrlfTranslator {
  private lastWasCr = false;

  translate(text: string): string {
    if (text === '') return text;
    let out = '';
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      const prevCr = i === 0 ? this.lastWasCr : text[i - 1] === '\r';
      out += c === '\n' && !prevCr ? '\r\n' : c;
    }
    this.lastWasCr = text[text.length - 1] === '\r';
    return out;
  }
}

/**
 * Output held until the terminal opens. A kernel that boots before anyone looks can print a
 * lot: beyond `limit` characters the oldest go, and the terminal says how many.
 */
export class PendingOutput {
  private chunks: string[] = [];
  private size = 0;
  private dropped = 0;

  constructor(private readonly limit = 1 << 20) {}

  push(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    while (this.size > this.limit && this.chunks.length > 0) {
      const over = this.size - this.limit;
      const first = this.chunks[0];
      if (first.length <= over) {
        this.chunks.shift();
        this.size -= first.length;
        this.dropped += first.length;
      } else {
        this.chunks[0] = first.slice(over);
        this.size -= over;
        this.dropped += over;
      }
    }
  }

  /** Everything held, oldest first, and empties the buffer. */
  drain(): string {
    const note = this.dropped > 0 ? `[… ${this.dropped} earlier characters not shown]\r\n` : '';
    const text = note + this.chunks.join('');
    this.chunks = [];
    this.size = 0;
    this.dropped = 0;
    return text;
  }
}
