/**
 * x86_64 memory layout (Documentation/arch/x86/x86_64/mm.rst, arch/x86/include/asm/page_64*.h):
 * the direct map starts at `page_offset_base` (a variable under KASLR or 5-level paging, else
 * __PAGE_OFFSET_BASE_L4), the memmap at `vmemmap_base`, and the kernel image is mapped at
 * __START_KERNEL_map + (pa − phys_base).
 */
import type { MemoryHooks, PagingOverride } from '../arch';
import type { KernelMap, MemoryModel } from '../../memory-model';
import { readU64, structLayout } from '../../struct';
import type { Target } from '../../target';

const START_KERNEL_MAP = 0xffffffff80000000n;
const PAGE_OFFSET_BASE = { l4: 0xffff888000000000n, l5: 0xff11000000000000n };
const VMEMMAP_BASE = { l4: 0xffffea0000000000n, l5: 0xffd4000000000000n };

/** `__pgtable_l5_enabled`: the kernel switched to 5-level tables at boot (CR4.LA57). */
async function la57Enabled(target: Target): Promise<boolean> {
  const l5 = await target.symbol('__pgtable_l5_enabled');
  return l5 !== undefined && ((await target.readVirtual(l5, 4))[0] ?? 0) !== 0;
}

/** A `unsigned long` variable, or undefined when the kernel has no such symbol. */
async function variable(target: Target, name: string): Promise<bigint | undefined> {
  const at = await target.symbol(name);
  return at === undefined ? undefined : readU64(target, at);
}

/** The pieces of an x86_64 model, each a kernel variable (KASLR moves them). */
export function x86MemoryModel(p: {
  pageOffsetBase: bigint;
  vmemmapBase: bigint;
  physBase: bigint;
  sizeofPage: number;
  la57: boolean;
  startKernelMap?: bigint;
}): MemoryModel {
  const start = p.startKernelMap ?? START_KERNEL_MAP;
  return {
    pageShift: 12,
    pageOffset: p.pageOffsetBase,
    physOffset: 0n,
    // MAX_PHYSMEM_BITS: 46 with 4-level paging, 52 with 5-level.
    directMapSize: 1n << (p.la57 ? 52n : 46n),
    kimage: { start, voffset: start - p.physBase },
    vmemmap: p.vmemmapBase,
    sizeofPage: p.sizeofPage,
  };
}

async function kernelMap(target: Target, paging: PagingOverride): Promise<KernelMap> {
  const la57 = paging.la57 ?? (await la57Enabled(target));
  const level = la57 ? 'l5' : 'l4';
  const pageOffset = (await variable(target, 'page_offset_base')) ?? PAGE_OFFSET_BASE[level];
  const physBase = await variable(target, 'phys_base');
  return {
    pageShift: 12,
    pageOffset,
    physOffset: 0n,
    directMapSize: 1n << (la57 ? 52n : 46n),
    ...(physBase !== undefined ? { kimage: { start: START_KERNEL_MAP, voffset: START_KERNEL_MAP - physBase } } : {}),
  };
}

export const x86_64Memory: MemoryHooks = {
  async pagingFromKernel(target) {
    return { la57: await la57Enabled(target), pti: false };
  },
  kernelMap,
  async memoryModel(target, paging) {
    const la57 = paging.la57 ?? (await la57Enabled(target));
    const map = await kernelMap(target, { ...paging, la57 });
    const vmemmap = (await variable(target, 'vmemmap_base')) ?? VMEMMAP_BASE[la57 ? 'l5' : 'l4'];
    return { ...map, vmemmap, sizeofPage: (await structLayout(target, 'page')).size };
  },
};
