/**
 * Synthetic dumps for the reader tests, laid out as the formats' writers lay them out
 * (ELF cores as QEMU's dump.c and kexec-tools do; kdump-compressed as makedumpfile does;
 * the flattened stream as makedumpfile -F does). Each builder returns the file's bytes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { compress as snappyCompress } from 'snappyjs';
import { encodeNote } from '../../../src/dump/notes';

export interface Load {
  paddr: bigint;
  vaddr?: bigint;
  data: Uint8Array;
  /** p_memsz beyond the data (bytes not saved). */
  extra?: bigint;
}

export function elfCore(machine: number, loads: readonly Load[], notes: Uint8Array, type = 4): Buffer {
  const phnum = loads.length + 1;
  const headers = 64 + phnum * 56;
  let offset = BigInt(headers) + BigInt(notes.length);
  const out: Buffer[] = [];
  const eh = Buffer.alloc(64);
  eh.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  eh.writeUInt16LE(type, 16);
  eh.writeUInt16LE(machine, 18);
  eh.writeUInt32LE(1, 20);
  eh.writeBigUInt64LE(64n, 32);
  eh.writeUInt16LE(64, 52);
  eh.writeUInt16LE(56, 54);
  eh.writeUInt16LE(phnum, 56);
  out.push(eh);
  const ph = (type: number, off: bigint, vaddr: bigint, paddr: bigint, filesz: bigint, memsz: bigint) => {
    const p = Buffer.alloc(56);
    p.writeUInt32LE(type, 0);
    p.writeUInt32LE(7, 4);
    p.writeBigUInt64LE(off, 8);
    p.writeBigUInt64LE(vaddr, 16);
    p.writeBigUInt64LE(paddr, 24);
    p.writeBigUInt64LE(filesz, 32);
    p.writeBigUInt64LE(memsz, 40);
    return p;
  };
  out.push(ph(4, BigInt(headers), 0n, 0n, BigInt(notes.length), 0n));
  for (const l of loads) {
    out.push(ph(1, offset, l.vaddr ?? 0n, l.paddr, BigInt(l.data.length), BigInt(l.data.length) + (l.extra ?? 0n)));
    offset += BigInt(l.data.length);
  }
  out.push(Buffer.from(notes));
  for (const l of loads) out.push(Buffer.from(l.data));
  return Buffer.concat(out);
}

export type Kind = 'none' | 'zlib' | 'lzo' | 'snappy' | 'zstd';
const FLAG: Record<Kind, number> = { none: 0, zlib: 1, lzo: 2, snappy: 4, zstd: 0x20 };

export interface KdumpSpec {
  machine: string;
  release?: string;
  pageSize: number;
  maxMapnr: number;
  /** Page frames that are memory (1st bitmap). */
  present: readonly number[];
  /** Page frames saved, with their contents (2nd bitmap). */
  pages: ReadonlyMap<number, Uint8Array>;
  /** How a page is stored; `compress` returns the stored bytes for non-`none` kinds. */
  kind: Kind;
  compress?: (page: Uint8Array) => Uint8Array;
  notes?: Uint8Array;
  vmcoreinfo?: string;
  dumpLevel?: number;
  headerVersion?: number;
  /** Sets the incomplete flag and zeroes the descriptors of these frames. */
  lost?: readonly number[];
  nrCpus?: number;
}

