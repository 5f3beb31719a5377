/**
 * gdb Remote Serial Protocol framing (gdb manual, "Overview" of Remote Protocol):
 *
 *   $<data>#<cc>   a packet; cc = sum of the data bytes as sent, mod 256, two hex digits
 *   %<data>#<cc>   a notification (non-stop mode), framed the same way
 *   + / -          acknowledgement of a good / damaged packet (until QStartNoAckMode)
 *   0x03           interrupt request from the debugger
 *
 * Inside data, `}` escapes the next byte (XOR 0x20): `$`, `#`, `}` and `*` are always sent
 * escaped. `X*N` is run-length encoding: X repeated N-29 more times (stubs may use it in
 * replies; gdb never sends it). Payloads are bytes (binary packets such as `X` and qXfer
 * replies carry raw bytes); for the text packets they are read as latin1.
 */

export const INTERRUPT = 0x03;

const DOLLAR = 0x24;
const PERCENT = 0x25;
const HASH = 0x23;
const ESCAPE = 0x7d;
const STAR = 0x2a;
const PLUS = 0x2b;
const MINUS = 0x2d;

export type WireItem =
  /** A packet whose checksum matched (`ok`) or did not. `payload` is unescaped and RLE-expanded. */
  | { kind: 'packet'; payload: Buffer; ok: boolean }
  | { kind: 'notification'; payload: Buffer; ok: boolean }
  | { kind: 'ack'; ok: boolean }
  | { kind: 'interrupt' }
  /** Bytes outside any packet that are none of the above (line noise, console text). */
  | { kind: 'noise'; byte: number };

/** Two lowercase hex digits of the checksum of `raw` (the bytes as sent between `$` and `#`). */
export function checksum(raw: Uint8Array): string {
  let sum = 0;
  for (const b of raw) sum = (sum + b) & 0xff;
  return sum.toString(16).padStart(2, '0');
}

/** `$`, `#`, `}` and `*` escaped, so any bytes can travel inside a packet. */
export function escapeBinary(data: Uint8Array): Buffer {
  let extra = 0;
  for (const b of data) if (needsEscape(b)) extra++;
  if (extra === 0) return Buffer.from(data);
  const out = Buffer.alloc(data.length + extra);
  let j = 0;
  for (const b of data) {
    if (needsEscape(b)) {
      out[j++] = ESCAPE;
      out[j++] = b ^ 0x20;
    } else out[j++] = b;
  }
  return out;
}

function needsEscape(b: number): boolean {
  return b === DOLLAR || b === HASH || b === ESCAPE || b === STAR;
}

/** The complete packet for a payload: `$<escaped payload>#<cc>`. */
export function encodePacket(payload: Uint8Array | string, kind: '$' | '%' = '$'): Buffer {
  const data = escapeBinary(typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload);
  return Buffer.concat([Buffer.from(kind, 'latin1'), data, Buffer.from(`#${checksum(data)}`, 'latin1')]);
}

/**
 * The data of a received packet: run-length runs expanded, then escapes removed. RLE is read
 * on the bytes as sent: a `*` that belongs to the data always travels escaped (`}\x0a`).
 */
export function decodeData(raw: Uint8Array): Buffer {
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i];
    if (b === ESCAPE && i + 1 < raw.length) {
      out.push(raw[++i] ^ 0x20);
    } else if (b === STAR && out.length > 0 && i + 1 < raw.length) {
      const repeat = raw[++i] - 29;
      const last = out[out.length - 1];
      for (let n = 0; n < repeat; n++) out.push(last);
    } else out.push(b);
  }
  return Buffer.from(out);
}

/**
 * Splits a byte stream into packets, notifications, acks and interrupt bytes. Keeps the
 * unfinished tail between feeds. A packet start (`$`) inside an unfinished packet restarts it:
 * the earlier one was cut off (gdb does the same).
 */
export class PacketDecoder {
  private raw: number[] = [];
  private state: 'idle' | 'data' | 'sum1' | 'sum2' = 'idle';
  private kind: 'packet' | 'notification' = 'packet';
  private sum = '';

  feed(chunk: Uint8Array): WireItem[] {
    const out: WireItem[] = [];
    for (const b of chunk) {
      switch (this.state) {
        case 'idle':
          if (b === DOLLAR || b === PERCENT) this.start(b);
          else if (b === PLUS || b === MINUS) out.push({ kind: 'ack', ok: b === PLUS });
          else if (b === INTERRUPT) out.push({ kind: 'interrupt' });
          else out.push({ kind: 'noise', byte: b });
          break;
        case 'data':
          if (b === HASH) {
            this.state = 'sum1';
          } else if (b === DOLLAR) {
            this.start(b);
          } else this.raw.push(b);
          break;
        case 'sum1':
          this.sum = String.fromCharCode(b);
          this.state = 'sum2';
          break;
        case 'sum2': {
          const raw = Uint8Array.from(this.raw);
          const ok = (this.sum + String.fromCharCode(b)).toLowerCase() === checksum(raw);
          out.push({ kind: this.kind, payload: decodeData(raw), ok });
          this.state = 'idle';
          this.raw = [];
          break;
        }
      }
    }
    return out;
  }

  /** True while part of a packet has been read. */
  get pending(): boolean {
    return this.state !== 'idle';
  }

  private start(b: number): void {
    this.kind = b === PERCENT ? 'notification' : 'packet';
    this.state = 'data';
    this.raw = [];
  }
}

// ---- hex ----

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Bytes of a hex string; throws on odd length or a non-hex digit. */
export function fromHex(text: string): Buffer {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) throw new SyntaxError(`not a hex byte string: ${text.slice(0, 40)}`);
  return Buffer.from(text, 'hex');
}

/** Text as the hex of its UTF-8 bytes (qRcmd, qThreadExtraInfo, `O` output). */
export function hexText(text: string): string {
  return Buffer.from(text, 'utf8').toString('hex');
}

/** A little-endian register value of `bytes` bytes as hex, the way `g` and `p` carry it. */
export function registerHex(value: bigint, bytes: number): string {
  const out = Buffer.alloc(bytes);
  let v = BigInt.asUintN(bytes * 8, value);
  for (let i = 0; i < bytes; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out.toString('hex');
}

/** The value of a little-endian register in hex; undefined when it reads as unavailable (`xx…`). */
export function parseRegisterHex(hex: string): bigint | undefined {
  if (/^x+$/i.test(hex)) return undefined;
  const bytes = fromHex(hex);
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

/** `1f` → 31n; throws on anything that is not hex. */
export function parseHexNumber(text: string): bigint {
  if (!/^[0-9a-fA-F]+$/.test(text)) throw new SyntaxError(`not a hex number: ${text.slice(0, 40)}`);
  return BigInt(`0x${text}`);
}
