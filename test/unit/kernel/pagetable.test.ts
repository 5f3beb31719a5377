import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { WalkResult } from '../../../src/adapter/protocol';
import { archOps } from '../../../src/kernel/arch';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { arm64MemoryModel } from '../../../src/kernel/arch/arm64/memory';
import { x86MemoryModel } from '../../../src/kernel/arch/x86_64/memory';
import { pageToPfn, pageToVirt, pfnToPage, physToPfn, physToVirt, virtToPage, virtToPhys } from '../../../src/kernel/memory-model';
import { decodeEntry, entryToJson, toJson, walk } from '../../../src/kernel/pagetable';
import { UnsupportedError, type Arch } from '../../../src/kernel/target';
import { writeChain } from './page-table-builder';

const JIFFIES = 0xffffffff82a079c0n;

function x86Jiffies(): MemoryImage {
  const image = new MemoryImage('x86_64').setRegisters(0, { cr3: 0x2a10000n, cr4: 0x6b0n });
  writeChain(image, JIFFIES, [
    { table: 0x2a10000n, shift: 39, bits: 9, entry: 0x2a15067n },
    { table: 0x2a15000n, shift: 30, bits: 9, entry: 0x2a16063n },
    { table: 0x2a16000n, shift: 21, bits: 9, entry: 0x8000000002a001e3n },
  ]);
  return image;
}

describe('walk JSON', () => {
  test('a complete walk, entry addresses through the direct map', async () => {
    const w = await walk(x86Jiffies(), JIFFIES, { directMap: { pageOffset: 0xffff888000000000n, physOffset: 0n } });
    const wire: WalkResult = toJson(w); // the adapter's wire type accepts it as is
    assert.deepEqual(JSON.parse(JSON.stringify(wire)), {
      va: '0xffffffff82a079c0',
      phys: '0x2a079c0',
      pageSize: 2097152,
      levels: [
        { level: 'PGD', linuxLevel: 'PGD', index: 511, entryAddress: '0xffff888002a10ff8', entryPhysical: '0x2a10ff8',
          raw: '0x2a15067', descriptor: 'table', flags: ['P', 'RW', 'US', 'A', 'D'], next: '0x2a15000', leaf: false },
        { level: 'PUD', linuxLevel: 'PUD', index: 510, entryAddress: '0xffff888002a15ff0', entryPhysical: '0x2a15ff0',
          raw: '0x2a16063', descriptor: 'table', flags: ['P', 'RW', 'A', 'D'], next: '0x2a16000', leaf: false },
        { level: 'PMD', linuxLevel: 'PMD', index: 21, entryAddress: '0xffff888002a160a8', entryPhysical: '0x2a160a8',
          raw: '0x8000000002a001e3', descriptor: '2 MiB page', flags: ['P', 'RW', 'A', 'D', 'PS', 'G', 'NX'], leaf: true },
      ],
      fault: null,
      summary: 'kernel RW-, user ---, WB, global, dirty',
    });
  });

  test('a fault: no physical address, no page size, the entries read so far', async () => {
    const image = x86Jiffies();
    image.writeU64(0x2a16000n + 21n * 8n, 0n);
    const json = toJson(await walk(image, JIFFIES));
    assert.equal(json.phys, null);
    assert.equal(json.pageSize, null);
    assert.equal(json.fault, 'PMD[21] = 0x0: PMD entry not present (P=0)');
    assert.equal(json.levels.length, 3);
    assert.equal(json.levels[2].entryAddress, '0x2a160a8'); // no direct map: the physical address
    assert.equal('summary' in json, false);
  });

  test('one decoded entry for the PTE hover', () => {
    const d = decodeEntry('arm64', 0x68000061020713n, 'PTE', { granule: 65536, vaBits: 48, mair: 0x40044ffffn });
    assert.deepEqual(entryToJson(d), {
      flags: ['AttrIndx=4', 'AP=0', 'SH=3', 'AF', 'DBM', 'PXN', 'UXN'],
      phys: '0x61020000',
      summary: 'L3/PTE page: kernel RW-, user ---, Device-nGnRE, inner shareable, global, dirty',
    });
    assert.deepEqual(entryToJson(decodeEntry('x86_64', 0n, 'PTE')), {
      flags: [], phys: null, summary: 'PTE/PTE not present: PTE entry not present (P=0)',
    });
  });

  test('decodeEntry names the levels there are when asked for one that is not', () => {
    assert.throws(() => decodeEntry('x86_64', 0n, 'P4D'), /no level P4D here; levels are PGD\/PGD, PUD\/PUD, PMD\/PMD, PTE\/PTE/);
    assert.equal(decodeEntry('x86_64', 0n, 'P4D', { la57: true }).level.shift, 39);
    assert.throws(() => decodeEntry('arm64', 0n, 'L3'), /give the granule/);
  });

  test('an address that is not 64 bits is a fault, not an exception', async () => {
    assert.match((await walk(x86Jiffies(), 1n << 64n)).fault ?? '', /not a 64-bit address/);
    assert.match((await walk(x86Jiffies(), -1n)).fault ?? '', /not a 64-bit address/);
  });
});

