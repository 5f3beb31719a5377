/**
 * Address spaces (include/linux/mm_types.h, arch/x86/include/asm/page_64.h): which page table
 * an `mm_struct` uses, and `__pa()` of kernel addresses for walking from it.
 */
import { walk, type DirectMap } from './pagetable';
import { member, readU64, structLayout, symbolAddress } from './struct';
import type { Target } from './target';

/** `mm->pgd`: kernel virtual address of the top-level table of `mm`. */
export async function mmPgd(target: Target, mm: bigint): Promise<bigint> {
  const layout = await structLayout(target, 'mm_struct');
  return readU64(target, mm + BigInt(member(layout, 'pgd').offset));
}

/** `init_mm.pgd`: the kernel's own table (x86_64 `init_top_pgt`, arm64 `swapper_pg_dir`). */
export async function initMmPgd(target: Target): Promise<bigint> {
  return mmPgd(target, await symbolAddress(target, 'init_mm'));
}

/**
 * The direct map when the kernel keeps its base in a variable: x86_64 `page_offset_base`
 * (it moves with KASLR and with 5-level paging). arm64's PAGE_OFFSET is a macro of VA_BITS
 * (6.1 has `vabits_actual` only with 52-bit VAs), so arm64 gets none here and callers walk.
 */
export async function directMap(target: Target): Promise<DirectMap | undefined> {
  const base = await target.symbol('page_offset_base');
  if (base === undefined) return undefined;
  return { pageOffset: await readU64(target, base), physOffset: 0n };
}

/**
 * Bytes of the direct map trusted for arithmetic: 64 TiB, x86_64's 4-level size. vmalloc starts
 * right after it there, so a larger span would take vmalloc addresses for direct ones; with
 * 5-level paging RAM above 64 TiB is merely walked instead, which gives the same answer.
 */
const DIRECT_MAP_SPAN = 1n << 46n;

/**
 * `__pa(va)` of a kernel address: by arithmetic inside the direct map, else by walking the
 * page tables as CPU `cpu` sees them (kernel image, vmalloc: any mapped kernel address).
 * Throws RangeError when `va` is not mapped.
 */
export async function kernelPhys(target: Target, va: bigint, cpu: number, map?: DirectMap): Promise<bigint> {
  if (map && va >= map.pageOffset && va - map.pageOffset < DIRECT_MAP_SPAN) return va - map.pageOffset + map.physOffset;
  const w = await walk(target, va, { cpu });
  if (w.phys === null) throw new RangeError(`0x${va.toString(16)} is not mapped on CPU ${cpu}: ${w.fault ?? 'no translation'}`);
  return w.phys;
}
