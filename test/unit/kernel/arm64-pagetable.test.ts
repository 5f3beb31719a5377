import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTcr, memoryTypeName } from '../../../src/kernel/arch/arm64/pagetable';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { decodeEntry, walk, type Walk } from '../../../src/kernel/pagetable';
import { indexOf, lpa2Address, lpa64kAddress, tcr, writeChain, type Slot } from './page-table-builder';

// Real register values and descriptors from the Debian 6.1 arm64 fixture (cortex-a57, 4K/48-bit),
// the 6.12 16K/52-bit LPA2 kernel and a 6.1 64K/48-bit build, each checked against `monitor gva2gpa`.
const TCR_4K_48 = 0x500074b5503510n;
const TTBR1_4K = 0x2e00004157b000n; // ASID 0x2e in [63:48]
const MAIR = 0x40044ffffn; // Attr0 0xff, Attr1 0xff, Attr2 0x44, Attr3 0x00, Attr4 0x04
const JIFFIES_4K = 0xffff8000098079c0n;
const TCR_64K_48 = 0x34f5507510n;
const TTBR1_64K = 0x1a000040590000n;
const JIFFIES_64K = 0xffff8000084619c0n;
const TCR_16K_52 = 0x95001f6754cb50cn;
const JIFFIES_16K = 0xffffc000826fd9c0n;

const ATTR_NORMAL_PAGE = 0x703n; // page/table type 0b11, AttrIndx 0, SH 0b11, AF
const ATTR_NORMAL_BLOCK = 0x701n; // the same as a block (type 0b01)
const PXN = 1n << 53n;
const UXN = 1n << 54n;

function image4k(extra: Record<string, bigint> = {}): MemoryImage {
  return new MemoryImage('arm64').setRegisters(0, {
    TCR_EL1: TCR_4K_48, TTBR1_EL1: TTBR1_4K, MAIR_EL1: MAIR, ...extra,
  });
}

/** jiffies: L0[256] → L1[0] → L2[76], a 2 MiB block (entries exactly as read from the guest). */
function jiffies4k(image: MemoryImage): bigint[] {
  return writeChain(image, JIFFIES_4K, [
    { table: 0x4157b000n, shift: 39, bits: 9, entry: 0x100000005ffff003n },
    { table: 0x5ffff000n, shift: 30, bits: 9, entry: 0x100000005fffe003n },
    { table: 0x5fffe000n, shift: 21, bits: 9, entry: 0x00e8000041a00701n },
  ]);
}

function assertOneReadPerLevel(image: MemoryImage, w: Walk): void {
  assert.deepEqual(image.reads.map((r) => [r.space, r.address, r.length]), w.levels.map((l) => ['physical', l.entryPhysical, 8]));
}

/** Builds `slots` for `va` once per level with that level's entry cleared, and checks the walk stops there. */
async function assertNonPresentAtEachLevel(
  registers: Record<string, bigint>, va: bigint, slots: Slot[], names: string[],
): Promise<void> {
  for (let missing = 0; missing < slots.length; missing++) {
    const image = new MemoryImage('arm64').setRegisters(0, registers);
    writeChain(image, va, slots.map((s, i) => (i === missing ? { ...s, entry: 0n } : s)));
    const w = await walk(image, va);
    const index = indexOf(va, slots[missing].shift, slots[missing].bits);
    assert.equal(w.fault, `${names[missing]}[${index}] = 0x0: ${names[missing]} descriptor invalid (bit 0 clear)`);
    assert.equal(w.levels.length, missing + 1);
    assert.equal(image.count('physical'), missing + 1);
  }
}