describe('virt ↔ phys ↔ pfn ↔ struct page', () => {
  // Debian 6.1 x86_64, nokaslr: page_offset_base, vmemmap_base, phys_base as read from the guest.
  const x86 = x86MemoryModel({
    pageOffsetBase: 0xffff888000000000n, vmemmapBase: 0xffffea0000000000n, physBase: 0n, sizeofPage: 64, la57: false,
  });

  test('x86_64 __va/__pa: the direct map and the kernel image', () => {
    assert.equal(physToVirt(x86, 0x52f6000n), 0xffff8880052f6000n); // task_struct of `yes`
    assert.equal(virtToPhys(x86, 0xffff88800543c000n), 0x543c000n); // its mm->pgd
    assert.equal(virtToPhys(x86, JIFFIES), 0x2a079c0n); // __pa_symbol(&jiffies), = gva2gpa
    assert.equal(virtToPhys(x86, 0xffffc900007b4000n), undefined); // vmalloc: only a walk knows
    const la57 = x86MemoryModel({
      pageOffsetBase: 0xff11000000000000n, vmemmapBase: 0xffd4000000000000n, physBase: 0n, sizeofPage: 64, la57: true,
    });
    assert.equal(physToVirt(la57, 0x1ff68000n), 0xff1100001ff68000n);
  });

  test('x86_64 pfn and struct page', () => {
    assert.equal(physToPfn(x86, 0x52f6000n), 0x52f6n);
    // vmemmap_base + pfn * sizeof(struct page) = 0xffffea0000000000 + 0x52f6 * 0x40
    assert.equal(pfnToPage(x86, 0x52f6n), 0xffffea000014bd80n);
    assert.equal(pageToPfn(x86, 0xffffea000014bd80n), 0x52f6n);
    assert.equal(pageToPfn(x86, 0xffffea000014bd81n), undefined);
    assert.equal(virtToPage(x86, 0xffff8880052f6abcn), 0xffffea000014bd80n);
    assert.equal(pageToVirt(x86, 0xffffea000014bd80n), 0xffff8880052f6000n);
  });

  // Debian 6.1 arm64 4K/48: memstart_addr 0x40000000, kimage_voffset 0xffff7fffc7e00000.
  const arm64 = arm64MemoryModel({
    pageOffset: 0xffff000000000000n, pageEnd: 0xffff800000000000n, memstartAddr: 0x40000000n,
    kimageVoffset: 0xffff7fffc7e00000n, vmemmapStart: 0xfffffc0000000000n, pageShift: 12, sizeofPage: 64,
  });

  test('arm64 __va/__pa: the linear map is offset by memstart_addr, the image by kimage_voffset', () => {
    assert.equal(virtToPhys(arm64, 0xffff80000937b000n), 0x4157b000n); // swapper_pg_dir
    assert.equal(virtToPhys(arm64, 0xffff0000021ae180n), 0x421ae180n); // a task_struct
    assert.equal(physToVirt(arm64, 0x4157b800n), 0xffff00000157b800n);
  });

  test('arm64 vmemmap starts at the first RAM pfn', () => {
    // VMEMMAP_START + (pfn − (memstart_addr >> 12)) * 64
    assert.equal(pfnToPage(arm64, 0x4157bn), 0xfffffc0000000000n + 0x157bn * 64n);
    assert.equal(pfnToPage(arm64, 0x40000n), 0xfffffc0000000000n);
    assert.equal(pageToVirt(arm64, 0xfffffc0000000000n), 0xffff000000000000n);
  });

  test('a walk given the arm64 linear map reports entry virtual addresses', async () => {
    const image = new MemoryImage('arm64').setRegisters(0, { TCR_EL1: 0x500074b5503510n, TTBR1_EL1: 0x2e00004157b000n });
    writeChain(image, 0xffff8000098079c0n, [{ table: 0x4157b000n, shift: 39, bits: 9, entry: 0n }]);
    const w = await walk(image, 0xffff8000098079c0n, { directMap: arm64 });
    assert.equal(w.levels[0].entryVirtual, 0xffff00000157b800n);
  });
});

describe('conventions', () => {
  test('every arch fills every paging hook', () => {
    for (const arch of ['x86_64', 'arm64'] satisfies Arch[]) {
      const { paging } = archOps(arch);
      assert.equal(archOps(arch).arch, arch);
      assert.ok(paging.registers.length > 0);
      for (const hook of ['config', 'plan', 'levels', 'decode', 'summarize'] as const) {
        assert.equal(typeof paging[hook], 'function', `${arch} ${hook}`);
      }
    }
    assert.throws(() => archOps('mips' as Arch), UnsupportedError);
  });

  test('src/kernel imports neither vscode nor the adapter', () => {
    const root = path.join(__dirname, '..', '..', '..', '..', 'src', 'kernel');
    const files = (fs.readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
    assert.ok(files.length > 0);
    for (const f of files) {
      const text = fs.readFileSync(path.join(root, f), 'utf8');
      assert.doesNotMatch(text, /from ['"](vscode|.*\/adapter\/.*|.*\/extension\/.*)['"]/, f);
    }
  });
});
