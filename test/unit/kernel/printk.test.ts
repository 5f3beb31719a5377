import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { formatRecords, printkRecords, PrintkError, timestamp } from '../../../src/kernel/printk';
import { DebugInfoError } from '../../../src/kernel/struct';
import { layout, window } from './planted';

// Layouts as `ptype/o` prints them for the 6.1 fixture kernels (both arches agree).
const rbLayout = layout('printk_ringbuffer', 88, {
  desc_ring: [0, 48, 'struct prb_desc_ring'],
  'desc_ring.count_bits': [0, 4, 'unsigned int'],
  'desc_ring.descs': [8, 8, 'struct prb_desc *'],
  'desc_ring.infos': [16, 8, 'struct printk_info *'],
  'desc_ring.head_id': [24, 8, 'atomic_long_t'],
  'desc_ring.tail_id': [32, 8, 'atomic_long_t'],
  'desc_ring.last_finalized_id': [40, 8, 'atomic_long_t'],
  text_data_ring: [48, 32, 'struct prb_data_ring'],
  'text_data_ring.size_bits': [48, 4, 'unsigned int'],
  'text_data_ring.data': [56, 8, 'char *'],
  'text_data_ring.head_lpos': [64, 8, 'atomic_long_t'],
  'text_data_ring.tail_lpos': [72, 8, 'atomic_long_t'],
  fail: [80, 8, 'atomic_long_t'],
});
const descLayout = layout('prb_desc', 24, {
  state_var: [0, 8, 'atomic_long_t'],
  text_blk_lpos: [8, 16, 'struct prb_data_blk_lpos'],
  'text_blk_lpos.begin': [8, 8, 'unsigned long'],
  'text_blk_lpos.next': [16, 8, 'unsigned long'],
});
const infoLayout = layout('printk_info', 88, {
  seq: [0, 8, 'u64'],
  ts_nsec: [8, 8, 'u64'],
  text_len: [16, 2, 'u16'],
  facility: [18, 1, 'u8'],
  flags: [19, 1, 'u8', 0, 5],
  level: [19, 1, 'u8', 5, 3],
  caller_id: [20, 4, 'u32'],
  dev_info: [24, 64, 'struct dev_printk_info'],
});

const PRB = 0xffffffff82a62540n; // &prb
const RB = 0xffffffff82a62600n; // printk_rb_static
const DESCS = 0xffffffff83000000n;
const INFOS = 0xffffffff83100000n;
const DATA = 0xffffffff83200000n;
const U64 = (v: bigint) => BigInt.asUintN(64, v);
const ID_MASK = (1n << 62n) - 1n;

interface Planted {
  id: bigint;
  seq: bigint;
  text: string;
  begin: bigint;
  next: bigint;
  alive: boolean;
}

/**
 * A printk ring buffer written the way kernel/printk/printk_ringbuffer.c writes one
 * (desc_reserve, data_alloc with get_next_lpos, data_push_tail, desc_push_tail), starting from
 * its bootstrap state (DESC0_ID, BLK0_LPOS = -DATA_SIZE), so logical positions run across 2^64.
 */
class PlantedLog {
  readonly image = new MemoryImage('x86_64');
  readonly count: bigint;
  readonly dataSize: bigint;
  readonly records: Planted[] = [];
  headId: bigint;
  tailId: bigint;
  headLpos: bigint;
  tailLpos: bigint;
  private seq = 0n;
  private readonly mem;

  constructor(readonly countBits: number, readonly sizeBits: number) {
    this.count = 1n << BigInt(countBits);
    this.dataSize = 1n << BigInt(sizeBits);
    this.image.setLayout(rbLayout).setLayout(descLayout).setLayout(infoLayout).setSymbol('prb', PRB);
    this.mem = {
      prb: window(this.image, PRB, 0x2a62540n, 0x200n),
      descs: window(this.image, DESCS, 0x3000000n, this.count * 24n),
      infos: window(this.image, INFOS, 0x3100000n, this.count * 88n),
      data: window(this.image, DATA, 0x3200000n, this.dataSize),
    };
    this.mem.prb.int(PRB, RB);
    this.headId = this.tailId = U64(-(this.count + 1n)) & ID_MASK; // DESC0_ID
    this.headLpos = this.tailLpos = U64(-this.dataSize); // BLK0_LPOS
    // The bootstrap descriptor: reusable, with FAILED_LPOS.
    this.writeDesc(this.headId, 3n, 1n, 1n);
    this.writeHeader();
  }