describe('arm64 registers', () => {
  test('TCR_EL1 of the 4K kernel: T1SZ=16, TG1=4K, IPS=44-bit, A1=1', () => {
    const t = decodeTcr(TCR_4K_48);
    assert.deepEqual(
      [t.t0sz, t.t1sz, t.tg0, t.tg1, t.ipsBits, t.a1, t.tbi0, t.tbi1, t.ha, t.hd, t.ds, t.sh1],
      [16, 16, 4096, 4096, 44, true, true, true, false, false, false, 3],
    );
  });

  test('TG0 and TG1 encode granules differently: 0b01 is 64K for TG0, 16K for TG1', () => {
    const t64 = decodeTcr(TCR_64K_48); // TG0=0b01, TG1=0b11
    assert.deepEqual([t64.tg0, t64.tg1, t64.tbi1, t64.ipsBits], [65536, 65536, false, 44]);
    const t16 = decodeTcr(TCR_16K_52); // TG0=0b10, TG1=0b01, DS=1
    assert.deepEqual([t16.t1sz, t16.tg0, t16.tg1, t16.ipsBits, t16.ds, t16.ha, t16.hd], [12, 16384, 16384, 52, true, true, true]);
    assert.equal(decodeTcr(0n).tg1, null); // TG1=0b00 is reserved
  });

  test('MAIR_EL1 0x40044ffff: the attribute behind each AttrIndx', () => {
    const names = [0, 1, 2, 3, 4].map((i) => memoryTypeName(Number((MAIR >> BigInt(8 * i)) & 0xffn)).name);
    assert.deepEqual(names, ['Normal WB', 'Normal WB', 'Normal NC', 'Device-nGnRnE', 'Device-nGnRE']);
    assert.deepEqual(memoryTypeName(0xf0), { name: 'Normal Tagged', cacheable: true });
    assert.equal(memoryTypeName(0x08).name, 'Device-nGRE');
    assert.equal(memoryTypeName(0x0c).name, 'Device-GRE');
    assert.deepEqual(memoryTypeName(0xbb), { name: 'Normal WT', cacheable: true });
    assert.deepEqual(memoryTypeName(0x44), { name: 'Normal NC', cacheable: false });
    assert.equal(memoryTypeName(0x4f).name, 'Normal inner WB outer NC');
  });
});

