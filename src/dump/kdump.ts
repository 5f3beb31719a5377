/**
 * The kdump-compressed format (makedumpfile's diskdump_mod.h; crash's diskdump.c reads the
 * same): block 0 is `struct disk_dump_header` (`KDUMP   `), then `sub_hdr_size` blocks of
 * `struct kdump_sub_header` (phys_base, dump level, where the notes and VMCOREINFO are), then
 * `bitmap_blocks` blocks of two bitmaps over page frames (1st: the memory the dump describes,
 * 2nd: the pages it holds), then one `page_desc_t` {offset, size, flags, page_flags} per
 * page of the 2nd bitmap in pfn order, then the (compressed) pages. A block is one page.
 *
 * Memory: the bitmaps stay in memory (1/32768 of RAM: 32 KiB for 1 GiB), plus a rank table to
 * find a page's descriptor without counting bits from the start; pages are decompressed on
 * demand into a small LRU.
 */
import { CorruptPageError, DumpFormatError, NotInDumpError } from './errors';
import { compressionOf, decompressPage, type Compression } from './decompress';
import { Fields, type ByteSource } from './file';
import { Lru } from './lru';
import type { PhysicalMemory, PhysRange } from './memory';

export const KDUMP_SIGNATURE = 'KDUMP   ';
const DISKDUMP_SIGNATURE = 'DISKDUMP';
/** `status`: makedumpfile ran out of space; pages past some point were never written. */
const DUMP_DH_COMPRESSED_INCOMPLETE = 0x8;
const PAGE_DESC_SIZE = 24;
/** Bits per rank entry: one popcount prefix per 4096 page frames. */
const RANK_SHIFT = 12;

/** `struct new_utsname` as the header copies it. */
export interface Utsname {
  readonly sysname: string;
  readonly nodename: string;
  readonly release: string;
  readonly version: string;
  readonly machine: string;
}

export interface KdumpHeader {
  readonly headerVersion: number;
  readonly utsname: Utsname;
  readonly status: number;
  readonly blockSize: number;
  readonly subHeaderBlocks: number;
  readonly bitmapBlocks: number;
  readonly nrCpus: number;
  readonly currentCpu: number;
  readonly physBase: bigint;
  /** makedumpfile's -d level (which page kinds were left out); 0 keeps everything. */
  readonly dumpLevel: number;
  readonly split: boolean;
  readonly maxMapnr: bigint;
  readonly vmcoreinfo?: { offset: bigint; size: number };
  readonly notes?: { offset: bigint; size: number };
  readonly incomplete: boolean;
}

export function isKdump(head: Uint8Array): boolean {
  return head.length >= 8 && new Fields(head).text(0, 8) === KDUMP_SIGNATURE;
}

export function parseKdumpHeader(source: ByteSource): KdumpHeader {
  const path = source.path;
  const h = new Fields(source.read(0n, 464));
  const signature = h.text(0, 8);
  if (signature === DISKDUMP_SIGNATURE) throw new DumpFormatError(path, 'an old diskdump (DISKDUMP) file: only kdump-compressed (KDUMP) dumps are read');
  if (signature !== KDUMP_SIGNATURE) throw new DumpFormatError(path, 'no KDUMP signature: not a kdump-compressed dump');
  const uts = (i: number) => h.text(12 + i * 65, 65);
  const utsname = { sysname: uts(0), nodename: uts(1), release: uts(2), version: uts(3), machine: uts(4) };
  // 64-bit layout: utsname ends at 402, struct timeval (16) is 8-aligned at 408.
  const headerVersion = h.i32(8);
  const status = h.u32(424);
  const blockSize = h.i32(428);
  const subHeaderBlocks = h.i32(432);
  const bitmapBlocks = h.u32(436);
  if (blockSize < 1024 || blockSize > 1 << 20 || (blockSize & (blockSize - 1)) !== 0) {
    throw new DumpFormatError(path, `block size ${blockSize} is not a page size: corrupt header`);
  }
  if (subHeaderBlocks < 1 || bitmapBlocks < 2 || bitmapBlocks % 2 !== 0) {
    throw new DumpFormatError(path, `${subHeaderBlocks} sub-header and ${bitmapBlocks} bitmap blocks: corrupt header`);
  }
  const s = new Fields(source.read(BigInt(blockSize), Math.min(subHeaderBlocks * blockSize, 104)));
  const region = (at: number, min: number) => {
    if (headerVersion < min) return undefined;
    const offset = s.i64(at);
    const size = Number(s.u64(at + 8));
    return offset > 0n && size > 0 ? { offset, size } : undefined;
  };
  const maxMapnr = headerVersion >= 6 ? s.u64(96) : BigInt(h.u32(440));
  return {
    headerVersion,
    utsname,
    status,
    blockSize,
    subHeaderBlocks,
    bitmapBlocks,
    nrCpus: h.i32(460),
    currentCpu: h.i32(456),
    physBase: s.u64(0),
    dumpLevel: headerVersion >= 1 ? s.i32(8) : 0,
    split: headerVersion >= 2 && s.i32(12) !== 0,
    maxMapnr,
    vmcoreinfo: region(32, 3),
    notes: region(48, 4),
    incomplete: (status & DUMP_DH_COMPRESSED_INCOMPLETE) !== 0,
  };
}

