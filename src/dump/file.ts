/**
 * Positional reads of one file, nothing kept in memory: a dump may be many GiB, and every
 * reader here asks only for the bytes it needs (headers, an index, one page at a time).
 * Reads are synchronous on purpose: they are small and local, and an index over a flattened
 * dump is built from thousands of 16-byte reads that the thread pool would only slow down.
 */
import * as fs from 'node:fs';
import { DumpFormatError } from './errors';

/** Bytes addressed by offset: a file, or a view that maps offsets somewhere else. */
export interface ByteSource {
  /** Path of the file behind it, for messages. */
  readonly path: string;
  /** Bytes addressable, i.e. the (logical) file size. */
  readonly size: bigint;
  /** Exactly `length` bytes at `offset`; throws DumpFormatError past the end. */
  read(offset: bigint, length: number): Uint8Array;
}

export class RandomAccessFile implements ByteSource {
  readonly size: bigint;
  private fd: number | undefined;

  constructor(readonly path: string) {
    this.fd = fs.openSync(path, 'r');
    try {
      const stat = fs.fstatSync(this.fd, { bigint: true });
      if (!stat.isFile()) throw new DumpFormatError(path, 'is not a regular file');
      this.size = stat.size;
    } catch (e) {
      this.close();
      throw e;
    }
  }

  read(offset: bigint, length: number): Uint8Array {
    if (this.fd === undefined) throw new Error(`${this.path} is closed`);
    if (offset < 0n || offset + BigInt(length) > this.size) {
      throw new DumpFormatError(this.path, `truncated: ${length} bytes wanted at offset ${offset}, the file has ${this.size}`);
    }
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, out, done, length - done, offset + BigInt(done));
      if (n === 0) throw new DumpFormatError(this.path, `truncated: the file ended at ${offset + BigInt(done)} while reading`);
      done += n;
    }
    return new Uint8Array(out.buffer, out.byteOffset, length);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Little-endian field reads over a byte array; every dump kdap reads is little-endian. */
export class Fields {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u8(at: number): number {
    return this.view.getUint8(at);
  }
  u16(at: number): number {
    return this.view.getUint16(at, true);
  }
  u32(at: number): number {
    return this.view.getUint32(at, true);
  }
  i32(at: number): number {
    return this.view.getInt32(at, true);
  }
  u64(at: number): bigint {
    return this.view.getBigUint64(at, true);
  }
  i64(at: number): bigint {
    return this.view.getBigInt64(at, true);
  }
  /** Big-endian 64-bit, for the flattened format's record headers. */
  i64be(at: number): bigint {
    return this.view.getBigInt64(at, false);
  }
  /** A NUL-padded string field. */
  text(at: number, length: number): string {
    const raw = this.bytes.subarray(at, at + length);
    const nul = raw.indexOf(0);
    return Buffer.from(raw.subarray(0, nul < 0 ? raw.length : nul)).toString('latin1');
  }
}
