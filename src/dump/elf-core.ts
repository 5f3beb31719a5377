/**
 * ELF core files of a whole machine: kdump's /proc/vmcore (copied with cp, or written by
 * `makedumpfile -E`) and QEMU's `dump-guest-memory` with or without `-p`. The header and
 * program headers are read once; PT_NOTE segments are kept whole (a few KiB); PT_LOAD
 * segments are an index of physical ranges to file offsets, read on demand.
 *
 * `p_paddr` is the physical address in all of them. `p_vaddr` is 0 in QEMU dumps without
 * paging; with `-p` QEMU writes one PT_LOAD per virtual mapping it found in the guest's page
 * tables, several of which may show the same physical pages; /proc/vmcore gives the direct
 * map and the kernel image. Bytes between p_filesz and p_memsz were not saved.
 */
import { DumpFormatError, NotInDumpError } from './errors';
import { Fields, type ByteSource } from './file';
import { mergeRanges, type PhysicalMemory, type PhysRange } from './memory';

const ET_CORE = 4;
const PT_LOAD = 1;
const PT_NOTE = 4;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
const ET_NAMES: Record<number, string> = { 1: 'a relocatable object (.o/.ko)', 2: 'an executable (ET_EXEC, e.g. vmlinux)', 3: 'a shared object or PIE (ET_DYN)' };
/** A bound on program headers, so a corrupt count cannot make us allocate gigabytes. */
const MAX_PHDRS = 1 << 20;

export interface LoadSegment {
  readonly paddr: bigint;
  readonly vaddr: bigint;
  readonly offset: bigint;
  readonly filesz: bigint;
  readonly memsz: bigint;
}

export interface ElfCore {
  readonly machine: number;
  readonly loads: readonly LoadSegment[];
  /** The PT_NOTE segments' bytes, concatenated. */
  readonly notes: Uint8Array;
}

export function isElf(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
}

export function parseElfCore(source: ByteSource): ElfCore {
  const path = source.path;
  const e = new Fields(source.read(0n, 64));
  if (!isElf(e.bytes)) throw new DumpFormatError(path, 'not an ELF file');
  if (e.u8(4) !== 2) throw new DumpFormatError(path, 'a 32-bit ELF file: kernel dumps of x86_64 and arm64 are ELF64');
  if (e.u8(5) !== 1) throw new DumpFormatError(path, 'a big-endian ELF file: x86_64 and arm64 dumps are little-endian');
  const type = e.u16(16);
  if (type !== ET_CORE) throw new DumpFormatError(path, `${ET_NAMES[type] ?? `ELF type ${type}`}, not a core dump`);
  const machine = e.u16(18);
  const phoff = e.u64(32);
  const phentsize = e.u16(54);
  let phnum = e.u16(56);
  if (phentsize !== 56) throw new DumpFormatError(path, `program headers of ${phentsize} bytes, not 56: corrupt header`);
  if (phnum === 0xffff) {
    // PN_XNUM: the real count is in section header 0's sh_info (many-CPU or -p dumps).
    const shoff = e.u64(40);
    phnum = new Fields(source.read(shoff, 64)).u32(44);
  }
  if (phnum > MAX_PHDRS) throw new DumpFormatError(path, `${phnum} program headers: corrupt header`);
  const table = new Fields(source.read(phoff, phnum * 56));
  const loads: LoadSegment[] = [];
  const notes: Uint8Array[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = i * 56;
    const p = {
      type: table.u32(at),
      offset: table.u64(at + 8),
      vaddr: table.u64(at + 16),
      paddr: table.u64(at + 24),
      filesz: table.u64(at + 32),
      memsz: table.u64(at + 40),
    };
    if (p.type === PT_NOTE) notes.push(source.read(p.offset, Number(p.filesz)));
    if (p.type === PT_LOAD) {
      if (p.filesz > 0n && p.offset + p.filesz > source.size) {
        throw new DumpFormatError(path, `PT_LOAD for physical 0x${p.paddr.toString(16)} ends at offset ${p.offset + p.filesz}, past the file's ${source.size} bytes: truncated`);
      }
      loads.push(p);
    }
  }
  return { machine, loads, notes: Buffer.concat(notes) };
}

interface Piece {
  readonly start: bigint;
  /** End of the saved bytes. */
  readonly fileEnd: bigint;
  /** End of what the segment describes (p_memsz). */
  readonly end: bigint;
  readonly offset: bigint;
}

/** Physical memory of an ELF core, from its PT_LOADs. */
export class ElfMemory implements PhysicalMemory {
  readonly ranges: readonly PhysRange[];
  private readonly pieces: Piece[];

  constructor(private readonly source: ByteSource, loads: readonly LoadSegment[]) {
    // -p dumps show a physical page once per mapping: keep the first segment for each byte.
    const sorted = loads
      .map((l) => ({ start: l.paddr, fileEnd: l.paddr + l.filesz, end: l.paddr + l.memsz, offset: l.offset }))
      .filter((p) => p.end > p.start)
      .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    const pieces: Piece[] = [];
    for (const p of sorted) {
      const last = pieces[pieces.length - 1];
      if (last && p.start < last.end) {
        if (p.end <= last.end) continue;
        const cut = last.end - p.start;
        pieces.push({ start: last.end, fileEnd: p.fileEnd > last.end ? p.fileEnd : last.end, end: p.end, offset: p.offset + cut });
      } else {
        pieces.push(p);
      }
    }
    this.pieces = pieces;
    this.ranges = mergeRanges(pieces.map((p) => ({ start: p.start, end: p.end })));
  }

  read(address: bigint, length: number): Uint8Array {
    const end = address + BigInt(length);
    let i = this.find(address);
    const first = this.pieces[i];
    if (first && first.start <= address && end <= first.fileEnd) return this.source.read(first.offset + (address - first.start), length);
    const out = new Uint8Array(length);
    for (let pos = address; pos < end; ) {
      const p = this.pieces[i];
      if (p && pos >= p.end) {
        i++;
        continue;
      }
      if (!p || p.start > pos) throw new NotInDumpError(address, length, pos, 'is in no PT_LOAD segment of the dump');
      if (pos >= p.fileEnd) throw new NotInDumpError(address, length, pos, 'was not saved (past p_filesz of its PT_LOAD: filtered out)');
      const stop = p.fileEnd < end ? p.fileEnd : end;
      out.set(this.source.read(p.offset + (pos - p.start), Number(stop - pos)), Number(pos - address));
      pos = stop;
    }
    return out;
  }

  private find(address: bigint): number {
    let lo = 0;
    let hi = this.pieces.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.pieces[mid].start <= address) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
