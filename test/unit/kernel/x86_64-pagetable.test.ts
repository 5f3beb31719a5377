import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { decodeEntry, walk, type Walk } from '../../../src/kernel/pagetable';
import { X86_SHIFTS_4, X86_SHIFTS_5, indexOf, writeChain } from './page-table-builder';

// Real values from the Debian 6.1 x86_64 fixture under QEMU (nokaslr), checked there against
// `monitor gva2gpa`.
const JIFFIES = 0xffffffff82a079c0n;
const INIT_TOP_PGT = 0x2a10000n; // CR3 of the idle CPU0
const CR4_4LEVEL = 0x6b0n; // OSXMMEXCPT OSFXSR PGE PAE PSE
const CR4_LA57 = 0x16b0n; // the same plus LA57 (bit 12)
const CR4_MAX = 0x751eb0n; // -cpu max: LA57 SMEP SMAP PKE …

/** The jiffies walk of a 4-level kernel: PGD[511] → PUD[510] → PMD[21], a 2 MiB page. */
function jiffiesImage(cr3 = INIT_TOP_PGT, cr4 = CR4_4LEVEL): { image: MemoryImage; entries: bigint[] } {
  const image = new MemoryImage('x86_64', 2).setRegisters(0, { cr3, cr4 });
  const entries = writeChain(image, JIFFIES, [
    { table: 0x2a10000n, shift: 39, bits: 9, entry: 0x0000000002a15067n },
    { table: 0x2a15000n, shift: 30, bits: 9, entry: 0x0000000002a16063n },
    { table: 0x2a16000n, shift: 21, bits: 9, entry: 0x8000000002a001e3n },
  ]);
  return { image, entries };
}

function assertReadsOnePerLevel(image: MemoryImage, w: Walk): void {
  assert.equal(image.count('physical'), w.levels.length);
  assert.deepEqual(
    image.reads.map((r) => [r.address, r.length]),
    w.levels.map((l) => [l.entryPhysical, 8]),
  );
}

