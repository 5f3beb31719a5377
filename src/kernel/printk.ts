/**
 * The kernel log (kernel/printk/printk_ringbuffer.h, kernel/printk/printk.c): what `dmesg`
 * shows, read from a stopped kernel's memory.
 *
 * Since 5.10 (commit 896fbe20b4e2 "printk: use the lockless ringbuffer") `prb` points at a
 * `struct printk_ringbuffer`: a ring of descriptors (`struct prb_desc`: state and id in
 * `state_var`, the text block's logical positions) with a parallel array of `struct
 * printk_info` (seq, timestamp, length, level), and a data ring of blocks that each start with
 * the `unsigned long` id of the descriptor that owns them. Older kernels keep `struct
 * printk_log` headers and text back to back in `log_buf`; both are read here, newest first.
 *
 * Cost model: over QEMU's gdbstub a read costs about one round trip per packet; over kgdb on a
 * serial line every byte crosses it twice (hex) and each packet waits for its reply. So only the
 * live part of each ring (descriptors tail..head, their infos, text tail_lpos..head_lpos) is
 * read, in one read each (two where it wraps), and decoded here: never one read per record. The
 * 6.1 fixture after boot (345 records, 128 KiB buffer) costs 7 reads and about 62 KB, where
 * reading both whole rings would be 576 KiB. `maxBytes` caps it: a bigger log (log_buf_len=)
 * keeps its newest records.
 */
import { DebugInfoError, member, readStruct, readU64, structLayout, StructView, unsignedAt } from './struct';
import { FaultError, type StructLayout, type Target } from './target';

export interface PrintkRecord {
  /** `info->seq`: the record's sequence number, as /dev/kmsg numbers it. */
  readonly seq: bigint;
  /** `info->ts_nsec`: local_clock() at the printk, in nanoseconds since boot. */
  readonly tsNsec: bigint;
  /** `info->level` (0 KERN_EMERG … 7 KERN_DEBUG), when the debug info describes the bitfield. */
  readonly level?: number;
  /** `info->facility`: 0 for the kernel, 1 (LOG_USER) for writes to /dev/kmsg. */
  readonly facility: number;
  /** `info->caller_id`: a thread id, or a CPU number with bit 31 set (printk from an interrupt). */
  readonly callerId?: number;
  /** The message; lines after the first are continuation lines of the same record. */
  readonly text: string;
}

export interface PrintkLog {
  readonly format: 'lockless' | 'legacy';
  readonly records: PrintkRecord[];
  /** Records the log still describes whose text is gone (overwritten, or the write failed). */
  readonly lost: number;
  /** Older descriptors (records, or slots already retired) left out to stay within `maxBytes`. */
  readonly truncated: number;
  /** What reading cost. */
  readonly bytesRead: number;
  readonly reads: number;
}

export interface PrintkOptions {
  /** Upper bound on the bytes read from the target; 8 MiB by default. */
  maxBytes?: number;
}

/** The log's own bookkeeping does not hold together: not a ring buffer, or memory is corrupt. */
export class PrintkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrintkError';
  }
}

const DEFAULT_MAX_BYTES = 8 << 20;
/** log_buf_len is at most 2^31 bytes (kernel/printk/printk.c, log_buf_len_update). */
const MAX_SHIFT = 31;

// enum desc_state (printk_ringbuffer.h)
const DESC_COMMITTED = 1n;
const DESC_FINALIZED = 2n;
/** FAILED_LPOS and NO_LPOS: a data-less block (odd lpos); NO_LPOS means "empty text". */
const NO_LPOS = 3n;

/**
 * `printk_get_records()` as `dmesg` sees them: every record still in the log, oldest first.
 * Throws DebugInfoError when the kernel has no log this knows, PrintkError when the log's
 * bookkeeping is inconsistent, FaultError when the target refuses a read.
 */
export async function printkRecords(target: Target, options: PrintkOptions = {}): Promise<PrintkLog> {
  const counted = new CountingReads(target);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const prb = await target.symbol('prb');
  if (prb !== undefined) return readLockless(counted, prb, maxBytes);
  // Before 5.10: log_buf (kernel/printk/printk.c, commit 896fbe20b4e2 replaced it).
  if ((await target.symbol('log_first_idx')) !== undefined) return readLegacy(counted, maxBytes);
  throw new DebugInfoError('the kernel has neither prb (5.10+) nor log_buf and log_first_idx (up to 5.9), so its log cannot be found');
}

/**
 * The records as `dmesg` prints them: `[    1.234567] text`, every line of a multi-line
 * record with the same prefix (record_print_text()). `callerId` adds the `[    T42]` column
 * that CONFIG_PRINTK_CALLER kernels print.
 */