export function kdump(spec: KdumpSpec): Buffer {
  const bs = spec.pageSize;
  // As makedumpfile does: the notes and VMCOREINFO follow the sub header, inside its blocks.
  const vmcoreinfo = spec.vmcoreinfo === undefined ? undefined : Buffer.from(spec.vmcoreinfo, 'latin1');
  const subBytes = 104 + (spec.notes?.length ?? 0) + (vmcoreinfo?.length ?? 0);
  const subBlocks = Math.ceil(subBytes / bs);
  const bitmapBytes = Math.ceil(Math.ceil(spec.maxMapnr / 8) / bs) * bs;
  const bitmapBlocks = (2 * bitmapBytes) / bs;
  const header = Buffer.alloc(bs);
  header.write('KDUMP   ', 0, 'latin1');
  header.writeInt32LE(spec.headerVersion ?? 6, 8);
  const uts = ['Linux', 'guest', spec.release ?? '6.1.0-test', '#1 SMP', spec.machine, '(none)'];
  uts.forEach((s, i) => header.write(s, 12 + i * 65, 'latin1'));
  header.writeUInt32LE(spec.lost ? 0x8 : 0, 424);
  header.writeInt32LE(bs, 428);
  header.writeInt32LE(subBlocks, 432);
  header.writeUInt32LE(bitmapBlocks, 436);
  header.writeUInt32LE(Math.min(spec.maxMapnr, 0xffffffff), 440);
  header.writeInt32LE(spec.nrCpus ?? 1, 460);
  const sub = Buffer.alloc(bs * subBlocks);
  const first = Buffer.alloc(bitmapBytes);
  const second = Buffer.alloc(bitmapBytes);
  for (const p of spec.present) first[p >> 3] |= 1 << (p & 7);
  const saved = [...spec.pages.keys()].sort((a, b) => a - b);
  for (const p of saved) second[p >> 3] |= 1 << (p & 7);
  const descsAt = bs * (1 + subBlocks) + 2 * bitmapBytes;
  const descBytes = Buffer.alloc(saved.length * 24);
  let dataAt = descsAt + descBytes.length;
  const data: Buffer[] = [];
  saved.forEach((pfn, i) => {
    const page = spec.pages.get(pfn)!;
    const stored = spec.kind === 'none' ? page : spec.compress ? spec.compress(page) : compressWith(spec.kind, page);
    // makedumpfile stores a page raw when compression does not make it smaller.
    const raw = stored.length >= bs;
    const bytes = raw ? page : stored;
    const lost = spec.lost?.includes(pfn);
    descBytes.writeBigInt64LE(lost ? 0n : BigInt(dataAt), i * 24);
    descBytes.writeUInt32LE(bytes.length, i * 24 + 8);
    descBytes.writeUInt32LE(raw ? 0 : FLAG[spec.kind], i * 24 + 12);
    data.push(Buffer.from(bytes));
    dataAt += bytes.length;
  });
  let extraAt = bs + 104;
  sub.writeInt32LE(spec.dumpLevel ?? 0, 8);
  if (vmcoreinfo) {
    sub.writeBigInt64LE(BigInt(extraAt), 32);
    sub.writeBigUInt64LE(BigInt(vmcoreinfo.length), 40);
    sub.set(vmcoreinfo, extraAt - bs);
    extraAt += vmcoreinfo.length;
  }
  if (spec.notes) {
    sub.writeBigInt64LE(BigInt(extraAt), 48);
    sub.writeBigUInt64LE(BigInt(spec.notes.length), 56);
    sub.set(spec.notes, extraAt - bs);
    extraAt += spec.notes.length;
  }
  sub.writeBigUInt64LE(BigInt(spec.maxMapnr), 96);
  return Buffer.concat([header, sub, first, second, descBytes, ...data]);
}

function compressWith(kind: Kind, page: Uint8Array): Uint8Array {
  if (kind === 'zlib') return zlib.deflateSync(page);
  if (kind === 'snappy') return snappyCompress(page);
  throw new Error(`no compressor for ${kind} in tests: pass spec.compress`);
}

/**
 * makedumpfile -F's stream of `plain`: the 4 KiB header, then (offset, size) big-endian records
 * of at most `chunk` bytes, in the order `order` gives, then the (-1, -1) end record.
 */
export function flatten(plain: Buffer, chunk: number, order: (records: Array<[number, number]>) => Array<[number, number]> = (r) => r, end = true): Buffer {
  const header = Buffer.alloc(4096);
  header.write('makedumpfile', 0, 'latin1');
  header.writeBigInt64BE(1n, 16);
  header.writeBigInt64BE(1n, 24);
  const records: Array<[number, number]> = [];
  for (let at = 0; at < plain.length; at += chunk) records.push([at, Math.min(chunk, plain.length - at)]);
  const out: Buffer[] = [header];
  for (const [at, size] of order(records)) {
    const h = Buffer.alloc(16);
    h.writeBigInt64BE(BigInt(at), 0);
    h.writeBigInt64BE(BigInt(size), 8);
    out.push(h, plain.subarray(at, at + size));
  }
  if (end) {
    const e = Buffer.alloc(16);
    e.writeBigInt64BE(-1n, 0);
    e.writeBigInt64BE(-1n, 8);
    out.push(e);
  }
  return Buffer.concat(out);
}

/** Writes bytes to a fresh temporary file; the directory is removed at exit. */
export function tempFile(name: string, bytes: Uint8Array): string {
  const file = path.join(tempDir(), name);
  fs.writeFileSync(file, bytes);
  return file;
}

let dir: string | undefined;
function tempDir(): string {
  if (!dir) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-dump-test-'));
    const d = dir;
    process.on('exit', () => fs.rmSync(d, { recursive: true, force: true }));
  }
  return dir;
}

export function vmcoreinfoNote(text: string): Uint8Array {
  return encodeNote('VMCOREINFO', 0, Buffer.from(text, 'latin1'));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const b = Buffer.concat(parts.map((p) => Buffer.from(p)));
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}