describe('x86_64 4-level walks', () => {
  test('jiffies through a 2 MiB page matches the gva2gpa answer, one 8-byte read per level', async () => {
    const { image, entries } = jiffiesImage();
    const w = await walk(image, JIFFIES);
    assert.equal(w.fault, null);
    assert.equal(w.phys, 0x2a079c0n);
    assert.equal(w.pageSize, 2n << 20n);
    assert.equal(w.root, INIT_TOP_PGT);
    assert.deepEqual(w.levels.map((l) => [l.level, l.linuxLevel, l.index]), [
      ['PGD', 'PGD', 511], ['PUD', 'PUD', 510], ['PMD', 'PMD', 21],
    ]);
    assert.deepEqual(w.levels.map((l) => l.entryPhysical), entries);
    assert.deepEqual(w.levels.map((l) => l.next), [0x2a15000n, 0x2a16000n, null]);
    assert.deepEqual(w.levels[0].flags, ['P', 'RW', 'US', 'A', 'D']);
    assert.deepEqual(w.levels[2].flags, ['P', 'RW', 'A', 'D', 'PS', 'G', 'NX']);
    assert.equal(w.levels[2].descriptor, '2 MiB page');
    assert.equal(w.summary?.text, 'kernel RW-, user ---, WB, global, dirty');
    assertReadsOnePerLevel(image, w);
  });

  test('a 4 KiB page: the VMAP stack of a task', async () => {
    const va = 0xffffc900007b4000n;
    const image = new MemoryImage('x86_64').setRegisters(0, { cr3: INIT_TOP_PGT, cr4: CR4_4LEVEL });
    writeChain(image, va, [
      { table: INIT_TOP_PGT, shift: 39, bits: 9, entry: 0x3001067n },
      { table: 0x3001000n, shift: 30, bits: 9, entry: 0x3002067n },
      { table: 0x3002000n, shift: 21, bits: 9, entry: 0x3003067n },
      { table: 0x3003000n, shift: 12, bits: 9, entry: 0x8000000005565163n },
    ]);
    const w = await walk(image, va + 0x123n);
    assert.deepEqual(w.levels.map((l) => l.index), [402, 0, 3, 436]);
    assert.equal(w.phys, 0x5565123n);
    assert.equal(w.pageSize, 4096n);
    assert.deepEqual(w.levels[3].flags, ['P', 'RW', 'A', 'D', 'G', 'NX']);
    assertReadsOnePerLevel(image, w);
  });

  test('a 1 GiB page in the direct map', async () => {
    const va = 0xffff888040000000n + 0x2345678n;
    const image = new MemoryImage('x86_64').setRegisters(0, { cr3: INIT_TOP_PGT, cr4: CR4_4LEVEL });
    writeChain(image, va, [
      { table: INIT_TOP_PGT, shift: 39, bits: 9, entry: 0x3001063n },
      { table: 0x3001000n, shift: 30, bits: 9, entry: 0x80000000400001e3n },
    ]);
    const w = await walk(image, va);
    assert.equal(w.fault, null);
    assert.equal(w.phys, 0x42345678n);
    assert.equal(w.pageSize, 1n << 30n);
    assert.equal(w.levels[1].descriptor, '1 GiB page');
  });

  test('user text: US at every level, no NX, so the user can read and execute', async () => {
    const va = 0x4042fdn;
    const cr3 = 0x534c000n;
    const image = new MemoryImage('x86_64', 2).setRegisters(1, { cr3, cr4: 0x6a0n });
    writeChain(image, va, [
      { table: cr3, shift: 39, bits: 9, entry: 0x4000067n },
      { table: 0x4000000n, shift: 30, bits: 9, entry: 0x4001067n },
      { table: 0x4001000n, shift: 21, bits: 9, entry: 0x4002067n },
      { table: 0x4002000n, shift: 12, bits: 9, entry: 0x0000000003850025n },
    ]);
    const w = await walk(image, va, { cpu: 1 });
    assert.equal(w.phys, 0x38502fdn);
    assert.deepEqual(w.levels.map((l) => l.index), [0, 0, 2, 4]);
    assert.deepEqual(w.levels[3].flags, ['P', 'US', 'A']);
    assert.equal(w.summary?.text, 'kernel R-X, user R-X, WB');
  });

  test('a non-canonical address faults before any read', async () => {
    const { image } = jiffiesImage();
    for (const va of [0x0000800000000000n, 0xff00000000000000n, 0x7fff_ffff_ffff_ffffn]) {
      const w = await walk(image, va);
      assert.match(w.fault ?? '', /not canonical for 4-level paging/);
      assert.equal(w.levels.length, 0);
    }
    assert.equal(image.count('physical'), 0);
  });

  test('a non-present entry at each level ends the walk there', async () => {
    const va = 0xffffc900007b4000n;
    const tables = [INIT_TOP_PGT, 0x3001000n, 0x3002000n, 0x3003000n];
    const entries = [0x3001067n, 0x3002067n, 0x3003067n, 0x8000000005565163n];
    const names = ['PGD', 'PUD', 'PMD', 'PTE'];
    for (let missing = 0; missing < 4; missing++) {
      const image = new MemoryImage('x86_64').setRegisters(0, { cr3: INIT_TOP_PGT, cr4: CR4_4LEVEL });
      writeChain(image, va, tables.map((table, i) => ({
        table, shift: X86_SHIFTS_4[i], bits: 9, entry: i === missing ? 0n : entries[i],
      })));
      const w = await walk(image, va);
      const index = indexOf(va, X86_SHIFTS_4[missing], 9);
      assert.equal(w.fault, `${names[missing]}[${index}] = 0x0: ${names[missing]} entry not present (P=0)`);
      assert.equal(w.phys, null);
      assert.equal(w.levels.length, missing + 1);
      assert.equal(w.levels[missing].kind, 'invalid');
      assert.equal(image.count('physical'), missing + 1);
    }
  });

  test('PCID bits in CR3 are not part of the table address', async () => {
    const { image } = jiffiesImage(INIT_TOP_PGT | 0x5n, CR4_4LEVEL | (1n << 17n));
    assert.equal((await walk(image, JIFFIES)).phys, 0x2a079c0n);
  });

  test('PS in a PGD entry is reserved; reserved low bits of a 2 MiB entry are caught', async () => {
    const image = new MemoryImage('x86_64').setRegisters(0, { cr3: INIT_TOP_PGT, cr4: CR4_4LEVEL });
    writeChain(image, JIFFIES, [{ table: INIT_TOP_PGT, shift: 39, bits: 9, entry: 0x2a150e7n }]);
    assert.match((await walk(image, JIFFIES)).fault ?? '', /PS is reserved in a PGD entry/);
    const { image: bad } = jiffiesImage();
    bad.writeU64(0x2a16000n + 21n * 8n, 0x8000000002a041e3n); // bit 14 set inside a 2 MiB frame
    assert.match((await walk(bad, JIFFIES)).fault ?? '', /reserved bits 20:13/);
  });

  test('a table that points back at itself is reported as a loop', async () => {
    const image = new MemoryImage('x86_64').setRegisters(0, { cr3: INIT_TOP_PGT, cr4: CR4_4LEVEL });
    writeChain(image, JIFFIES, [{ table: INIT_TOP_PGT, shift: 39, bits: 9, entry: INIT_TOP_PGT | 0x63n }]);
    const w = await walk(image, JIFFIES);
    assert.match(w.fault ?? '', /PUD table 0x2a10000 was already walked/);
    assert.equal(image.count('physical'), 1);
  });

  test('a table outside memory ends the walk with a fault, not an exception', async () => {
    const image = new MemoryImage('x86_64').setRegisters(0, { cr3: INIT_TOP_PGT, cr4: CR4_4LEVEL });
    writeChain(image, JIFFIES, [{ table: INIT_TOP_PGT, shift: 39, bits: 9, entry: 0x7ffff0000063n }]);
    const w = await walk(image, JIFFIES);
    assert.match(w.fault ?? '', /PUD entry unreadable/);
    assert.equal(w.levels.length, 1);
  });

  test('an explicit root and config need no registers (kgdb)', async () => {
    const { image } = jiffiesImage();
    const bare = new MemoryImage('x86_64');
    for (const [i, at] of [[0, 0x2a10000n], [1, 0x2a15000n], [2, 0x2a16000n]] as const) {
      const slot = at + indexOf(JIFFIES, X86_SHIFTS_4[i], 9) * 8n;
      bare.writePhysical(slot, await image.readPhysical(slot, 8));
    }
    const w = await walk(bare, JIFFIES, { root: INIT_TOP_PGT, config: { la57: false } });
    assert.equal(w.phys, 0x2a079c0n);
    assert.equal(w.rootName, 'root');
    assert.match((await walk(bare, JIFFIES)).fault ?? '', /cr4 is not available/);
    assert.match((await walk(bare, JIFFIES, { config: { levels: 4 } })).fault ?? '', /cr3 is not available/);
  });

  test('a direct map gives every entry its kernel virtual address', async () => {
    const { image } = jiffiesImage();
    const pageOffsetBase = 0xffff888000000000n;
    const w = await walk(image, JIFFIES, { directMap: { pageOffset: pageOffsetBase, physOffset: 0n } });
    assert.equal(w.levels[0].entryVirtual, 0xffff888002a10ff8n);
  });
});