export function formatRecords(records: readonly PrintkRecord[], options: { callerId?: boolean } = {}): string {
  const out: string[] = [];
  for (const r of records) {
    let prefix = timestamp(r.tsNsec);
    if (options.callerId && r.callerId !== undefined) prefix += `[${caller(r.callerId).padStart(6)}]`;
    for (const line of r.text.split('\n')) out.push(`${prefix} ${line}`);
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/** `[%5lu.%06lu]` of print_time(). */
export function timestamp(tsNsec: bigint): string {
  const sec = tsNsec / 1_000_000_000n;
  const usec = (tsNsec % 1_000_000_000n) / 1000n;
  return `[${String(sec).padStart(5)}.${String(usec).padStart(6, '0')}]`;
}

/** `T<pid>` or `C<cpu>` (info_print_prefix()). */
export function caller(id: number): string {
  return id & 0x80000000 ? `C${id & 0x7fffffff}` : `T${id}`;
}

// ---- the lockless ring buffer (5.10+) ----

const RING_MEMBERS = [
  'desc_ring.count_bits',
  'desc_ring.descs',
  'desc_ring.infos',
  'desc_ring.head_id',
  'desc_ring.tail_id',
  'text_data_ring.size_bits',
  'text_data_ring.data',
  'text_data_ring.head_lpos',
  'text_data_ring.tail_lpos',
];

async function readLockless(target: CountingReads, prbSymbol: bigint, maxBytes: number): Promise<PrintkLog> {
  const [rbLayout, descLayout, infoLayout] = await Promise.all([
    structLayout(target, 'printk_ringbuffer'),
    structLayout(target, 'prb_desc'),
    structLayout(target, 'printk_info'),
  ]);
  const lpos = { begin: member(descLayout, 'text_blk_lpos.begin'), next: member(descLayout, 'text_blk_lpos.next') };
  const stateVar = member(descLayout, 'state_var');
  const infoMembers = ['seq', 'ts_nsec', 'text_len', 'facility', ...['level', 'caller_id'].filter((n) => infoLayout.members.has(n))];
  const rbAddress = await readU64(target, prbSymbol);
  if (rbAddress === 0n) throw new PrintkError('prb is NULL: the kernel log is not set up yet');
  const rb = await readStruct(target, rbAddress, rbLayout, RING_MEMBERS);

  const countBits = Number(rb.unsigned('desc_ring.count_bits'));
  const sizeBits = Number(rb.unsigned('text_data_ring.size_bits'));
  if (countBits > MAX_SHIFT || sizeBits > MAX_SHIFT) {
    throw new PrintkError(`prb at 0x${rbAddress.toString(16)} has count_bits ${countBits} and size_bits ${sizeBits}: not a printk ring buffer (or its memory is corrupt)`);
  }
  const count = 1n << BigInt(countBits);
  const dataSize = 1n << BigInt(sizeBits);
  // state_var is an atomic_long_t: its top two bits are the state, the rest the id (DESC_SV_BITS).
  const svBits = BigInt(stateVar.size * 8);
  const idMask = (1n << (svBits - 2n)) - 1n;
  const lposBits = lpos.begin.size * 8;
  const wrapLpos = (v: bigint) => BigInt.asUintN(lposBits, v);
  const headId = rb.unsigned('desc_ring.head_id') & idMask;
  const tailId = rb.unsigned('desc_ring.tail_id') & idMask;
  const headLpos = rb.unsigned('text_data_ring.head_lpos');
  const tailLpos = rb.unsigned('text_data_ring.tail_lpos');
  const ids = ((headId - tailId) & idMask) + 1n;
  const used = wrapLpos(headLpos - tailLpos);
  if (ids > count || used > dataSize) {
    throw new PrintkError(
      `prb at 0x${rbAddress.toString(16)} is inconsistent: ${ids} descriptors between tail ${tailId} and head ${headId} in a ring of ${count}, ` +
        `${used} text bytes in a ring of ${dataSize}`,
    );
  }

  // Newest records first into the budget: half of it for descriptors and infos, the rest text.
  const perRecord = BigInt(descLayout.size + infoLayout.size);
  const budget = BigInt(Math.max(0, maxBytes));
  const keepIds = ids * perRecord + used <= budget ? ids : min(ids, budget / 2n / perRecord);
  const keepText = min(used, budget - keepIds * perRecord);
  const firstId = (headId - keepIds + 1n) & idMask;
  const textStart = wrapLpos(headLpos - keepText);

  const descsBase = rb.unsigned('desc_ring.descs');
  const infosBase = rb.unsigned('desc_ring.infos');
  const dataBase = rb.unsigned('text_data_ring.data');
  const descs = await readRing(target, 'descriptor ring (prb->desc_ring.descs)', descsBase, descLayout.size, count, firstId & (count - 1n), keepIds);
  const infos = await readRing(target, 'record infos (prb->desc_ring.infos)', infosBase, infoLayout.size, count, firstId & (count - 1n), keepIds);
  const text = await readRing(target, 'text ring (prb->text_data_ring.data)', dataBase, 1, dataSize, textStart & (dataSize - 1n), keepText);

  const records: PrintkRecord[] = [];
  let lost = 0;
  let truncated = Number(ids - keepIds);
  for (let i = 0; i < Number(keepIds); i++) {
    const id = (firstId + BigInt(i)) & idMask;
    const sv = unsignedAt(descs, i * descLayout.size + stateVar.offset, stateVar.size);
    // Another id: the slot is being reused by a writer right now (desc_reserve() moved head_id
    // before it wrote state_var). Reserved: a writer is still filling it in. Reusable: retired.
    // Committed but not finalized is the newest record still open for pr_cont(); dmesg would
    // wait for it, a debugger shows what is there.
    if ((sv & idMask) !== id) continue;
    const state = sv >> (svBits - 2n);
    if (state !== DESC_COMMITTED && state !== DESC_FINALIZED) continue;
    const info = viewAt(infoLayout, infos, i * infoLayout.size);
    const begin = unsignedAt(descs, i * descLayout.size + lpos.begin.offset, lpos.begin.size);
    const next = unsignedAt(descs, i * descLayout.size + lpos.next.offset, lpos.next.size);
    const block = dataBlock(begin, next, { dataSize, idSize: stateVar.size, textStart, textLength: keepText, cut: keepText < used, wrapLpos });
    if (block === 'lost') {
      lost++;
      continue;
    }
    if (block === 'truncated') {
      truncated++;
      continue;
    }
    let body = '';
    if (block !== 'empty') {
      // The block's own id says whether the text is still this record's, not a newer one's.
      if (unsignedAt(text, block.offset, stateVar.size) !== id) {
        lost++;
        continue;
      }
      const textLen = Number(info.unsigned('text_len'));
      if (textLen > block.size - stateVar.size) {
        lost++;
        continue;
      }
      body = decode(text.subarray(block.offset + stateVar.size, block.offset + stateVar.size + textLen));
    }
    records.push(record(info, infoMembers, body));
  }
  return { format: 'lockless', records, lost, truncated, bytesRead: target.bytes, reads: target.reads };
}

interface Window {
  dataSize: bigint;
  idSize: number;
  /** Logical position of text[0], and how many bytes were read from there. */
  textStart: bigint;
  textLength: bigint;
  /** Older text was left out for the budget (else everything from tail_lpos was read). */
  cut: boolean;
  wrapLpos: (v: bigint) => bigint;
}

/** Where a descriptor's block sits in the text read (get_data()), or why it cannot be read. */
function dataBlock(begin: bigint, next: bigint, w: Window): { offset: number; size: number } | 'empty' | 'lost' | 'truncated' {
  if ((begin & 1n) === 1n && (next & 1n) === 1n) return begin === NO_LPOS && next === NO_LPOS ? 'empty' : 'lost';
  const wraps = (lpos: bigint) => lpos / w.dataSize;
  let start: bigint;
  let size: bigint;
  if (wraps(begin) === wraps(next) && begin < next) {
    start = begin;
    size = next - begin;
  } else if (wraps(w.wrapLpos(begin + w.dataSize)) === wraps(next)) {
    // A block that would cross the end of the ring is stored whole at its start instead.
    start = next - (next % w.dataSize);
    size = next % w.dataSize;
  } else {
    return 'lost';
  }
  const align = BigInt(w.idSize);
  if (begin % align !== 0n || next % align !== 0n || size < align) return 'lost';
  // Inside the text that was read? Positions before it are older than tail_lpos (gone) or
  // were left out for the budget; the caller tells which.
  const from = w.wrapLpos(begin - w.textStart);
  const to = w.wrapLpos(next - w.textStart);
  if (from > w.textLength || to > w.textLength || to < from) return w.cut ? 'truncated' : 'lost';
  return { offset: Number(w.wrapLpos(start - w.textStart)), size: Number(size) };
}

/**
 * Elements first … first+n-1 (mod count) of a ring of `count` elements of `size` bytes at
 * `base`, in logical order: one read, or two where the range wraps past the end.
 */
async function readRing(target: Target, what: string, base: bigint, size: number, count: bigint, first: bigint, n: bigint): Promise<Uint8Array> {
  const out = new Uint8Array(Number(n) * size);
  const head = min(n, count - first);
  try {
    if (head > 0n) out.set(await target.readVirtual(base + first * BigInt(size), Number(head) * size), 0);
    if (n > head) out.set(await target.readVirtual(base, Number(n - head) * size), Number(head) * size);
  } catch (e) {
    // Say which part of the log: a bare address does not tell a corrupt prb from a bad line.
    if (e instanceof FaultError) throw new PrintkError(`the kernel log's ${what} at 0x${base.toString(16)} cannot be read: ${e.message}`);
    throw e;
  }
  return out;
}

// ---- log_buf (up to 5.9) ----

async function readLegacy(target: CountingReads, maxBytes: number): Promise<PrintkLog> {
  const header = await structLayout(target, 'printk_log');
  const [bufSym, lenSym, firstSym, nextSym, seqSym] = await Promise.all(
    ['log_buf', 'log_buf_len', 'log_first_idx', 'log_next_idx', 'log_first_seq'].map((n) => target.symbol(n)),
  );
  if (bufSym === undefined || lenSym === undefined || firstSym === undefined || nextSym === undefined) {
    throw new DebugInfoError('the kernel has log_first_idx but not log_buf, log_buf_len and log_next_idx');
  }
  const buf = await readU64(target, bufSym);
  const len = Number(unsignedAt(await target.readVirtual(lenSym, 4), 0, 4));
  const first = Number(unsignedAt(await target.readVirtual(firstSym, 4), 0, 4));
  const next = Number(unsignedAt(await target.readVirtual(nextSym, 4), 0, 4));
  const firstSeq = seqSym === undefined ? 0n : await readU64(target, seqSym);
  if (len === 0 || len > 2 ** MAX_SHIFT || first >= len || next >= len) {
    throw new PrintkError(`log_buf_len ${len}, log_first_idx ${first}, log_next_idx ${next}: not a kernel log (or its memory is corrupt)`);
  }
  if (len > maxBytes) throw new PrintkError(`log_buf is ${len} bytes, more than the ${maxBytes} this reads`);
  const bytes = await target.readVirtual(buf, len);
  const names = ['ts_nsec', 'len', 'text_len', 'facility', ...['level', 'caller_id'].filter((n) => header.members.has(n))];
  const records: PrintkRecord[] = [];
  // Every record is at least a header long: more steps than that means a loop.
  for (let idx = first, steps = 0; idx !== next; steps++) {
    if (steps > len / header.size + 1) {
      throw new PrintkError(`log_buf records do not lead from log_first_idx ${first} to log_next_idx ${next} (stuck at ${idx})`);
    }
    // A zero length, or no room for a header, marks the unused end: the next record is at the start.
    if (idx + header.size > len) {
      idx = 0;
      continue;
    }
    const h = viewAt(header, bytes, idx);
    const recordLen = Number(h.unsigned('len'));
    if (recordLen === 0) {
      idx = 0;
      continue;
    }
    const textLen = Number(h.unsigned('text_len'));
    if (idx + header.size + textLen > len || recordLen < header.size) {
      throw new PrintkError(`log_buf record at ${idx} has len ${recordLen} and text_len ${textLen}: the log is corrupt`);
    }
    const body = decode(bytes.subarray(idx + header.size, idx + header.size + textLen));
    records.push(record(h, names, body, firstSeq + BigInt(records.length)));
    idx += recordLen;
  }
  return { format: 'legacy', records, lost: 0, truncated: 0, bytesRead: target.bytes, reads: target.reads };
}

// ---- decoding ----

/** One struct of a buffer that holds many of them (the info array, log_buf). */
function viewAt(layout: StructLayout, bytes: Uint8Array, offset: number): StructView {
  return new StructView(0n, layout, bytes.subarray(offset, offset + layout.size), 0);
}

function record(info: StructView, names: readonly string[], text: string, seq?: bigint): PrintkRecord {
  return {
    seq: seq ?? info.unsigned('seq'),
    tsNsec: info.unsigned('ts_nsec'),
    facility: Number(info.unsigned('facility')),
    ...(names.includes('level') ? { level: info.bits('level') } : {}),
    ...(names.includes('caller_id') ? { callerId: Number(info.unsigned('caller_id')) } : {}),
    text,
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** The kernel stores bytes as printk got them; most are ASCII, and UTF-8 is what terminals show. */
function decode(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** Counts what a read of the log costs, whatever the Target. */
class CountingReads implements Target {
  bytes = 0;
  reads = 0;
  readonly arch: Target['arch'];
  constructor(private readonly target: Target) {
    this.arch = target.arch;
  }
  readVirtual(address: bigint, length: number): Promise<Uint8Array> {
    this.reads++;
    this.bytes += length;
    return this.target.readVirtual(address, length);
  }
  readPhysical(address: bigint, length: number): Promise<Uint8Array> {
    this.reads++;
    this.bytes += length;
    return this.target.readPhysical(address, length);
  }
  registers(cpu: number, names: readonly string[]) {
    return this.target.registers(cpu, names);
  }
  symbol(name: string) {
    return this.target.symbol(name);
  }
  layout(name: string) {
    return this.target.layout(name);
  }
  cpus() {
    return this.target.cpus();
  }
}