  writeHeader(over: { countBits?: number; sizeBits?: number; descs?: bigint; headId?: bigint; tailId?: bigint } = {}): void {
    const p = this.mem.prb;
    p.int(RB + 0n, over.countBits ?? this.countBits, 4);
    p.int(RB + 8n, over.descs ?? DESCS);
    p.int(RB + 16n, INFOS);
    p.int(RB + 24n, over.headId ?? this.headId);
    p.int(RB + 32n, over.tailId ?? this.tailId);
    p.int(RB + 48n, over.sizeBits ?? this.sizeBits, 4);
    p.int(RB + 56n, DATA);
    p.int(RB + 64n, this.headLpos);
    p.int(RB + 72n, this.tailLpos);
  }

  writeDesc(id: bigint, state: bigint, begin: bigint, next: bigint): void {
    const at = DESCS + (id & (this.count - 1n)) * 24n;
    this.mem.descs.int(at, (state << 62n) | id);
    this.mem.descs.int(at + 8n, begin);
    this.mem.descs.int(at + 16n, next);
  }

  /** Appends one record; `state` 2 = finalized, 1 = committed, 0 = reserved. */
  push(text: string, o: { tsNsec?: bigint; level?: number; callerId?: number; state?: bigint } = {}): Planted {
    const bytes = new TextEncoder().encode(text);
    const id = (this.headId + 1n) & ID_MASK;
    // desc_reserve: a full descriptor ring retires its oldest record first.
    if (((id - this.tailId) & ID_MASK) >= this.count) this.retireOldest();
    const size = (8n + BigInt(bytes.length) + 7n) & ~7n;
    let begin: bigint;
    let next: bigint;
    let at: bigint;
    if (bytes.length === 0) {
      begin = next = 3n; // NO_LPOS: data-less, empty text
      at = -1n;
    } else {
      begin = this.headLpos;
      next = U64(begin + size);
      if (begin / this.dataSize !== next / this.dataSize) next = U64(next - (next % this.dataSize) + size); // get_next_lpos
      // data_push_tail: make room by retiring the oldest records.
      while (U64(next - this.tailLpos) > this.dataSize) this.retireOldest();
      at = next - size;
      this.headLpos = next;
    }
    this.headId = id;
    const state = o.state ?? 2n;
    this.writeDesc(id, state, begin, next);
    const info = INFOS + (id & (this.count - 1n)) * 88n;
    const seq = this.seq++;
    this.mem.infos.int(info, seq);
    this.mem.infos.int(info + 8n, o.tsNsec ?? 1_000_000n * (seq + 1n));
    this.mem.infos.int(info + 16n, bytes.length, 2);
    this.mem.infos.int(info + 18n, 0, 1);
    this.mem.infos.int(info + 19n, (o.level ?? 6) << 5, 1);
    this.mem.infos.int(info + 20n, o.callerId ?? 1, 4);
    if (at >= 0n) {
      const index = U64(at) % this.dataSize;
      this.mem.data.int(DATA + index, id);
      this.mem.data.bytes(DATA + index + 8n, bytes);
    }
    const r: Planted = { id, seq, text, begin, next, alive: true };
    this.records.push(r);
    this.writeHeader();
    return r;
  }

  private retireOldest(): void {
    const oldest = this.records.find((r) => r.alive);
    if (oldest) {
      oldest.alive = false;
      this.writeDesc(oldest.id, 3n, oldest.begin, oldest.next);
      if (!(oldest.begin & 1n)) this.tailLpos = oldest.next;
    }
    this.tailId = (this.tailId + 1n) & ID_MASK;
  }

  alive(): string[] {
    return this.records.filter((r) => r.alive).map((r) => r.text);
  }
}