describe('x86_64 5-level walks (CR4.LA57)', () => {
  /** jiffies under LA57: PGD[511] → P4D[511] → PUD[510] → PMD[21]. */
  function la57Image(cr4 = CR4_LA57): MemoryImage {
    const image = new MemoryImage('x86_64').setRegisters(0, { cr3: 0x2a0f000n, cr4 });
    writeChain(image, JIFFIES, [
      { table: 0x2a0f000n, shift: 48, bits: 9, entry: 0x2a10067n },
      { table: 0x2a10000n, shift: 39, bits: 9, entry: 0x2a15067n },
      { table: 0x2a15000n, shift: 30, bits: 9, entry: 0x2a16063n },
      { table: 0x2a16000n, shift: 21, bits: 9, entry: 0x8000000002a001e3n },
    ]);
    return image;
  }

  test('jiffies goes through five names and lands on the same 2 MiB page', async () => {
    const image = la57Image();
    const w = await walk(image, JIFFIES);
    assert.equal(w.phys, 0x2a079c0n);
    assert.deepEqual(w.levels.map((l) => `${l.level}[${l.index}]`), ['PGD[511]', 'P4D[511]', 'PUD[510]', 'PMD[21]']);
    assertReadsOnePerLevel(image, w);
  });

  test('a 4 KiB direct-map page, as on the LA57 boot', async () => {
    const va = 0xff1100001ff68000n;
    const image = new MemoryImage('x86_64').setRegisters(0, { cr3: 0x2a0f000n, cr4: CR4_MAX });
    const tables = [0x2a0f000n, 0x5000000n, 0x5001000n, 0x5002000n, 0x5003000n];
    writeChain(image, va, tables.map((table, i) => ({
      table, shift: X86_SHIFTS_5[i], bits: 9, entry: i < 4 ? tables[i + 1] | 0x63n : 0x800000001ff68163n,
    })));
    const w = await walk(image, va);
    assert.deepEqual(w.levels.map((l) => l.index), [273, 0, 0, 255, 360]);
    assert.equal(w.phys, 0x1ff68000n);
  });

  test('0x0000800000000000 is canonical with 57-bit VAs; 0x0100000000000000 is not', async () => {
    const image = la57Image();
    assert.doesNotMatch((await walk(image, 0x0000800000000000n)).fault ?? '', /canonical/);
    assert.match((await walk(image, 0x0100000000000000n)).fault ?? '', /not canonical for 5-level paging/);
  });

  test('a non-present entry at each of the five levels', async () => {
    const va = 0xff1100001ff68000n;
    const tables = [0x2a0f000n, 0x5000000n, 0x5001000n, 0x5002000n, 0x5003000n];
    const names = ['PGD', 'P4D', 'PUD', 'PMD', 'PTE'];
    for (let missing = 0; missing < 5; missing++) {
      const image = new MemoryImage('x86_64').setRegisters(0, { cr3: 0x2a0f000n, cr4: CR4_LA57 });
      writeChain(image, va, tables.map((table, i) => ({
        table, shift: X86_SHIFTS_5[i], bits: 9,
        entry: i === missing ? 0x8000000000000000n : i < 4 ? tables[i + 1] | 0x63n : 0x1ff68163n,
      })));
      const w = await walk(image, va);
      assert.match(w.fault ?? '', new RegExp(`^${names[missing]}\\[\\d+\\] = 0x8000000000000000: .*not present`));
      assert.equal(image.count('physical'), missing + 1);
    }
  });

  test('SMEP: the kernel may not execute a user page', async () => {
    const va = 0x400000n;
    const image = new MemoryImage('x86_64').setRegisters(0, { cr3: 0x2a0f000n, cr4: CR4_MAX });
    const tables = [0x2a0f000n, 0x5000000n, 0x5001000n, 0x5002000n, 0x5003000n];
    writeChain(image, va, tables.map((table, i) => ({
      table, shift: X86_SHIFTS_5[i], bits: 9, entry: i < 4 ? tables[i + 1] | 0x67n : 0x3850025n,
    })));
    assert.equal((await walk(image, va)).summary?.text, 'kernel R--, user R-X, WB');
  });
});

