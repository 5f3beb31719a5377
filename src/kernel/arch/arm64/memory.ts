/**
 * arm64 memory layout (arch/arm64/include/asm/memory.h, 6.1): PAGE_OFFSET is −2^VA_BITS and
 * PAGE_END −2^(VA_BITS_MIN−1), both macros of the configured VA size; the direct map holds
 * physical `memstart_addr` at PAGE_OFFSET; the image is at `va − kimage_voffset`; the memmap
 * starts at VMEMMAP_START = −2^(VA_BITS − VMEMMAP_SHIFT).
 */
import { UnsupportedError, type Target } from '../../target';
import type { DebugInfoProbe, Granule, MemoryHooks, PagingOverride } from '../arch';
import type { KernelMap, MemoryModel } from '../../memory-model';
import { readU64, structLayout, symbolAddress } from '../../struct';

/** log2 of the largest sizeof(struct page) the memmap is laid out for (STRUCT_PAGE_MAX_SHIFT). */
const STRUCT_PAGE_MAX_SHIFT = 6;

/** `memstart_addr` and `kimage_voffset` are kernel variables; PAGE_OFFSET and PAGE_END macros of the VA size. */
interface Arm64Layout {
  pageOffset: bigint;
  pageEnd: bigint;
  memstartAddr: bigint;
  kimageVoffset: bigint;
  pageShift: number;
}

function kernelMapOf(p: Arm64Layout): KernelMap {
  return {
    pageShift: p.pageShift,
    pageOffset: p.pageOffset,
    physOffset: p.memstartAddr,
    directMapSize: p.pageEnd - p.pageOffset,
    kimage: { start: p.pageEnd, voffset: p.kimageVoffset },
  };
}

/**
 * The pieces of an arm64 model, computed by the caller for its kernel version (VMEMMAP_START is
 * a macro of the VA size too). `vmemmap` is VMEMMAP_START − (memstart_addr >> PAGE_SHIFT) pages.
 */
export function arm64MemoryModel(p: Arm64Layout & { vmemmapStart: bigint; sizeofPage: number }): MemoryModel {
  return {
    ...kernelMapOf(p),
    vmemmap: p.vmemmapStart - (p.memstartAddr >> BigInt(p.pageShift)) * BigInt(p.sizeofPage),
    sizeofPage: p.sizeofPage,
  };
}

const minus = (bits: number): bigint => BigInt.asUintN(64, -(1n << BigInt(bits)));

/**
 * VA_BITS = PGDIR_SHIFT + log2(PTRS_PER_PGD), PAGE_SIZE from sizeof(empty_zero_page), PTRS_PER_PGD
 * from sizeof(swapper_pg_dir), the level count from which level types are folded.
 */
async function pagingFromKernel(_target: Target, probe: DebugInfoProbe): Promise<PagingOverride> {
  const granule = await probe.sizeOf('empty_zero_page');
  const ptrsPerPgd = ((await probe.sizeOf('swapper_pg_dir')) ?? 0) / 8;
  if (granule !== 4096 && granule !== 16384 && granule !== 65536) throw new UnsupportedError('arm64', `page walks without TCR_EL1 (cannot tell PAGE_SIZE: sizeof(empty_zero_page) = ${granule})`);
  if (!Number.isInteger(Math.log2(ptrsPerPgd)) || ptrsPerPgd < 2) throw new UnsupportedError('arm64', `page walks without TCR_EL1 (PTRS_PER_PGD from sizeof(swapper_pg_dir) is ${ptrsPerPgd})`);
  const levels = await probe.pageTableLevels();
  const pageShift = Math.log2(granule);
  const vaBits = pageShift + (levels - 1) * (pageShift - 3) + Math.log2(ptrsPerPgd);
  return { granule: granule as Granule, vaBits, levels };
}

/** asm/memory.h for this kernel (VA_BITS_MIN is 48 when VA_BITS is 52); undefined without the VA size. */
async function layout(target: Target, paging: PagingOverride) {
  if (paging.vaBits === undefined || paging.granule === undefined) return undefined;
  return {
    vaBits: paging.vaBits,
    pageShift: Math.log2(paging.granule),
    pageOffset: minus(paging.vaBits),
    pageEnd: minus(Math.min(paging.vaBits, 48) - 1),
    memstartAddr: await readU64(target, await symbolAddress(target, 'memstart_addr')),
    kimageVoffset: await readU64(target, await symbolAddress(target, 'kimage_voffset')),
  };
}

export const arm64Memory: MemoryHooks = {
  pagingFromKernel,
  async kernelMap(target, paging): Promise<KernelMap | undefined> {
    const l = await layout(target, paging);
    return l && kernelMapOf(l);
  },
  async memoryModel(target, paging) {
    const l = await layout(target, paging);
    if (!l) return undefined;
    const sizeofPage = (await structLayout(target, 'page')).size;
    return arm64MemoryModel({ ...l, vmemmapStart: minus(l.vaBits - (l.pageShift - STRUCT_PAGE_MAX_SHIFT)), sizeofPage });
  },
};
