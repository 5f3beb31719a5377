/**
 * The byte line to a kgdb target: a serial device (`/dev/ttyUSB0` at a baud rate), a raw TCP
 * serial port (`tcp:HOST:PORT`: QEMU `-serial tcp::PORT,server`, ser2net raw mode) or a telnet
 * one (`telnet:HOST:PORT`: QEMU `-serial telnet::PORT,server`, ser2net telnet mode).
 *
 * What differs between them is only whether a BREAK can be sent: a serial device and a telnet
 * server can (SysRq on the console port is BREAK then a key), a raw TCP port cannot.
 *
 * Serial devices go through @serialport/bindings-cpp, loaded on first use, so TCP users never
 * load a native module.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import type { BindingPortInterface } from '@serialport/bindings-interface';
import { TELNET_BREAK, TelnetDecoder, telnetEscape } from './telnet';

export type LinkSpec =
  | { kind: 'tcp' | 'telnet'; host: string; port: number }
  | { kind: 'serial'; path: string; baud: number };

export interface LinkEvents {
  data: [Buffer];
  /** The line is gone (peer closed, device unplugged); the reason in words. */
  close: [string];
}

export interface KgdbLink extends EventEmitter<LinkEvents> {
  readonly spec: LinkSpec;
  /** BREAK is possible on this line. */
  readonly canBreak: boolean;
  readonly open: boolean;
  write(data: Uint8Array | string): void;
  /** Holds the line in the break condition for `ms`. Throws where the line has no BREAK. */
  sendBreak(ms?: number): Promise<void>;
  close(): Promise<void>;
}

/** `tcp:host:port`, `telnet:host:port`, `host:port` (= tcp), or a device path. */
export function parseLinkSpec(text: string, baud = 115200): LinkSpec {
  const m = /^(?:(tcp|telnet):)?(\[[^\]]+\]|[^:/\s]*):(\d+)$/.exec(text.trim());
  if (m) {
    const port = Number(m[3]);
    if (port < 1 || port > 65535) throw new Error(`bad TCP port in ${JSON.stringify(text)}`);
    return { kind: (m[1] as 'tcp' | 'telnet' | undefined) ?? 'tcp', host: m[2].replace(/^\[|\]$/g, '') || '127.0.0.1', port };
  }
  if (/^(\/|COM\d+$|\\\\\.\\)/i.test(text)) {
    if (!Number.isInteger(baud) || baud < 50 || baud > 4_000_000) throw new Error(`bad baud rate ${baud}`);
    return { kind: 'serial', path: text, baud };
  }
  throw new Error(`${JSON.stringify(text)} is neither a serial device (/dev/ttyUSB0) nor tcp:HOST:PORT / telnet:HOST:PORT`);
}

export function describeLink(spec: LinkSpec): string {
  return spec.kind === 'serial' ? `${spec.path} at ${spec.baud} baud` : `${spec.kind}:${spec.host}:${spec.port}`;
}

export async function openLink(spec: LinkSpec, timeoutMs = 10_000): Promise<KgdbLink> {
  if (spec.kind === 'serial') return SerialLink.open(spec);
  return TcpLink.open(spec, timeoutMs);
}

class TcpLink extends EventEmitter<LinkEvents> implements KgdbLink {
  private readonly decoder: TelnetDecoder | undefined;
  private closed = false;