interface PageDesc {
  readonly offset: bigint;
  readonly size: number;
  readonly flags: number;
}

export class KdumpMemory implements PhysicalMemory {
  readonly ranges: readonly PhysRange[];
  readonly pageSize: number;
  readonly cache = new Lru<bigint, Uint8Array>(256);
  /** Pages decompressed so far, by compression: what a read cost. */
  readonly decompressed: Partial<Record<Compression, number>> = {};
  private readonly present: Uint8Array;
  private readonly dumpable: Uint8Array;
  private readonly rank: Uint32Array;
  private readonly descsAt: bigint;
  private readonly pageShift: bigint;

  constructor(private readonly source: ByteSource, readonly header: KdumpHeader) {
    const path = source.path;
    if (header.split) throw new DumpFormatError(path, 'one part of a split dump (makedumpfile --split): join the parts with makedumpfile --reassemble first');
    this.pageSize = header.blockSize;
    this.pageShift = BigInt(Math.log2(header.blockSize));
    const bitmapsAt = BigInt((1 + header.subHeaderBlocks) * header.blockSize);
    const half = (header.bitmapBlocks / 2) * header.blockSize;
    const needed = Number((header.maxMapnr + 7n) / 8n);
    if (needed > half) throw new DumpFormatError(path, `bitmaps of ${half} bytes cannot cover ${header.maxMapnr} page frames: corrupt header`);
    this.present = source.read(bitmapsAt, half);
    this.dumpable = source.read(bitmapsAt + BigInt(half), half);
    this.descsAt = bitmapsAt + BigInt(2 * half);
    this.rank = buildRank(this.dumpable, header.maxMapnr);
    this.ranges = runs(this.present, header.maxMapnr, this.pageShift);
  }

  read(address: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const size = BigInt(this.pageSize);
    for (let done = 0; done < length; ) {
      const at = address + BigInt(done);
      const pfn = at >> this.pageShift;
      const offset = Number(at & (size - 1n));
      const n = Math.min(length - done, this.pageSize - offset);
      out.set(this.page(pfn, address, length).subarray(offset, offset + n), done);
      done += n;
    }
    return out;
  }

  /** One whole page; throws NotInDumpError for a page the dump does not hold. */
  page(pfn: bigint, address = pfn << this.pageShift, length = this.pageSize): Uint8Array {
    const cached = this.cache.get(pfn);
    if (cached) return cached;
    const pa = pfn << this.pageShift;
    if (pfn >= this.header.maxMapnr || !bit(this.present, pfn)) throw new NotInDumpError(address, length, pa, 'is not memory the dump describes');
    if (!bit(this.dumpable, pfn)) {
      throw new NotInDumpError(address, length, pa, `was filtered out when the dump was made (makedumpfile dump level ${this.header.dumpLevel})`);
    }
    const desc = this.desc(pfn);
    if (desc.offset === 0n || desc.offset + BigInt(desc.size) > this.source.size) {
      throw new NotInDumpError(address, length, pa, this.header.incomplete ? 'was lost: the dump is incomplete (makedumpfile ran out of space)' : 'is past the end of the file: the dump is truncated');
    }
    const kind = compressionOf(desc.flags);
    if (!kind) throw new CorruptPageError(pfn, `unknown compression flags 0x${desc.flags.toString(16)}`);
    if (kind === 'none' && desc.size !== this.pageSize) throw new CorruptPageError(pfn, `uncompressed page of ${desc.size} bytes`);
    let page: Uint8Array;
    try {
      page = decompressPage(kind, this.source.read(desc.offset, desc.size), this.pageSize);
    } catch (e) {
      if (e instanceof DumpFormatError) throw e;
      throw new CorruptPageError(pfn, `${kind} data at file offset ${desc.offset} is corrupt: ${(e as Error).message}`);
    }
    this.decompressed[kind] = (this.decompressed[kind] ?? 0) + 1;
    this.cache.set(pfn, page);
    return page;
  }