describe('x86_64 page-table isolation', () => {
  // With PTI the PGD is an 8 KiB pair; a CPU in user mode holds the user half (bit 12 set) in CR3.
  // The user half maps the kernel image PMD as not present.
  const KERNEL_PGD = 0x561c000n;
  const USER_PGD = 0x561d000n;

  function ptiImage(): MemoryImage {
    const image = new MemoryImage('x86_64', 2).setRegisters(1, { cr3: USER_PGD, cr4: 0x6a0n });
    writeChain(image, JIFFIES, [
      { table: KERNEL_PGD, shift: 39, bits: 9, entry: 0x2a15067n },
      { table: 0x2a15000n, shift: 30, bits: 9, entry: 0x2a16063n },
      // Kernel 2 MiB pages lose G under PTI.
      { table: 0x2a16000n, shift: 21, bits: 9, entry: 0x8000000002a000e3n },
    ]);
    writeChain(image, JIFFIES, [
      { table: USER_PGD, shift: 39, bits: 9, entry: 0x6000067n },
      { table: 0x6000000n, shift: 30, bits: 9, entry: 0x6001063n },
      { table: 0x6001000n, shift: 21, bits: 9, entry: 0n },
    ]);
    return image;
  }

  test('with pti the walk starts from the kernel PGD (cr3 & ~0x1000)', async () => {
    const w = await walk(ptiImage(), JIFFIES, { cpu: 1, config: { pti: true } });
    assert.equal(w.root, KERNEL_PGD);
    assert.equal(w.rootName, 'CR3 (kernel PGD)');
    assert.equal(w.phys, 0x2a079c0n);
    assert.equal(w.summary?.global, false);
  });

  test('without it the user PGD is walked and the kernel image is not present', async () => {
    const w = await walk(ptiImage(), JIFFIES, { cpu: 1 });
    assert.equal(w.root, USER_PGD);
    assert.match(w.fault ?? '', /^PMD\[21\] = 0x0: PMD entry not present/);
  });
});

