/** What the server and the overlay do the same way: their port for gdb, and answers they give it. */
import * as net from 'node:net';
import { FaultError, type Target } from '../kernel/target';
import { escapeBinary, toHex } from './packet';

/**
 * The port gdb connects to: `host` (127.0.0.1 by default) and `port`, a free one if 0. Resolves
 * once it listens, with the port it got.
 */
export async function listenForGdb(connected: (socket: net.Socket) => void, host: string, port: number): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer(connected);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => resolve());
  });
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

/** Stops listening; resolves once the server is closed (at once without one). */
export function stopListening(server: net.Server | undefined): Promise<void> {
  return new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

/**
 * qfThreadInfo / qsThreadInfo: the thread ids in `m…` pages that fit a packet, then `l`. The
 * list is taken at qfThreadInfo; the qsThreadInfo that follow page through it.
 */
export class ThreadListPager {
  private rest: string[] = [];

  first(ids: readonly string[], packetSize: number): string {
    this.rest = [...ids];
    return this.next(packetSize);
  }

  next(packetSize: number): string {
    if (this.rest.length === 0) return 'l';
    const page: string[] = [];
    let length = 1;
    while (this.rest.length > 0 && (page.length === 0 || length + this.rest[0].length + 1 < packetSize - 8)) {
      const id = this.rest.shift()!;
      length += id.length + 1;
      page.push(id);
    }
    return `m${page.join(',')}`;
  }
}

/** A qXfer read of `document` at `offset`, at most `length` bytes: `m…` more to come, `l…` the last. */
export function qXferSlice(document: Buffer, offset: number, length: number): string {
  const part = document.subarray(offset, offset + length);
  const last = offset + length >= document.length;
  return `${last ? 'l' : 'm'}${escapeBinary(part).toString('latin1')}`;
}

/**
 * An `m` answer: the bytes as hex, or as many as can be read before the first unreadable page
 * (the protocol allows a short reply), or E14 (EFAULT) when not even the first byte can be.
 */
export async function readMemoryReply(target: Target, address: bigint, length: number): Promise<string> {
  try {
    return toHex(await target.readVirtual(address, length));
  } catch (e) {
    if (!(e instanceof FaultError)) throw e;
  }
  // Some of it may be readable: up to the page boundary where reading stops.
  const page = 0x1000n;
  let got = Buffer.alloc(0);
  for (let at = address; at < address + BigInt(length); ) {
    const end = (at / page + 1n) * page;
    const n = Number((end < address + BigInt(length) ? end : address + BigInt(length)) - at);
    try {
      got = Buffer.concat([got, await target.readVirtual(at, n)]);
    } catch (e) {
      if (!(e instanceof FaultError)) throw e;
      break;
    }
    at += BigInt(n);
  }
  return got.length > 0 ? toHex(got) : 'E14';
}
