import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openDump, type Dump } from '../../../src/dump/dump';
import { CorruptPageError, DumpFormatError, NotInDumpError, WrongDumpError } from '../../../src/dump/errors';
import type { KdumpMemory } from '../../../src/dump/kdump';
import { encodeNote, NT_PRSTATUS } from '../../../src/dump/notes';
import { encodePrStatus } from '../../../src/dump/prstatus';
import { concat, flatten, kdump, tempFile, vmcoreinfoNote, type Kind, type KdumpSpec } from './build';
import { LZO_4K, LZO_64K, ZSTD_4K, ZSTD_64K, pattern } from './vectors';

/** 40 frames: 0..31 memory, 34..39 memory; 5..9 filtered out; 20 an all-zero page. */
function spec(kind: Kind, pageSize = 4096): KdumpSpec {
  const present = [...Array.from({ length: 32 }, (_, i) => i), 34, 35, 36, 37, 38, 39];
  const pages = new Map<number, Uint8Array>();
  for (const p of present) if (p < 5 || p > 9) pages.set(p, p === 20 ? new Uint8Array(pageSize) : pattern(pageSize, p === 3 || p === 36 ? 1 : p + 100));
  const vector = pageSize === 4096 ? { lzo: LZO_4K, zstd: ZSTD_4K } : { lzo: LZO_64K, zstd: ZSTD_64K };
  const page3 = pattern(pageSize, pageSize === 4096 ? 1 : 2);
  if (kind === 'lzo' || kind === 'zstd') {
    // Only pattern(…, 1|2) has reference-compressed bytes: store those, the rest raw.
    for (const p of [3, 36]) pages.set(p, page3);
  }
  const regs = new Map([['pc', 0xffff800008012340n], ['sp', 0xffff80000800fd00n]]);
  return {
    machine: pageSize === 4096 ? 'x86_64' : 'aarch64',
    pageSize,
    maxMapnr: 40,
    present,
    pages,
    kind,
    compress: kind === 'lzo' || kind === 'zstd' ? (page) => (Buffer.compare(Buffer.from(page), Buffer.from(page3)) === 0 ? vector[kind] : page) : undefined,
    notes: pageSize === 4096 ? undefined : concat(encodeNote('CORE', NT_PRSTATUS, encodePrStatus('arm64', 1, regs)), vmcoreinfoNote('OSRELEASE=6.1.0-50-cloud-arm64\nPAGESIZE=65536\n')),
    vmcoreinfo: pageSize === 4096 ? 'OSRELEASE=6.1.0-50-cloud-amd64\nPAGESIZE=4096\nCRASHTIME=1767600000\n' : undefined,
    dumpLevel: 31,
  };
}

function check(dump: Dump, s: KdumpSpec): void {
  const ps = s.pageSize;
  for (const [pfn, page] of s.pages) assert.deepEqual(dump.memory.read(BigInt(pfn * ps), ps), page, `page ${pfn}`);
  // Across a page boundary, and from the LRU the second time.
  const across = dump.memory.read(BigInt(4 * ps - 8), 16);
  assert.deepEqual(across, concat(s.pages.get(3)!.subarray(ps - 8), s.pages.get(4)!.subarray(0, 8)));
  assert.deepEqual(dump.memory.read(BigInt(4 * ps - 8), 16), across);
  const filtered = (() => { try { dump.memory.read(BigInt(7 * ps + 16), 8); } catch (e) { return e; } })();
  assert.ok(filtered instanceof NotInDumpError, String(filtered));
  assert.equal(filtered.physical, BigInt(7 * ps));
  assert.match(filtered.message, /was filtered out when the dump was made \(makedumpfile dump level 31\)/);
  assert.throws(() => dump.memory.read(BigInt(33 * ps), 8), /is not memory the dump describes/);
  assert.throws(() => dump.memory.read(BigInt(400 * ps), 8), /is not memory the dump describes/);
  // A read that starts in a saved page and runs into a filtered one fails as a whole.
  assert.throws(() => dump.memory.read(BigInt(5 * ps - 4), 8), NotInDumpError);
  assert.deepEqual(dump.memory.ranges, [{ start: 0n, end: BigInt(32 * ps) }, { start: BigInt(34 * ps), end: BigInt(40 * ps) }]);
  assert.equal(dump.dumpLevel, 31);
}