  private constructor(readonly spec: LinkSpec & { kind: 'tcp' | 'telnet' }, private readonly socket: net.Socket) {
    super();
    this.decoder = spec.kind === 'telnet' ? new TelnetDecoder() : undefined;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      const data = this.decoder ? this.decoder.feed(chunk) : chunk;
      if (data.length > 0) this.emit('data', data);
    });
    socket.on('error', () => undefined); // 'close' follows and reports it
    socket.on('close', (hadError) => this.ended(hadError ? 'connection reset' : 'closed by the other end'));
  }

  static open(spec: LinkSpec & { kind: 'tcp' | 'telnet' }, timeoutMs: number): Promise<TcpLink> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: spec.host, port: spec.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no connection to ${describeLink(spec)} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new TcpLink(spec, socket));
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to ${describeLink(spec)}: ${e.message}`));
      });
    });
  }

  get canBreak(): boolean {
    return this.spec.kind === 'telnet';
  }

  get open(): boolean {
    return !this.closed;
  }

  write(data: Uint8Array | string): void {
    if (this.closed) return;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.socket.write(this.decoder ? telnetEscape(bytes) : bytes);
  }

  async sendBreak(): Promise<void> {
    if (!this.canBreak) throw new Error(`a raw TCP line (${describeLink(this.spec)}) cannot carry a BREAK; use telnet:HOST:PORT`);
    this.socket.write(TELNET_BREAK);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      // QEMU does not always answer a half-close: give it a moment, then drop the socket.
      const timer = setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, 500);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.end();
    });
    this.ended('closed');
  }

  private ended(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close', why);
  }
}

type SerialBinding = { open(options: { path: string; baudRate: number; hupcl?: boolean; lock?: boolean }): Promise<BindingPortInterface> };

/** The native binding, required by a computed name so bundlers leave it for run time. */
function serialBinding(): SerialBinding {
  const name = '@serialport/bindings-cpp';
  let mod: { autoDetect(): SerialBinding };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(name) as typeof mod;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // The universal vsix ships without it; the per-platform ones and the npm package have it.
    if (err.code === 'MODULE_NOT_FOUND' && err.message.includes(`'${name}'`)) {
      throw new Error(
        `this build of kdap has no serial-port support (${name} is not part of it). Install the kdap package built for this platform ` +
          '(kdap-linux-x64.vsix, kdap-linux-arm64.vsix, …), or reach the line over TCP: "port": "tcp:HOST:PORT" (ser2net, QEMU -serial tcp::PORT,server)',
      );
    }
    throw new Error(`serial ports need the ${name} package, which failed to load (${err.message}); use a tcp: line (ser2net) instead`);
  }
  return mod.autoDetect();
}

class SerialLink extends EventEmitter<LinkEvents> implements KgdbLink {
  private closed = false;
  private writing: Promise<void> = Promise.resolve();

  private constructor(readonly spec: LinkSpec & { kind: 'serial' }, private readonly port: BindingPortInterface) {
    super();
    void this.readLoop();
  }

  static async open(spec: LinkSpec & { kind: 'serial' }): Promise<SerialLink> {
    let port: BindingPortInterface;
    try {
      // hupcl off: closing must not drop DTR, which resets some boards.
      port = await serialBinding().open({ path: spec.path, baudRate: spec.baud, hupcl: false, lock: true });
    } catch (e) {
      throw new Error(`cannot open ${describeLink(spec)}: ${(e as Error).message}`);
    }
    return new SerialLink(spec, port);
  }

  readonly canBreak = true;

  get open(): boolean {
    return !this.closed;
  }

  write(data: Uint8Array | string): void {
    if (this.closed) return;
    const bytes = Buffer.from(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
    // The binding allows one write at a time.
    this.writing = this.writing.then(() => this.port.write(bytes)).catch((e: Error) => this.ended(`write failed: ${e.message}`));
  }

  async sendBreak(ms = 250): Promise<void> {
    await this.writing;
    await this.port.set({ brk: true });
    await new Promise((resolve) => setTimeout(resolve, ms));
    await this.port.set({ brk: false });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.port.close().catch(() => undefined);
    this.emit('close', 'closed');
  }

  private async readLoop(): Promise<void> {
    const buf = Buffer.alloc(4096);
    while (!this.closed) {
      try {
        const { bytesRead } = await this.port.read(buf, 0, buf.length);
        if (bytesRead > 0) this.emit('data', Buffer.from(buf.subarray(0, bytesRead)));
      } catch (e) {
        if ((e as { canceled?: boolean }).canceled) return;
        this.ended(`read failed: ${(e as Error).message}`);
        return;
      }
    }
  }

  private ended(why: string): void {
    if (this.closed) return;
    this.closed = true;
    void this.port.close().catch(() => undefined);
    this.emit('close', why);
  }
}
