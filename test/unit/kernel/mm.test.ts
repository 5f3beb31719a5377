import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { archOps } from '../../../src/kernel/arch';
import { initMmPgd, kernelPhys, mmPgd } from '../../../src/kernel/mm';
import { writeChain } from './page-table-builder';
import { layout, window } from './planted';

const mmLayout = layout('mm_struct', 1088, { pgd: [72, 8, 'pgd_t *'] });

describe('address spaces', () => {
  test('mmPgd and initMmPgd read mm->pgd at its DWARF offset', async () => {
    const image = new MemoryImage('x86_64').setLayout(mmLayout).setSymbol('init_mm', 0xffffffff82a19d00n);
    const w = window(image, 0xffffffff82a19000n, 0x2a19000n, 0x1000n);
    w.int(0xffffffff82a19d00n + 72n, 0xffffffff82a10000n);
    assert.equal(await initMmPgd(image), 0xffffffff82a10000n);
    assert.equal(await mmPgd(image, 0xffffffff82a19d00n), 0xffffffff82a10000n);
  });

  test('the direct map from page_offset_base; none without the VA size (arm64)', async () => {
    const image = new MemoryImage('x86_64').setSymbol('page_offset_base', 0xffffffff82614858n);
    window(image, 0xffffffff82614000n, 0x2614000n, 0x1000n).int(0xffffffff82614858n, 0xff11000000000000n);
    const map = await archOps('x86_64').memory.kernelMap(image, {});
    assert.deepEqual({ pageOffset: map?.pageOffset, physOffset: map?.physOffset }, { pageOffset: 0xff11000000000000n, physOffset: 0n });
    assert.equal(await archOps('arm64').memory.kernelMap(new MemoryImage('arm64'), {}), undefined);
  });

  test('kernelPhys: arithmetic inside the direct map, a page walk outside it', async () => {
    // 64 TiB: the 4-level direct map; no image mapping, so image addresses are walked.
    const map = { pageOffset: 0xffff888000000000n, physOffset: 0n, pageShift: 12, directMapSize: 1n << 46n };
    const image = new MemoryImage('x86_64').setRegisters(0, { cr3: 0x2a10000n, cr4: 0x6b0n });
    assert.equal(await kernelPhys(image, 0xffff888005443000n, 0, map), 0x5443000n);
    assert.equal(image.reads.length, 0);
    // init_top_pgt lives in the kernel image, mapped by a 2 MiB page (shifts 39/30/21).
    const va = 0xffffffff82a10000n;
    writeChain(image, va, [
      { table: 0x2a10000n, shift: 39, bits: 9, entry: 0x2a15067n },
      { table: 0x2a15000n, shift: 30, bits: 9, entry: 0x2a16063n },
      { table: 0x2a16000n, shift: 21, bits: 9, entry: 0x8000000002a001e3n },
    ]);
    assert.equal(await kernelPhys(image, va, 0, map), 0x2a10000n);
    // vmalloc is past the 64 TiB direct map: walked, not computed (and unmapped here).
    await assert.rejects(kernelPhys(image, 0xffffc90000000000n, 0, map), /not mapped on CPU 0/);
  });
});