describe('printk ring buffer (5.10+)', () => {
  test('a few records: text, timestamps, levels and dmesg lines, in at most 8 reads', async () => {
    const log = new PlantedLog(4, 9);
    log.push('Linux version 6.1.0-50-cloud-amd64', { tsNsec: 0n, level: 5, callerId: 0 });
    log.push('Command line: console=ttyS0 nokaslr', { tsNsec: 0n, level: 6, callerId: 0 });
    log.push('kdap-marker-123', { tsNsec: 12_345_678_901n, level: 4, callerId: 95 });
    const r = await printkRecords(log.image);
    assert.deepEqual(r.records.map((x) => [x.seq, x.text, x.level, x.callerId]), [
      [0n, 'Linux version 6.1.0-50-cloud-amd64', 5, 0],
      [1n, 'Command line: console=ttyS0 nokaslr', 6, 0],
      [2n, 'kdap-marker-123', 4, 95],
    ]);
    assert.equal(r.lost, 0);
    assert.equal(r.truncated, 0);
    assert.equal(
      formatRecords(r.records),
      '[    0.000000] Linux version 6.1.0-50-cloud-amd64\n[    0.000000] Command line: console=ttyS0 nokaslr\n[   12.345678] kdap-marker-123\n',
    );
    assert.equal(formatRecords(r.records.slice(2), { callerId: true }), '[   12.345678][   T95] kdap-marker-123\n');
    assert.ok(r.reads <= 8, `${r.reads} reads`);
    assert.equal(r.reads, log.image.count('virtual'));
  });

  test('only the live part of each ring is read', async () => {
    const log = new PlantedLog(10, 16);
    for (let i = 0; i < 5; i++) log.push(`message ${i}`);
    log.image.resetReads();
    const r = await printkRecords(log.image);
    assert.equal(r.records.length, 5);
    // prb, the ring header, descs and infos (the bootstrap slot at the end, then 0..4) and 5 small blocks.
    assert.ok(r.bytesRead < 2000, `${r.bytesRead} bytes`);
    assert.equal(r.bytesRead, log.image.reads.reduce((n, x) => n + x.length, 0));
  });

  test('both rings wrap many times, across 2^64 in logical positions: exactly the surviving records', async () => {
    const log = new PlantedLog(3, 8); // 8 descriptors, 256 text bytes
    for (let i = 0; i < 200; i++) log.push(`rec ${i} ${'x'.repeat((i * 7) % 40)}`);
    assert.ok(log.records.some((r) => !(r.begin & 1n) && r.begin / log.dataSize !== r.next / log.dataSize), 'a block wrapped');
    const r = await printkRecords(log.image);
    assert.deepEqual(r.records.map((x) => x.text), log.alive());
    assert.deepEqual(r.records.map((x) => x.seq), log.records.filter((p) => p.alive).map((p) => p.seq));
    assert.equal(r.lost, 0);
    assert.ok(r.records.length > 2);
  });

  test('multi-line records: every line gets the record’s prefix', async () => {
    const log = new PlantedLog(4, 9);
    log.push('first line\nsecond line\n  third', { tsNsec: 1_500_000_000n });
    const r = await printkRecords(log.image);
    assert.equal(formatRecords(r.records), '[    1.500000] first line\n[    1.500000] second line\n[    1.500000]   third\n');
  });

  test('an empty record (NO_LPOS) is an empty line; a failed one (FAILED_LPOS) is counted as lost', async () => {
    const log = new PlantedLog(4, 9);
    log.push('before');
    log.push('');
    const failed = log.push('will fail');
    log.writeDesc(failed.id, 2n, 1n, 1n);
    log.push('after');
    const r = await printkRecords(log.image);
    assert.deepEqual(r.records.map((x) => x.text), ['before', '', 'after']);
    assert.equal(r.lost, 1);
    assert.match(formatRecords(r.records), /\n\[    0\.002000\] \n/);
  });

  test('descriptors mid-write: reserved and reused slots are skipped, a committed record is shown', async () => {
    const log = new PlantedLog(3, 10);
    for (let i = 0; i < 10; i++) log.push(`old ${i}`);
    const committed = log.push('still open for pr_cont', { state: 1n });
    assert.ok(committed);
    log.push('being written', { state: 0n });
    let r = await printkRecords(log.image);
    assert.deepEqual(r.records.map((x) => x.text), [...log.alive().filter((t) => t !== 'being written')]);
    assert.equal(r.records.at(-1)?.text, 'still open for pr_cont');
    // desc_reserve() moved head_id but has not written state_var yet: the slot still holds the
    // id of the record it held one lap earlier.
    const stale = log.push('not yet');
    log.writeDesc((stale.id - log.count) & ID_MASK, 3n, stale.begin, stale.next);
    r = await printkRecords(log.image);
    assert.ok(!r.records.some((x) => x.text === 'not yet'));
    assert.equal(r.records.at(-1)?.text, 'still open for pr_cont');
    // Even a slot that says finalized is not the record expected there under another id.
    log.writeDesc((stale.id - log.count) & ID_MASK, 2n, stale.begin, stale.next);
    r = await printkRecords(log.image);
    assert.ok(!r.records.some((x) => x.text === 'not yet'), 'an id from another lap');
  });

  test('a block overwritten by a newer record’s text is lost, not shown as someone else’s text', async () => {
    const log = new PlantedLog(4, 9);
    const a = log.push('aaaaaaaaaaaaaaaa');
    log.push('bbbb');
    // Another id in the block header: the text is not this record's any more.
    log.image.writeU64(0x3200000n + (a.begin % log.dataSize), a.id + 99n);
    const r = await printkRecords(log.image);
    assert.deepEqual(r.records.map((x) => x.text), ['bbbb']);
    assert.equal(r.lost, 1);
  });

  test('maxBytes keeps the newest records and says how many were left out', async () => {
    const log = new PlantedLog(8, 14);
    for (let i = 0; i < 200; i++) log.push(`line ${i}`);
    const r = await printkRecords(log.image, { maxBytes: 4096 });
    assert.ok(r.bytesRead <= 4096 + 88 + 8, `${r.bytesRead} bytes`);
    assert.ok(r.records.length > 0 && r.records.length < 200);
    assert.equal(r.records.at(-1)?.text, 'line 199');
    const texts = log.alive();
    assert.deepEqual(r.records.map((x) => x.text), texts.slice(texts.length - r.records.length));
    // 200 records and the bootstrap descriptor the tail still points at.
    assert.equal(r.truncated + r.records.length, 201);
  });

  test('garbage: huge count_bits, head and tail that do not fit the ring, unmapped descriptors, NULL prb', async () => {
    const log = new PlantedLog(4, 9);
    log.push('x');
    log.writeHeader({ countBits: 60 });
    log.image.resetReads();
    await assert.rejects(printkRecords(log.image), (e: Error) => e instanceof PrintkError && /count_bits 60/.test(e.message));
    assert.ok(log.image.reads.length <= 2, 'refused before reading the rings');
    log.writeHeader({ tailId: log.headId - 100n });
    await assert.rejects(printkRecords(log.image), /inconsistent: 101 descriptors/);
    log.writeHeader({ descs: 0xffff_dead_0000_0000n });
    await assert.rejects(printkRecords(log.image), (e: Error) => e instanceof PrintkError && /descriptor ring .* cannot be read/.test(e.message));
    log.image.writeU64(0x2a62540n, 0n);
    await assert.rejects(printkRecords(log.image), /prb is NULL/);
  });

  test('a kernel with no log this knows', async () => {
    await assert.rejects(printkRecords(new MemoryImage('arm64')), (e: Error) => e instanceof DebugInfoError && /neither prb/.test(e.message));
  });
});