describe('x86_64 entry decode', () => {
  test('PAT is bit 7 in a PTE and bit 12 in a large page; PWT/PCD/PAT pick the Linux PAT entry', () => {
    // PTE 0x…8b: P RW PWT PAT(bit 7) → PAT index 0b101 = 5 → WP in Linux's PAT.
    const pte = decodeEntry('x86_64', 0x800000000123408bn, 'PTE');
    assert.deepEqual(pte.flags, ['P', 'RW', 'PWT', 'PAT', 'NX']);
    assert.equal(pte.summary?.memoryType, 'WP');
    // PMD 0x…1083: P RW PS, bit 12 PAT → index 4 → WB; the address keeps bits 51:21 only.
    const pmd = decodeEntry('x86_64', 0x0000000040201083n, 'PMD');
    assert.deepEqual(pmd.flags, ['P', 'RW', 'PS', 'PAT']);
    assert.equal(pmd.address, 0x40200000n);
    assert.equal(pmd.summary?.memoryType, 'WB');
    // PCD alone → index 2 → UC-; PWT alone → index 1 → WC.
    assert.equal(decodeEntry('x86_64', 0x1000013n).summary?.memoryType, 'UC-');
    assert.equal(decodeEntry('x86_64', 0x100000bn).summary?.memoryType, 'WC');
    assert.equal(decodeEntry('x86_64', 0x100000bn, 'PTE', { pat: 0x0007040600070406n }).summary?.memoryType, 'WT');
  });

  test('protection key bits 62:59 and physical bits 51:12', () => {
    const d = decodeEntry('x86_64', (1n << 63n) | (0xbn << 59n) | 0x000f_ffff_ffff_f000n | 0x67n, 'PTE');
    assert.deepEqual(d.flags, ['P', 'RW', 'US', 'A', 'D', 'PKEY=11', 'NX']);
    assert.equal(d.address, 0x000f_ffff_ffff_f000n);
    assert.equal(d.summary?.text, 'kernel RW-, user RW-, WB, dirty');
  });

  test('a table entry names its next table; a zero entry is not present', () => {
    const t = decodeEntry('x86_64', 0x2a15067n, 'PGD');
    assert.equal(t.kind, 'table');
    assert.equal(t.address, 0x2a15000n);
    assert.equal(decodeEntry('x86_64', 0n, 'PMD').descriptor, 'not present');
  });
});
