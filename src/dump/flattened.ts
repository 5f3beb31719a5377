/**
 * makedumpfile's flattened format (`makedumpfile -F`, and what QEMU 7.2's `dump-guest-memory
 * -z/-l/-s` writes): a 4 KiB header (`makedumpfile` signature, type 1, version 1, big-endian),
 * then records of (offset, size) big-endian int64 headers each followed by `size` bytes that
 * belong at `offset` of the kdump-compressed file it stands for, and an end record of (-1, -1).
 * `makedumpfile -R` would rearrange it into that file; here the records are indexed once (one
 * 16-byte read per record, the data skipped) and reads of the logical file go to them, so
 * the dump is never copied nor read whole.
 */
import { DumpFormatError } from './errors';
import { Fields, type ByteSource } from './file';

export const FLATTENED_SIGNATURE = 'makedumpfile';
const HEADER_SIZE = 4096n;
const RECORD_HEADER = 16;
const TYPE_FLAT_HEADER = 1n;

interface Piece {
  /** Offset in the logical (rearranged) file. */
  readonly start: bigint;
  readonly end: bigint;
  /** Where the piece's first byte is in the flattened file. */
  readonly at: bigint;
}

/** True when `head` (the file's first bytes) is a flattened dump's header. */
export function isFlattened(head: Uint8Array): boolean {
  return head.length >= 16 && new Fields(head).text(0, 16) === FLATTENED_SIGNATURE;
}

export class FlattenedSource implements ByteSource {
  readonly path: string;
  readonly size: bigint;
  /** Records in the file, for reports. */
  readonly records: number;
  private readonly pieces: Piece[];

  constructor(private readonly file: ByteSource) {
    this.path = file.path;
    const head = new Fields(file.read(0n, 32));
    if (head.text(0, 16) !== FLATTENED_SIGNATURE) throw new DumpFormatError(file.path, 'no makedumpfile signature: not a flattened dump');
    const type = head.i64be(16);
    if (type !== TYPE_FLAT_HEADER) throw new DumpFormatError(file.path, `flattened header of type ${type}, only type 1 is known`);
    const raw: Array<Piece & { seq: number }> = [];
    let at = HEADER_SIZE;
    let ended = false;
    while (at + BigInt(RECORD_HEADER) <= file.size) {
      const h = new Fields(file.read(at, RECORD_HEADER));
      const offset = h.i64be(0);
      const size = h.i64be(8);
      if (offset === -1n && size === -1n) {
        ended = true;
        break;
      }
      const data = at + BigInt(RECORD_HEADER);
      if (offset < 0n || size < 0n || data + size > file.size) {
        throw new DumpFormatError(file.path, `flattened record at ${at} (offset ${offset}, ${size} bytes) runs past the file's ${file.size} bytes: truncated or corrupt`);
      }
      if (size > 0n) raw.push({ start: offset, end: offset + size, at: data, seq: raw.length });
      at = data + size;
    }
    if (!ended) throw new DumpFormatError(file.path, `the flattened dump has no end record after ${raw.length} records: truncated`);
    this.records = raw.length;
    this.pieces = resolveOverlaps(raw);
    this.size = this.pieces.length ? this.pieces[this.pieces.length - 1].end : 0n;
  }

  read(offset: bigint, length: number): Uint8Array {
    const end = offset + BigInt(length);
    let i = this.find(offset);
    // Fast path: one record holds it all, which is every page read in practice.
    const p = this.pieces[i];
    if (p && p.start <= offset && end <= p.end) return this.file.read(p.at + (offset - p.start), length);
    if (end > this.size) throw new DumpFormatError(this.path, `truncated: ${length} bytes wanted at offset ${offset} of the rearranged dump, which has ${this.size}`);
    // What no record wrote reads as zeros, as in the file `makedumpfile -R` would make (it
    // seeks over them: makedumpfile -F leaves the unused tail of header blocks unwritten).
    const out = new Uint8Array(length);
    for (let pos = offset; pos < end; ) {
      const piece = this.pieces[i];
      if (piece && pos >= piece.end) {
        i++;
        continue;
      }
      const stop = !piece ? end : piece.start > pos ? (piece.start < end ? piece.start : end) : piece.end < end ? piece.end : end;
      if (piece && piece.start <= pos) out.set(this.file.read(piece.at + (pos - piece.start), Number(stop - pos)), Number(pos - offset));
      pos = stop;
    }
    return out;
  }

  /** Index of the last piece starting at or before `offset` (0 if none does). */
  private find(offset: bigint): number {
    let lo = 0;
    let hi = this.pieces.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.pieces[mid].start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/**
 * Later records win where records overlap (rearranging writes them in order). Records almost
 * never overlap, so the sorted list is checked first; only when it does, a sweep keeps, for
 * each stretch between record boundaries, the newest record covering it.
 */
function resolveOverlaps(raw: Array<Piece & { seq: number }>): Piece[] {
  const sorted = [...raw].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.seq - b.seq));
  if (sorted.every((p, i) => i === 0 || sorted[i - 1].end <= p.start)) return sorted;
  const bounds = [...new Set(sorted.flatMap((p) => [p.start, p.end]))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: Piece[] = [];
  const active: Array<Piece & { seq: number }> = [];
  let next = 0;
  for (let b = 0; b + 1 < bounds.length; b++) {
    const start = bounds[b];
    const end = bounds[b + 1];
    while (next < sorted.length && sorted[next].start <= start) active.push(sorted[next++]);
    for (let i = active.length - 1; i >= 0; i--) if (active[i].end <= start) active.splice(i, 1);
    if (active.length === 0) continue;
    const top = active.reduce((a, c) => (c.seq > a.seq ? c : a));
    const at = top.at + (start - top.start);
    const last = out[out.length - 1];
    if (last && last.end === start && last.at + (last.end - last.start) === at) out[out.length - 1] = { start: last.start, end, at: last.at };
    else out.push({ start, end, at });
  }
  return out;
}