describe('log_buf (up to 5.9)', () => {
  // struct printk_log as 5.4 has it (CONFIG_PRINTK_CALLER off): 16 bytes, text right after.
  const header = layout('printk_log', 16, {
    ts_nsec: [0, 8, 'u64'],
    len: [8, 2, 'u16'],
    text_len: [10, 2, 'u16'],
    dict_len: [12, 2, 'u16'],
    facility: [14, 1, 'u8'],
    flags: [15, 1, 'u8', 0, 5],
    level: [15, 1, 'u8', 5, 3],
  });
  const BUF = 0xffffffff82800000n;
  const SYMS = 0xffffffff82700000n;

  function legacy(records: Array<{ at: number; ts: bigint; text: string }>, first: number, next: number, len = 256) {
    const image = new MemoryImage('x86_64').setLayout(header);
    const syms = window(image, SYMS, 0x2700000n, 0x100n);
    const buf = window(image, BUF, 0x2800000n, BigInt(len));
    for (const [name, off] of [['log_buf', 0n], ['log_buf_len', 8n], ['log_first_idx', 16n], ['log_next_idx', 24n], ['log_first_seq', 32n]] as const) image.setSymbol(name, SYMS + off);
    syms.int(SYMS, BUF);
    syms.int(SYMS + 8n, len, 4);
    syms.int(SYMS + 16n, first, 4);
    syms.int(SYMS + 24n, next, 4);
    syms.int(SYMS + 32n, 40n);
    for (const r of records) {
      const bytes = new TextEncoder().encode(r.text);
      const size = (16 + bytes.length + 7) & ~7;
      buf.int(BUF + BigInt(r.at), r.ts);
      buf.int(BUF + BigInt(r.at) + 8n, size, 2);
      buf.int(BUF + BigInt(r.at) + 10n, bytes.length, 2);
      buf.int(BUF + BigInt(r.at) + 15n, 3 << 5, 1);
      buf.bytes(BUF + BigInt(r.at) + 16n, bytes);
    }
    return image;
  }

  test('records from log_first_idx to log_next_idx, wrapping at a zero-length header', async () => {
    // 200: "old" (24 bytes), then an empty header at 224 sends the reader to 0.
    const image = legacy([{ at: 200, ts: 5_000n, text: 'old' }, { at: 0, ts: 2_000_000_000n, text: 'new one' }], 200, 24);
    const r = await printkRecords(image);
    assert.equal(r.format, 'legacy');
    assert.deepEqual(r.records.map((x) => [x.seq, x.text, x.level]), [[40n, 'old', 3], [41n, 'new one', 3]]);
    assert.equal(formatRecords(r.records), '[    0.000005] old\n[    2.000000] new one\n');
  });

  test('a corrupt chain is an error, not a loop', async () => {
    const image = legacy([{ at: 0, ts: 0n, text: 'a' }], 0, 100);
    image.writeU64(0x2800000n + 8n, 0n); // len 0 at 0 → back to 0, forever
    await assert.rejects(printkRecords(image), PrintkError);
  });
});

test('timestamp() is print_time()’s %5lu.%06lu', () => {
  assert.equal(timestamp(0n), '[    0.000000]');
  assert.equal(timestamp(1_234_567_999n), '[    1.234567]');
  assert.equal(timestamp(123_456_000_000_000n), '[123456.000000]');
});
