/**
 * One RSP connection, either end: packets in and out over a byte stream, with the
 * acknowledgements of ack mode (`+` for a good packet, `-` asks for it again) until both sides
 * agree on QStartNoAckMode. The caller decides what the packets mean.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { encodePacket, PacketDecoder } from './packet';

export interface LinkEvents {
  packet: [Buffer];
  /** A notification (`%…`), non-stop mode only. */
  notification: [Buffer];
  interrupt: [];
  close: [string];
}

/** Bytes and packets that went over the link, each way. */
export interface LinkStats {
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
}

export class RspLink extends EventEmitter<LinkEvents> {
  readonly stats: LinkStats = { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 };
  private readonly decoder = new PacketDecoder();
  private ackMode = true;
  /** The last packet sent in ack mode, resent when the peer answers `-`. */
  private unacked: Buffer | undefined;
  private closedWhy: string | undefined;

  constructor(
    private readonly stream: Duplex,
    private readonly trace?: (direction: 'in' | 'out', text: string) => void,
  ) {
    super();
    stream.on('data', (chunk: Buffer) => this.received(chunk));
    stream.on('error', (e: Error) => this.closed(e.message));
    stream.on('close', () => this.closed('connection closed'));
  }

  get open(): boolean {
    return this.closedWhy === undefined;
  }

  get why(): string | undefined {
    return this.closedWhy;
  }

  /** Stops acknowledging and expecting acknowledgements (after `QStartNoAckMode` → `OK`). */
  noAck(): void {
    this.ackMode = false;
    this.unacked = undefined;
  }

  get acking(): boolean {
    return this.ackMode;
  }

  send(payload: Uint8Array | string): void {
    if (!this.open) return;
    const raw = encodePacket(payload);
    if (this.ackMode) this.unacked = raw;
    this.write(raw);
    this.stats.packetsOut++;
    this.trace?.('out', raw.toString('latin1'));
  }

  /** The interrupt byte (the debugger's Ctrl-C). */
  interrupt(): void {
    this.write(Buffer.from([0x03]));
    this.trace?.('out', '^C');
  }

  close(): void {
    this.stream.destroy();
    this.closed('closed by kdap');
  }

  private write(bytes: Buffer): void {
    if (!this.open) return;
    this.stats.bytesOut += bytes.length;
    this.stream.write(bytes);
  }

  private received(chunk: Buffer): void {
    this.stats.bytesIn += chunk.length;
    for (const item of this.decoder.feed(chunk)) {
      switch (item.kind) {
        case 'ack':
          if (!item.ok && this.unacked) this.write(this.unacked);
          else this.unacked = undefined;
          break;
        case 'interrupt':
          this.trace?.('in', '^C');
          this.emit('interrupt');
          break;
        case 'packet':
        case 'notification':
          this.trace?.('in', `${item.kind === 'packet' ? '$' : '%'}${item.payload.toString('latin1')}${item.ok ? '' : ' (bad checksum)'}`);
          if (this.ackMode) this.write(Buffer.from(item.ok ? '+' : '-', 'latin1'));
          if (!item.ok) break;
          this.stats.packetsIn++;
          if (item.kind === 'packet') this.emit('packet', item.payload);
          else this.emit('notification', item.payload);
          break;
        case 'noise':
          break;
      }
    }
  }

  private closed(why: string): void {
    if (this.closedWhy !== undefined) return;
    this.closedWhy = why;
    this.emit('close', why);
  }
}