describe('arm64 4K granule, 48-bit VA (4 levels)', () => {
  test('jiffies: a 2 MiB block at L2, the entries where the guest had them', async () => {
    const image = image4k();
    const entries = jiffies4k(image);
    const w = await walk(image, JIFFIES_4K);
    assert.equal(w.fault, null);
    assert.equal(w.root, 0x4157b000n);
    assert.equal(w.rootName, 'TTBR1_EL1');
    assert.deepEqual(entries, [0x4157b800n, 0x5ffff000n, 0x5fffe260n]);
    assert.deepEqual(w.levels.map((l) => [l.level, l.linuxLevel, l.index]), [['L0', 'PGD', 256], ['L1', 'PUD', 0], ['L2', 'PMD', 76]]);
    assert.equal(w.phys, 0x41a079c0n);
    assert.equal(w.pageSize, 2n << 20n);
    assert.deepEqual(w.levels[0].flags, ['UXNTable']);
    assert.equal(w.levels[2].descriptor, '2 MiB block');
    assert.deepEqual(w.levels[2].flags, ['AttrIndx=0', 'AP=0', 'SH=3', 'AF', 'DBM', 'PXN', 'UXN', 'PTE_DIRTY']);
    assert.equal(w.summary?.text, 'kernel RW-, user ---, Normal WB, inner shareable, global, dirty');
    assertOneReadPerLevel(image, w);
  });

  test('CnP (bit 0) and the ASID are not part of the table address', async () => {
    const image = image4k({ TTBR1_EL1: TTBR1_4K | 1n });
    jiffies4k(image);
    assert.equal((await walk(image, JIFFIES_4K)).phys, 0x41a079c0n);
  });

  test('kernel text: a contiguous read-only executable 4 KiB page', async () => {
    const stext = 0xffff800008010000n;
    const image = image4k();
    // AP=0b10 (EL1 read-only), CONT, UXN; PXN clear.
    const page = 0x40210000n | ATTR_NORMAL_PAGE | 0x80n | (1n << 52n) | UXN;
    writeChain(image, stext, [
      { table: 0x4157b000n, shift: 39, bits: 9, entry: 0x5ffff003n },
      { table: 0x5ffff000n, shift: 30, bits: 9, entry: 0x5fffe003n },
      { table: 0x5fffe000n, shift: 21, bits: 9, entry: 0x5fffd003n },
      { table: 0x5fffd000n, shift: 12, bits: 9, entry: page },
    ]);
    const w = await walk(image, stext + 0x10n);
    assert.equal(w.phys, 0x40210010n);
    assert.deepEqual(w.levels.map((l) => l.linuxLevel), ['PGD', 'PUD', 'PMD', 'PTE']);
    assert.deepEqual(w.levels[3].flags, ['AttrIndx=0', 'AP=2', 'SH=3', 'AF', 'CONT', 'UXN']);
    assert.equal(w.summary?.contiguous, 64n << 10n);
    assert.equal(w.summary?.text, 'kernel R-X, user ---, Normal WB, inner shareable, global, contiguous 64 KiB');
  });

  test('a 1 GiB block at L1; no blocks at L0; type 0b01 is reserved at L3', async () => {
    const va = 0xffff000040001234n;
    const image = image4k();
    writeChain(image, va, [
      { table: 0x4157b000n, shift: 39, bits: 9, entry: 0x5ffff003n },
      { table: 0x5ffff000n, shift: 30, bits: 9, entry: 0x40000000n | ATTR_NORMAL_BLOCK | PXN | UXN },
    ]);
    const w = await walk(image, va);
    assert.equal(w.phys, 0x40001234n);
    assert.equal(w.levels[1].descriptor, '1 GiB block');

    image.writeU64(0x4157b000n + indexOf(va, 39, 9) * 8n, 0x0n | ATTR_NORMAL_BLOCK);
    assert.match((await walk(image, va)).fault ?? '', /no block descriptors at L0 with 4 KiB pages/);
    assert.equal(decodeEntry('arm64', 0x40000701n, 'L3', { granule: 4096 }).fault, 'descriptor type 0b01 is reserved at L3');
  });

  test('an output address beyond TCR.IPS (44 bits) is an address size fault', async () => {
    const image = image4k();
    writeChain(image, JIFFIES_4K, [
      { table: 0x4157b000n, shift: 39, bits: 9, entry: 0x5ffff003n },
      { table: 0x5ffff000n, shift: 30, bits: 9, entry: 0x5fffe003n },
      { table: 0x5fffe000n, shift: 21, bits: 9, entry: (1n << 45n) | ATTR_NORMAL_BLOCK },
    ]);
    assert.match((await walk(image, JIFFIES_4K)).fault ?? '', /0x200000000000 is beyond the 44-bit physical address size/);
  });

  test('a non-present descriptor at each of the four levels', async () => {
    const va = 0xffff800008010000n;
    await assertNonPresentAtEachLevel({ TCR_EL1: TCR_4K_48, TTBR1_EL1: TTBR1_4K }, va, [
      { table: 0x4157b000n, shift: 39, bits: 9, entry: 0x5ffff003n },
      { table: 0x5ffff000n, shift: 30, bits: 9, entry: 0x5fffe003n },
      { table: 0x5fffe000n, shift: 21, bits: 9, entry: 0x5fffd003n },
      { table: 0x5fffd000n, shift: 12, bits: 9, entry: 0x40210000n | ATTR_NORMAL_PAGE },
    ], ['L0', 'L1', 'L2', 'L3']);
  });

  test('hierarchical permissions: APTable and PXNTable restrict the leaf, unless TCR.HPD1', async () => {
    const build = (tcrValue: bigint) => {
      const image = image4k({ TCR_EL1: tcrValue });
      writeChain(image, JIFFIES_4K, [
        { table: 0x4157b000n, shift: 39, bits: 9, entry: 0x5ffff003n | (1n << 59n) }, // PXNTable
        { table: 0x5ffff000n, shift: 30, bits: 9, entry: 0x5fffe003n | (2n << 61n) }, // APTable=0b10: no writes below
        { table: 0x5fffe000n, shift: 21, bits: 9, entry: 0x41a00000n | ATTR_NORMAL_BLOCK },
      ]);
      return image;
    };
    assert.equal((await walk(build(TCR_4K_48), JIFFIES_4K)).summary?.kernel.write, false);
    assert.equal((await walk(build(TCR_4K_48), JIFFIES_4K)).summary?.kernel.exec, false);
    const ignored = await walk(build(TCR_4K_48 | (1n << 42n)), JIFFIES_4K);
    assert.deepEqual(ignored.summary?.kernel, { read: true, write: true, exec: true });
  });
});

