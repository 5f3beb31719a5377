/**
 * Each arch's MemoryHooks over an in-memory image: the variables planted are a Debian 6.1 kernel's
 * (x86_64 under QEMU q35, arm64 4K/48-bit and the 64K/48-bit kgdb build); the expected physical
 * addresses are QEMU's `gva2gpa` for the same kernels, as in pagetable.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { archOps } from '../../../src/kernel/arch';
import type { DebugInfoProbe } from '../../../src/kernel/arch/arch';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { pfnToPage, physToVirt, virtToPhys } from '../../../src/kernel/memory-model';
import { layout, window } from './planted';

const probe = (sizes: Record<string, number>, levels: number): DebugInfoProbe => ({
  sizeOf: async (expression) => sizes[expression],
  pageTableLevels: async () => levels,
});

describe('x86_64 memory hooks', () => {
  const vars = 0xffffffff82614000n;
  function image(l5: boolean): MemoryImage {
    const img = new MemoryImage('x86_64')
      .setSymbol('page_offset_base', vars + 0x858n)
      .setSymbol('vmemmap_base', vars + 0x850n)
      .setSymbol('phys_base', vars + 0x10n)
      .setSymbol('__pgtable_l5_enabled', vars + 0x20n)
      .setLayout(layout('page', 64, {}));
    const w = window(img, vars, 0x2614000n, 0x1000n);
    w.int(vars + 0x858n, l5 ? 0xff11000000000000n : 0xffff888000000000n);
    w.int(vars + 0x850n, l5 ? 0xffd4000000000000n : 0xffffea0000000000n);
    w.int(vars + 0x10n, 0n);
    w.int(vars + 0x20n, l5 ? 1 : 0, 4);
    return img;
  }

  test('kernel data says 4- or 5-level paging', async () => {
    assert.deepEqual(await archOps('x86_64').memory.pagingFromKernel(image(false), probe({}, 4)), { la57: false, pti: false });
    assert.deepEqual(await archOps('x86_64').memory.pagingFromKernel(image(true), probe({}, 5)), { la57: true, pti: false });
  });

  test('__pa of the direct map and of the image, __va, and nothing for vmalloc', async () => {
    const map = await archOps('x86_64').memory.kernelMap(image(false), {});
    assert.ok(map);
    assert.equal(virtToPhys(map, 0xffff88800543c000n), 0x543c000n); // an mm->pgd
    assert.equal(virtToPhys(map, 0xffffffff82a079c0n), 0x2a079c0n); // &jiffies, = gva2gpa
    assert.equal(virtToPhys(map, 0xffffc900007b4000n), undefined);
    assert.equal(physToVirt(map, 0x52f6000n), 0xffff8880052f6000n);
    const l5 = await archOps('x86_64').memory.kernelMap(image(true), {});
    assert.equal(physToVirt(l5!, 0x1ff68000n), 0xff1100001ff68000n);
    // 5-level: the direct map spans 2^52 bytes, so the top of a 64 TiB machine is still in it.
    assert.equal(virtToPhys(l5!, 0xff11400000001000n), 0x400000001000n);
  });

  test('pfn_to_page from vmemmap_base and sizeof(struct page)', async () => {
    const model = await archOps('x86_64').memory.memoryModel(image(false), {});
    assert.equal(pfnToPage(model!, 0x52f6n), 0xffffea000014bd80n);
  });
});

describe('arm64 memory hooks', () => {
  const vars = 0xffff800009a00000n;
  function image(memstart: bigint, voffset: bigint): MemoryImage {
    const img = new MemoryImage('arm64').setSymbol('memstart_addr', vars).setSymbol('kimage_voffset', vars + 8n).setLayout(layout('page', 64, {}));
    const w = window(img, vars, 0x41c00000n, 0x1000n);
    w.int(vars, memstart);
    w.int(vars + 8n, voffset);
    return img;
  }

  test('the VA size from DWARF: PAGE_SIZE, PTRS_PER_PGD and the folded levels', async () => {
    const hooks = archOps('arm64').memory;
    const img = new MemoryImage('arm64');
    assert.deepEqual(await hooks.pagingFromKernel(img, probe({ empty_zero_page: 4096, swapper_pg_dir: 4096 }, 4)), { granule: 4096, vaBits: 48, levels: 4 });
    // 64K pages, 3 levels, 64 PGD entries: PGDIR_SHIFT 42, 48-bit VAs.
    assert.deepEqual(await hooks.pagingFromKernel(img, probe({ empty_zero_page: 65536, swapper_pg_dir: 512 }, 3)), { granule: 65536, vaBits: 48, levels: 3 });
    await assert.rejects(hooks.pagingFromKernel(img, probe({ swapper_pg_dir: 4096 }, 4)), /PAGE_SIZE/);
  });

  test('without the VA size there is no direct map to compute: walk instead', async () => {
    assert.equal(await archOps('arm64').memory.kernelMap(image(0x40000000n, 0xffff7fffc7e00000n), {}), undefined);
  });

  test('__pa of the linear map and of the image (4K, 48-bit)', async () => {
    const map = await archOps('arm64').memory.kernelMap(image(0x40000000n, 0xffff7fffc7e00000n), { granule: 4096, vaBits: 48, levels: 4 });
    assert.ok(map);
    assert.equal(virtToPhys(map, 0xffff80000937b000n), 0x4157b000n); // swapper_pg_dir
    assert.equal(virtToPhys(map, 0xffff0000021ae180n), 0x421ae180n); // a task_struct
    assert.equal(physToVirt(map, 0x4157b800n), 0xffff00000157b800n);
    const model = await archOps('arm64').memory.memoryModel(image(0x40000000n, 0xffff7fffc7e00000n), { granule: 4096, vaBits: 48, levels: 4 });
    assert.equal(pfnToPage(model!, 0x40000n), 0xfffffc0000000000n); // VMEMMAP_START: the first RAM pfn
  });
});