  /** What the dump says about the page at `address`: saved, left out, or not memory at all. */
  holds(address: bigint): 'dumped' | 'filtered' | 'absent' {
    const pfn = address >> this.pageShift;
    if (pfn >= this.header.maxMapnr || !bit(this.present, pfn)) return 'absent';
    return bit(this.dumpable, pfn) ? 'dumped' : 'filtered';
  }

  /** Pages the 2nd bitmap says the dump holds. */
  get dumpedPages(): number {
    return this.rank[this.rank.length - 1];
  }

  private desc(pfn: bigint): PageDesc {
    const index = rankOf(this.dumpable, this.rank, pfn);
    const d = new Fields(this.source.read(this.descsAt + BigInt(index) * BigInt(PAGE_DESC_SIZE), PAGE_DESC_SIZE));
    return { offset: d.i64(0), size: d.u32(8), flags: d.u32(12) };
  }
}

function bit(bitmap: Uint8Array, pfn: bigint): boolean {
  const i = Number(pfn >> 3n);
  return i < bitmap.length && ((bitmap[i] >> Number(pfn & 7n)) & 1) === 1;
}

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, b) => {
  let n = 0;
  for (let v = b; v; v >>= 1) n += v & 1;
  return n;
});

/** rank[k] = set bits before pfn k << RANK_SHIFT; the last entry is the total. */
function buildRank(bitmap: Uint8Array, maxMapnr: bigint): Uint32Array {
  const bytesPerEntry = 1 << (RANK_SHIFT - 3);
  const usedBytes = Math.min(bitmap.length, Number((maxMapnr + 7n) / 8n));
  const entries = Math.ceil(usedBytes / bytesPerEntry);
  const rank = new Uint32Array(entries + 1);
  let total = 0;
  for (let e = 0; e < entries; e++) {
    rank[e] = total;
    const end = Math.min(usedBytes, (e + 1) * bytesPerEntry);
    for (let i = e * bytesPerEntry; i < end; i++) total += POPCOUNT[bitmap[i]];
  }
  rank[entries] = total;
  return rank;
}

/** Set bits before `pfn`: the index of its page descriptor. */
function rankOf(bitmap: Uint8Array, rank: Uint32Array, pfn: bigint): number {
  const p = Number(pfn);
  const entry = p >>> RANK_SHIFT;
  let n = rank[entry];
  const byte = p >>> 3;
  for (let i = entry << (RANK_SHIFT - 3); i < byte; i++) n += POPCOUNT[bitmap[i]];
  return n + POPCOUNT[bitmap[byte] & ((1 << (p & 7)) - 1)];
}

/** Runs of set bits as physical ranges. */
function runs(bitmap: Uint8Array, maxMapnr: bigint, pageShift: bigint): PhysRange[] {
  const out: PhysRange[] = [];
  const limit = Number(maxMapnr);
  let start = -1;
  for (let p = 0; p <= limit; p++) {
    const set = p < limit && ((bitmap[p >>> 3] >> (p & 7)) & 1) === 1;
    if (set && start < 0) start = p;
    if (!set && start >= 0) {
      out.push({ start: BigInt(start) << pageShift, end: BigInt(p) << pageShift });
      start = -1;
    }
    // Skip whole empty bytes quickly.
    if (!set && start < 0 && (p & 7) === 0 && bitmap[p >>> 3] === 0) p += 7;
  }
  return out;
}