describe('kdump-compressed dumps', () => {
  for (const kind of ['none', 'zlib', 'lzo', 'snappy', 'zstd'] as const) {
    test(`${kind}: plain and flattened read the same pages, filtered pages are errors`, () => {
      const s = spec(kind);
      const plain = kdump(s);
      for (const [name, bytes] of [['plain', plain], ['flattened', flatten(plain, 3000)]] as const) {
        const dump = openDump(tempFile(`${kind}-${name}.kdump`, bytes));
        try {
          assert.equal(dump.format, name === 'plain' ? 'kdump' : 'kdump-flattened');
          assert.equal(dump.arch, 'x86_64');
          assert.equal(dump.release, '6.1.0-50-cloud-amd64');
          assert.equal(dump.vmcoreinfo?.crashTime, 1767600000);
          check(dump, s);
          if (kind !== 'none') assert.ok(((dump.memory as KdumpMemory).decompressed[kind] ?? 0) > 0, `${kind} pages were decompressed`);
        } finally {
          dump.close();
        }
      }
    });
  }

  test('arm64 with 64 KiB pages, notes and VMCOREINFO in the note area', () => {
    const s = spec('lzo', 65536);
    const dump = openDump(tempFile('arm64-64k.kdump', kdump(s)));
    try {
      assert.equal(dump.arch, 'arm64');
      assert.equal(dump.vmcoreinfo?.pageSize, 65536);
      assert.equal(dump.cpus[0].registers.get('pc'), 0xffff800008012340n);
      check(dump, s);
    } finally {
      dump.close();
    }
  });

  test('flattened records out of order and overlapping: the later record wins', () => {
    const s = spec('zlib');
    const plain = kdump(s);
    const reversed = flatten(plain, 5000, (r) => [...r].reverse());
    let dump = openDump(tempFile('reversed.flat', reversed));
    try {
      check(dump, s);
    } finally {
      dump.close();
    }
    // First a record of garbage over the page data, then the real records: the real ones win.
    const garbage = Buffer.alloc(plain.length, 0xee);
    const head = flatten(garbage, plain.length).subarray(0, 4096 + 16 + plain.length);
    const real = flatten(plain, 777).subarray(4096);
    dump = openDump(tempFile('overlap.flat', Buffer.concat([head, real])));
    try {
      check(dump, s);
    } finally {
      dump.close();
    }
  });

  test('bad input: truncated, corrupt, incomplete, split, another arch', () => {
    const s = spec('zlib');
    const plain = kdump(s);
    const opens = (name: string, bytes: Uint8Array) => () => openDump(tempFile(name, bytes)).close();
    assert.throws(opens('short-header.kdump', plain.subarray(0, 300)), (e) => e instanceof DumpFormatError && /truncated/.test(e.message));
    assert.throws(opens('no-end.flat', flatten(plain, 3000, (r) => r, false)), /no end record .*truncated/);
    assert.throws(opens('cut.flat', flatten(plain, 3000).subarray(0, 20000)), /runs past the file's .* bytes: truncated or corrupt/);
    const badBlock = Buffer.from(plain);
    badBlock.writeInt32LE(3000, 428);
    assert.throws(opens('bad-block.kdump', badBlock), /block size 3000 is not a page size/);
    const sparc = kdump({ ...s, machine: 'sparc64' });
    assert.throws(opens('sparc.kdump', sparc), (e) => e instanceof WrongDumpError && /a dump of a sparc64/.test(e.message));
    const split = Buffer.from(plain);
    split.writeInt32LE(1, 4096 + 12);
    assert.throws(opens('split.kdump', split), /split dump/);

    // The file cut inside the page data: pages past the cut are an error, earlier ones read.
    const cut = openDump(tempFile('cut.kdump', plain.subarray(0, plain.length - 600)));
    try {
      assert.deepEqual(cut.memory.read(0n, 16), s.pages.get(0)!.subarray(0, 16));
      assert.throws(() => cut.memory.read(BigInt(39 * 4096), 8), /past the end of the file: the dump is truncated/);
    } finally {
      cut.close();
    }
    // makedumpfile ran out of space: the incomplete flag, pages with no data.
    const lost = openDump(tempFile('incomplete.kdump', kdump({ ...s, lost: [38, 39] })));
    try {
      assert.throws(() => lost.memory.read(BigInt(38 * 4096), 8), /was lost: the dump is incomplete/);
    } finally {
      lost.close();
    }
    // A page whose compressed bytes are damaged.
    const damaged = Buffer.from(plain);
    const descs = 4096 * 2 + 2 * 4096; // header, sub header, two 1-block bitmaps
    const offset = Number(damaged.readBigInt64LE(descs + 24 * 2));
    damaged.fill(0x55, offset + 2, offset + 40);
    const d = openDump(tempFile('damaged.kdump', damaged));
    try {
      assert.throws(() => d.memory.read(2n * 4096n, 8), (e) => e instanceof CorruptPageError && /zlib data at file offset \d+ is corrupt/.test(e.message));
    } finally {
      d.close();
    }
  });

  test('a large sparse dump opens from its bitmaps alone', () => {
    // 16 GiB of page frames, two saved pages: opening reads the headers and 1 MiB of bitmaps.
    const maxMapnr = 4 << 20;
    const pages = new Map([[1, pattern(4096, 5)], [maxMapnr - 1, pattern(4096, 6)]]);
    const bytes = kdump({ machine: 'x86_64', pageSize: 4096, maxMapnr, present: [1, maxMapnr - 1], pages, kind: 'zlib' });
    const dump = openDump(tempFile('sparse.kdump', bytes));
    try {
      assert.deepEqual(dump.memory.read(BigInt(maxMapnr - 1) * 4096n, 4096), pages.get(maxMapnr - 1));
      assert.equal((dump.memory as KdumpMemory).dumpedPages, 2);
      assert.equal(dump.memory.ranges.length, 2);
    } finally {
      dump.close();
    }
  });
});