describe('arm64 TTBR0 / TTBR1 selection', () => {
  const USER = 0x0000aaaabbbb1000n;
  function userImage(tcrValue = TCR_4K_48): MemoryImage {
    // With TCR.A1=1 the ASID lives in TTBR1; junk in TTBR0[63:48] must still be masked.
    const image = image4k({ TCR_EL1: tcrValue, TTBR0_EL1: 0x00ab000043000000n });
    jiffies4k(image);
    // User data: AP=0b01 (EL0 RW), nG, PXN, UXN.
    writeChain(image, USER, [
      { table: 0x43000000n, shift: 39, bits: 9, entry: 0x43001003n },
      { table: 0x43001000n, shift: 30, bits: 9, entry: 0x43002003n },
      { table: 0x43002000n, shift: 21, bits: 9, entry: 0x43003003n },
      { table: 0x43003000n, shift: 12, bits: 9, entry: 0x44444000n | ATTR_NORMAL_PAGE | 0x40n | 0x800n | PXN | UXN },
    ]);
    return image;
  }

  test('a user VA walks from TTBR0, a kernel VA from TTBR1', async () => {
    const image = userImage();
    const user = await walk(image, USER + 0x8n);
    assert.equal(user.rootName, 'TTBR0_EL1');
    assert.equal(user.root, 0x43000000n);
    assert.equal(user.phys, 0x44444008n);
    assert.deepEqual(user.summary?.user, { read: true, write: true, exec: false });
    assert.deepEqual(user.summary?.kernel, { read: true, write: true, exec: false });
    assert.equal(user.summary?.global, false);
    assert.equal((await walk(image, JIFFIES_4K)).rootName, 'TTBR1_EL1');
  });

  test('memory writable at EL0 is never kernel-executable, even with PXN clear', async () => {
    const image = userImage();
    image.writeU64(0x43003000n + indexOf(USER, 12, 9) * 8n, 0x44444000n | ATTR_NORMAL_PAGE | 0x40n | 0x800n);
    const w = await walk(image, USER);
    assert.deepEqual(w.summary?.kernel, { read: true, write: true, exec: false });
    assert.deepEqual(w.summary?.user, { read: true, write: true, exec: true });
  });

  test('SCTLR.WXN (QEMU names the register SCTLR) makes writable memory non-executable', async () => {
    const image = image4k({ SCTLR: 1n << 19n });
    writeChain(image, JIFFIES_4K, [
      { table: 0x4157b000n, shift: 39, bits: 9, entry: 0x5ffff003n },
      { table: 0x5ffff000n, shift: 30, bits: 9, entry: 0x5fffe003n },
      { table: 0x5fffe000n, shift: 21, bits: 9, entry: 0x41a00000n | ATTR_NORMAL_BLOCK },
    ]);
    assert.deepEqual((await walk(image, JIFFIES_4K)).summary?.kernel, { read: true, write: true, exec: false });
  });

  test('top-byte tags are ignored where TBI is set', async () => {
    const image = userImage();
    assert.equal((await walk(image, 0x5a00aaaabbbb1000n)).phys, 0x44444000n);
    assert.equal((await walk(image, 0xf5ff8000098079c0n)).phys, 0x41a079c0n);
  });

  test('a VA between the halves, or tagged without TBI, faults before any read', async () => {
    const image = userImage(TCR_4K_48 & ~(1n << 38n)); // TBI1 off
    for (const va of [0x0001000000000000n, 0xfffe800000000000n, 0xf5ff8000098079c0n]) {
      const w = await walk(image, va);
      assert.match(w.fault ?? '', /is in neither TTBR0_EL1 \(0x0–0xffffffffffff\) nor TTBR1_EL1 \(0xffff000000000000–/);
    }
    assert.equal(image.count('physical'), 0);
  });

  test('TCR.EPD1 disables walks through TTBR1, but not from an explicit root', async () => {
    const image = userImage(TCR_4K_48 | (1n << 23n));
    assert.equal((await walk(image, JIFFIES_4K)).fault, 'walks through TTBR1_EL1 are disabled (TCR_EL1.EPD1)');
    assert.equal((await walk(image, JIFFIES_4K, { root: 0x4157b000n })).phys, 0x41a079c0n);
  });

  test('without system registers (kgdb) a config and a root are enough', async () => {
    const image = new MemoryImage('arm64');
    jiffies4k(image);
    const w = await walk(image, JIFFIES_4K, { root: 0x4157b000n, config: { granule: 4096, vaBits: 48, paBits: 44 } });
    assert.equal(w.phys, 0x41a079c0n);
    assert.equal(w.summary?.memoryType, 'AttrIndx=0');
    assert.match((await walk(image, JIFFIES_4K)).fault ?? '', /TCR_EL1 is not available/);
    assert.match((await walk(image, JIFFIES_4K, { config: { granule: 4096, levels: 4 } })).fault ?? '', /TTBR1_EL1 is not available/);
    assert.match((await walk(image, JIFFIES_4K, { config: { granule: 4096, vaBits: 48, levels: 3 } })).fault ?? '', /take 4 levels, not 3/);
  });
});

describe('arm64 16K granule', () => {
  test('47-bit VA: 3 levels, L1 (PGD) has 2048 entries at shift 36; a 32 MiB block at L2', async () => {
    const registers = { TCR_EL1: tcr({ t0sz: 17, t1sz: 17, granule0: 16, granule1: 16, ipsBits: 48 }), TTBR1_EL1: 0x40000000n };
    const va = 0xffff800012345678n;
    const image = new MemoryImage('arm64').setRegisters(0, registers);
    writeChain(image, va, [
      { table: 0x40000000n, shift: 36, bits: 11, entry: 0x40004003n },
      { table: 0x40004000n, shift: 25, bits: 11, entry: 0x40008003n },
      { table: 0x40008000n, shift: 14, bits: 11, entry: 0x4567c000n | ATTR_NORMAL_PAGE },
    ]);
    const w = await walk(image, va);
    assert.deepEqual(w.levels.map((l) => `${l.level}/${l.linuxLevel}`), ['L1/PGD', 'L2/PMD', 'L3/PTE']);
    assert.equal(w.phys, 0x4567c000n | (va & 0x3fffn));
    assert.equal(w.pageSize, 16384n);
    assert.deepEqual(decodeEntry('arm64', 0n, 'PGD', { granule: 16384, vaBits: 47 }).level,
      { name: 'L1', linuxName: 'PGD', hw: 1, shift: 36, entries: 2048, pageShift: 14 });

    image.writeU64(0x40004000n + indexOf(va, 25, 11) * 8n, 0x42000000n | ATTR_NORMAL_BLOCK);
    const block = await walk(image, va);
    assert.equal(block.levels[1].descriptor, '32 MiB block');
    assert.equal(block.phys, 0x42000000n + (va & 0x1ffffffn));
  });

  describe('52-bit VA and PA with LPA2 (TCR.DS=1)', () => {
    // Tables above 4 PiB so that OA[51:50] (descriptor bits 9:8) and TTBR[5:2] matter.
    const ROOT = 0x000c_0000_4100_0000n;
    const TTBR1 = (0x1n << 48n) | (ROOT & 0x0000_ffff_ffff_ffc0n) | (((ROOT >> 48n) & 0xfn) << 2n) | 1n;
    const L1 = 0x000d_0000_4200_4000n;
    const L2 = 0x0008_0000_4300_8000n;
    const L3 = 0x0004_0000_4400_c000n;
    const slots = (leaf: bigint): Slot[] => [
      { table: ROOT, shift: 47, bits: 5, entry: lpa2Address(L1) | 3n },
      { table: L1, shift: 36, bits: 11, entry: lpa2Address(L2) | 3n },
      { table: L2, shift: 25, bits: 11, entry: lpa2Address(L3) | 3n },
      { table: L3, shift: 14, bits: 11, entry: leaf },
    ];

    test('jiffies: L0 has 32 entries at shift 47, and the page is where gva2gpa put it', async () => {
      const image = new MemoryImage('arm64').setRegisters(0, { TCR_EL1: TCR_16K_52, TTBR1_EL1: TTBR1, MAIR_EL1: MAIR });
      writeChain(image, JIFFIES_16K, slots(lpa2Address(0x428fc000n) | 0x403n | UXN | PXN));
      const w = await walk(image, JIFFIES_16K);
      assert.equal(w.fault, null);
      assert.equal(w.root, ROOT);
      assert.deepEqual(w.levels.map((l) => l.next), [L1, L2, L3, null]);
      assert.equal(w.phys, 0x428fd9c0n);
      // No SH field in LPA2 descriptors: shareability comes from TCR.SH1.
      assert.deepEqual(w.levels[3].flags, ['AttrIndx=0', 'AP=0', 'AF', 'PXN', 'UXN']);
      assert.equal(w.summary?.text, 'kernel RW-, user ---, Normal WB, inner shareable, global');
      assertOneReadPerLevel(image, w);
      const top = decodeEntry('arm64', 0n, 'L0', { granule: 16384, lpa2: true, vaBits: 52 }).level;
      assert.deepEqual([top.shift, top.entries], [47, 32]);
    });

    test('a page above 2^50: OA[51:50] come from descriptor bits 9:8', async () => {
      const image = new MemoryImage('arm64').setRegisters(0, { TCR_EL1: TCR_16K_52, TTBR1_EL1: TTBR1 });
      const pa = 0x000f_0001_2345_c000n;
      writeChain(image, JIFFIES_16K, slots(lpa2Address(pa) | 0x403n));
      assert.equal((await walk(image, JIFFIES_16K)).phys, pa | (JIFFIES_16K & 0x3fffn));
    });

    test('a 64 GiB block at L1 is allowed with DS=1', async () => {
      const image = new MemoryImage('arm64').setRegisters(0, { TCR_EL1: TCR_16K_52, TTBR1_EL1: TTBR1 });
      const block = 0x000f_0010_0000_0000n;
      writeChain(image, JIFFIES_16K, [slots(0n)[0], { ...slots(0n)[1], entry: lpa2Address(block) | 0x401n }]);
      const w = await walk(image, JIFFIES_16K);
      assert.equal(w.levels[1].descriptor, '64 GiB block');
      assert.equal(w.phys, block | (JIFFIES_16K & ((1n << 36n) - 1n)));
    });

    test('a non-present descriptor at each of the four levels', async () => {
      await assertNonPresentAtEachLevel({ TCR_EL1: TCR_16K_52, TTBR1_EL1: TTBR1 }, JIFFIES_16K,
        slots(lpa2Address(0x428fc000n) | 0x403n), ['L0', 'L1', 'L2', 'L3']);
    });
  });
});

describe('arm64 level layouts', () => {
  test('two levels fall out of 64K pages with 42-bit VAs: L2 is the PGD', () => {
    const level = (name: string) => decodeEntry('arm64', 0n, name, { granule: 65536, vaBits: 42 }).level;
    assert.deepEqual([level('PGD').name, level('PGD').shift, level('PGD').entries], ['L2', 29, 8192]);
    assert.equal(level('PTE').name, 'L3');
    assert.throws(() => level('PMD'), /levels are L2\/PGD, L3\/PTE/);
  });

  test('4K pages with 39-bit VAs: three levels, L1 is the PGD', () => {
    const pgd = decodeEntry('arm64', 0n, 'PGD', { granule: 4096, levels: 3 }).level;
    assert.deepEqual([pgd.name, pgd.shift, pgd.entries], ['L1', 30, 512]);
  });

  test('52-bit VAs with 4K pages need LPA2', () => {
    assert.throws(() => decodeEntry('arm64', 0n, 'PTE', { granule: 4096, vaBits: 52 }), /need TCR_EL1.DS/);
  });
});

describe('arm64 4K granule, 52-bit VA with LPA2: five levels from L-1', () => {
  test('L-1 (PGD) has 16 entries at shift 48, and L0 may hold a 512 GiB block', async () => {
    const registers = {
      TCR_EL1: tcr({ t0sz: 12, t1sz: 12, granule0: 4, granule1: 4, ipsBits: 52, ds: true }),
      TTBR1_EL1: 0x40000000n,
    };
    const va = 0xfff0_1234_5678_9abcn;
    const image = new MemoryImage('arm64').setRegisters(0, registers);
    const block = 0x0008_0000_0000_0000n; // 512 GiB aligned, above 2^50
    writeChain(image, va, [
      { table: 0x40000000n, shift: 48, bits: 4, entry: 0x40001003n },
      { table: 0x40001000n, shift: 39, bits: 9, entry: lpa2Address(block) | 0x401n },
    ]);
    const w = await walk(image, va);
    assert.deepEqual(w.levels.map((l) => `${l.level}/${l.linuxLevel}`), ['L-1/PGD', 'L0/P4D']);
    assert.equal(w.levels[1].descriptor, '512 GiB block');
    assert.equal(w.phys, block | (va & ((1n << 39n) - 1n)));
  });
});

describe('arm64 64K granule', () => {
  test('48-bit VA: 3 levels, PGDIR_SHIFT 42 with 64 PGD entries; jiffies as the guest had it', async () => {
    const image = new MemoryImage('arm64').setRegisters(0, { TCR_EL1: TCR_64K_48, TTBR1_EL1: TTBR1_64K, MAIR_EL1: MAIR });
    const entries = writeChain(image, JIFFIES_64K, [
      { table: 0x40590000n, shift: 42, bits: 6, entry: 0x100000005fff0003n },
      { table: 0x5fff0000n, shift: 29, bits: 13, entry: 0x100000005ffe0003n },
      { table: 0x5ffe0000n, shift: 16, bits: 13, entry: 0x00e8000040660703n },
    ]);
    const w = await walk(image, JIFFIES_64K);
    assert.deepEqual(entries, [0x40590100n, 0x5fff0000n, 0x5ffe4230n]);
    assert.deepEqual(w.levels.map((l) => [l.level, l.linuxLevel, l.index]), [['L1', 'PGD', 32], ['L2', 'PMD', 0], ['L3', 'PTE', 2118]]);
    assert.equal(w.phys, 0x406619c0n);
    assert.equal(w.pageSize, 65536n);
    assertOneReadPerLevel(image, w);
    const pgd = decodeEntry('arm64', 0n, 'PGD', { granule: 65536, vaBits: 48 }).level;
    assert.deepEqual([pgd.name, pgd.shift, pgd.entries], ['L1', 42, 64]);
  });

  test('TBI1 is off on this kernel, so a tagged kernel pointer does not translate', async () => {
    const image = new MemoryImage('arm64').setRegisters(0, { TCR_EL1: TCR_64K_48, TTBR1_EL1: TTBR1_64K });
    assert.match((await walk(image, 0x5aff8000084619c0n)).fault ?? '', /neither/);
  });

  test('a 512 MiB block at L2; no L1 block without a 52-bit PA', async () => {
    const va = 0xffff000020001234n;
    const image = new MemoryImage('arm64').setRegisters(0, { TCR_EL1: TCR_64K_48, TTBR1_EL1: TTBR1_64K });
    writeChain(image, va, [
      { table: 0x40590000n, shift: 42, bits: 6, entry: 0x5fff0003n },
      { table: 0x5fff0000n, shift: 29, bits: 13, entry: 0x60000000n | ATTR_NORMAL_BLOCK },
    ]);
    const w = await walk(image, va);
    assert.equal(w.levels[1].descriptor, '512 MiB block');
    assert.equal(w.phys, 0x60001234n);
    image.writeU64(0x40590000n + indexOf(va, 42, 6) * 8n, ATTR_NORMAL_BLOCK);
    assert.match((await walk(image, va)).fault ?? '', /no block descriptors at L1 with 64 KiB pages/);
  });

  test('a non-present descriptor at each of the three levels', async () => {
    await assertNonPresentAtEachLevel({ TCR_EL1: TCR_64K_48, TTBR1_EL1: TTBR1_64K }, JIFFIES_64K, [
      { table: 0x40590000n, shift: 42, bits: 6, entry: 0x100000005fff0003n },
      { table: 0x5fff0000n, shift: 29, bits: 13, entry: 0x100000005ffe0003n },
      { table: 0x5ffe0000n, shift: 16, bits: 13, entry: 0x00e8000040660703n },
    ], ['L1', 'L2', 'L3']);
  });

  describe('52-bit VA and PA (FEAT_LPA)', () => {
    const registers = {
      TCR_EL1: tcr({ t0sz: 12, t1sz: 12, granule0: 64, granule1: 64, ipsBits: 52 }),
      // Root at PA 0xa_0000_4059_0000: PA[51:48] = 0xa go to TTBR[5:2].
      TTBR1_EL1: (0x7n << 48n) | 0x40590000n | (0xan << 2n),
    };
    const ROOT = 0x000a_0000_4059_0000n;
    const L2 = 0x0009_0000_5fff_0000n;
    const L3 = 0x0005_0000_5ffe_0000n;
    const va = 0xfff0_0000_0846_19c0n;

    test('L1 (PGD) has 1024 entries; OA[51:48] come from descriptor bits 15:12', async () => {
      const image = new MemoryImage('arm64').setRegisters(0, registers);
      const page = 0x000f_0000_4066_0000n;
      writeChain(image, va, [
        { table: ROOT, shift: 42, bits: 10, entry: lpa64kAddress(L2) | 3n },
        { table: L2, shift: 29, bits: 13, entry: lpa64kAddress(L3) | 3n },
        { table: L3, shift: 16, bits: 13, entry: lpa64kAddress(page) | ATTR_NORMAL_PAGE },
      ]);
      const w = await walk(image, va);
      assert.equal(w.root, ROOT);
      assert.deepEqual(w.levels.map((l) => l.next), [L2, L3, null]);
      assert.equal(w.phys, page | 0x19c0n);
      const pgd = decodeEntry('arm64', 0n, 'PGD', { granule: 65536, vaBits: 52, paBits: 52 }).level;
      assert.deepEqual([pgd.shift, pgd.entries], [42, 1024]);
    });

    test('a 4 TiB block at L1 is allowed with a 52-bit PA', async () => {
      const image = new MemoryImage('arm64').setRegisters(0, registers);
      const block = 0x000c_0000_0000_0000n;
      writeChain(image, va, [{ table: ROOT, shift: 42, bits: 10, entry: lpa64kAddress(block) | ATTR_NORMAL_BLOCK }]);
      const w = await walk(image, va);
      assert.equal(w.levels[0].descriptor, '4 TiB block');
      assert.equal(w.phys, block | (va & ((1n << 42n) - 1n)));
    });
  });
});

describe('the descriptor 0x68000061020713 on a 64K-page kernel', () => {
  // 0x0068_0000_6102_0713, bit by bit:
  //   bits 1:0   = 0b11          → at L3: page descriptor
  //   bits 4:2   = 0x13>>2 & 7 = 4 → AttrIndx 4 → MAIR Attr4 = 0x04 = Device-nGnRE (MT_DEVICE_nGnRE)
  //   bit 5      = 0             → NS clear
  //   bits 7:6   = 0b00          → AP: EL1 read/write, no EL0 access
  //   bits 9:8   = 0x7 & 3 = 0b11 → SH: inner shareable
  //   bit 10     = 1 (0x400)     → AF: accessed
  //   bit 11     = 0             → nG clear: global
  //   bits 15:12 = 0x0           → OA[51:48] = 0 (64K: FEAT_LPA field)
  //   bits 47:16 = 0x6102        → OA[47:16]: PA 0x61020000
  //   bits 55:48 = 0x68 = 0b0110_1000 → bit 51 DBM, bit 53 PXN, bit 54 UXN; bit 52 CONT and bit 55 PTE_DIRTY clear
  // DBM with AP[2]=0 is the hardware-dirty state, so pte_dirty() is true: it is PROT_DEVICE_nGnRE
  // (ioremap) with PTE_WRITE, as the kernel writes it.
  const value = 0x68000061020713n;

  test('decodes to page 0x61020000, Device-nGnRE, kernel RW, never executable', () => {
    const d = decodeEntry('arm64', value, 'L3', { granule: 65536, vaBits: 48, mair: MAIR });
    assert.equal(d.kind, 'leaf');
    assert.equal(d.descriptor, 'page');
    assert.equal(d.address, 0x61020000n);
    assert.equal(d.size, 65536n);
    assert.deepEqual(d.flags, ['AttrIndx=4', 'AP=0', 'SH=3', 'AF', 'DBM', 'PXN', 'UXN']);
    assert.deepEqual(d.summary?.kernel, { read: true, write: true, exec: false });
    assert.deepEqual(d.summary?.user, { read: false, write: false, exec: false });
    assert.equal(d.summary?.memoryType, 'Device-nGnRE');
    assert.equal(d.summary?.cacheable, false);
    assert.equal(d.summary?.global, true);
    assert.equal(d.summary?.dirty, true);
    assert.equal(d.summary?.text, 'kernel RW-, user ---, Device-nGnRE, inner shareable, global, dirty');
  });

  test('the kernel name PTE finds the same level; without MAIR the type is the index', () => {
    const d = decodeEntry('arm64', value, 'pte', { granule: 65536, levels: 3 });
    assert.equal(d.level.name, 'L3');
    assert.equal(d.address, 0x61020000n);
    assert.equal(d.summary?.memoryType, 'AttrIndx=4');
  });

  test('the same bits one level up are a table pointing at 0x61020000', () => {
    const d = decodeEntry('arm64', value, 'PMD', { granule: 65536, vaBits: 48 });
    assert.equal(d.kind, 'table');
    assert.equal(d.address, 0x61020000n);
  });
});
