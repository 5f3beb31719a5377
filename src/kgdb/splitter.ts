/**
 * The console splitter: one byte stream from the target (kernel console text and kgdb's RSP
 * packets on the same UART, kgdboc=ttyS0 with console=ttyS0) into packets for gdb and text for
 * the user, the job agent-proxy does for kgdb users on the command line.
 *
 * How a byte is classified:
 * - `$` or `%` opens a candidate packet. It becomes a packet when `#` and two hex digits follow
 *   and the checksum matches. It falls back to console text when a byte no kgdb packet holds
 *   arrives first (a control character, a line end, a non-ASCII byte), when it grows past
 *   `maxPacket`, or when `expire()` is called because the line went quiet mid-candidate (a shell
 *   prompt `$ ` waits for input forever). A new `$` inside a candidate restarts it there.
 * - A complete frame whose checksum does not match is reported as `bad-packet`: the owner
 *   decides (while kgdb is talking it is a damaged packet gdb must NAK; otherwise console text).
 * - `+` and `-` are acknowledgements only while one is owed (`owe()` after each packet sent to
 *   the target); any other time they are console text. A non-ack byte while acks are owed means
 *   nothing on the other side is reading packets (the kernel runs, a shell got them): the debt is
 *   dropped.
 *
 * Pure: no timers, no I/O; the proxy feeds bytes, calls expire() from its idle timer, and acts
 * on the events.
 */

export type SplitEvent =
  | { kind: 'packet'; payload: string; raw: Buffer; notification: boolean }
  | { kind: 'bad-packet'; payload: string; raw: Buffer }
  | { kind: 'ack'; ok: boolean; owner: AckOwner }
  | { kind: 'console'; data: Buffer };

/** Who sent the packet an ack answers: gdb (forward the ack) or the proxy itself (swallow it). */
export type AckOwner = 'gdb' | 'proxy';

export interface SplitterOptions {
  /** Longest payload taken for a packet (kgdb's BUFMAX is 1024 or 2048). Default 4096. */
  maxPacket?: number;
}

const DOLLAR = 0x24;
const PERCENT = 0x25;
const HASH = 0x23;
const PLUS = 0x2b;
const MINUS = 0x2d;

const isHex = (b: number): boolean => (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46);
/** Bytes a kgdb payload may hold: printable ASCII. */
const isPayloadByte = (b: number): boolean => b >= 0x20 && b <= 0x7e;

export class ConsoleSplitter {
  private readonly maxPacket: number;
  /** Bytes of the open candidate packet, from its `$`/`%`. */
  private candidate: number[] | undefined;
  /** Index of `#` in the candidate, once seen. */
  private hashAt = -1;
  private text: number[] = [];
  private readonly owed: AckOwner[] = [];

  constructor(options: SplitterOptions = {}) {
    this.maxPacket = options.maxPacket ?? 4096;
  }

  /** A packet was just sent to the target: its ack (`+`/`-`) is the next one to come. */
  owe(owner: AckOwner): void {
    this.owed.push(owner);
  }

  /** Acks still expected. */
  get owedAcks(): number {
    return this.owed.length;
  }

  /** True while a candidate packet is open (the owner's idle timer should call expire()). */
  get pending(): boolean {
    return this.candidate !== undefined;
  }

  feed(chunk: Uint8Array): SplitEvent[] {
    const out: SplitEvent[] = [];
    for (const b of chunk) this.byte(b, out);
    this.flushText(out);
    return out;
  }

  /** The line went quiet with a candidate open: it was console text after all. */
  expire(): SplitEvent[] {
    const out: SplitEvent[] = [];
    if (this.candidate) {
      this.text.push(...this.candidate);
      this.candidate = undefined;
    }
    this.flushText(out);
    return out;
  }

  private byte(b: number, out: SplitEvent[]): void {
    const c = this.candidate;
    if (c === undefined) {
      if (b === DOLLAR || b === PERCENT) {
        this.open(b, out);
      } else if ((b === PLUS || b === MINUS) && this.owed.length > 0) {
        this.flushText(out);
        out.push({ kind: 'ack', ok: b === PLUS, owner: this.owed.shift()! });
      } else {
        // Something that is not an ack came first: nobody is reading packets over there.
        if (this.owed.length > 0 && b !== 0x0d && b !== 0x0a) this.owed.length = 0;
        this.text.push(b);
      }
      return;
    }
    if (this.hashAt >= 0) {
      if (!isHex(b)) return this.abandon(b, out);
      c.push(b);
      if (c.length === this.hashAt + 3) this.close(out);
      return;
    }
    if (b === HASH) {
      c.push(b);
      this.hashAt = c.length - 1;
      return;
    }
    if (b === DOLLAR || b === PERCENT) {
      // A packet start inside a candidate: what came before was text.
      this.text.push(...c);
      this.open(b, out);
      return;
    }
    if (!isPayloadByte(b) || c.length - 1 >= this.maxPacket) return this.abandon(b, out);
    c.push(b);
  }

  private open(b: number, out: SplitEvent[]): void {
    this.flushText(out);
    this.candidate = [b];
    this.hashAt = -1;
  }

  /** The candidate was not a packet: it and `b` are text (`b` may open a new candidate). */
  private abandon(b: number, out: SplitEvent[]): void {
    this.text.push(...this.candidate!);
    this.candidate = undefined;
    this.hashAt = -1;
    this.byte(b, out);
  }

  private close(out: SplitEvent[]): void {
    const raw = Buffer.from(this.candidate!);
    const hashAt = this.hashAt;
    this.candidate = undefined;
    this.hashAt = -1;
    const body = raw.subarray(1, hashAt);
    let sum = 0;
    for (const x of body) sum = (sum + x) & 0xff;
    const sent = parseInt(raw.subarray(hashAt + 1).toString('latin1'), 16);
    const payload = body.toString('latin1');
    if (sum === sent) out.push({ kind: 'packet', payload, raw, notification: raw[0] === PERCENT });
    else out.push({ kind: 'bad-packet', payload, raw });
  }

  private flushText(out: SplitEvent[]): void {
    if (this.text.length === 0) return;
    out.push({ kind: 'console', data: Buffer.from(this.text) });
    this.text = [];
  }
}
