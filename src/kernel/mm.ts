/**
 * Address spaces (include/linux/mm_types.h, arch/x86/include/asm/page_64.h): which page table
 * an `mm_struct` uses, and `__pa()` of kernel addresses for walking from it.
 */
import { virtToPhys, type KernelMap } from './memory-model';
import { walk } from './pagetable';
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
 * `__pa(va)` of a kernel address: by arithmetic where `map` places it (direct map, kernel image),
 * else by walking the page tables as CPU `cpu` sees them (vmalloc: any mapped kernel address).
 * Throws RangeError when `va` is not mapped.
 */
export async function kernelPhys(target: Target, va: bigint, cpu: number, map?: KernelMap): Promise<bigint> {
  const pa = map && virtToPhys(map, va);
  if (pa !== undefined) return pa;
  const w = await walk(target, va, { cpu });
  if (w.phys === null) throw new RangeError(`0x${va.toString(16)} is not mapped on CPU ${cpu}: ${w.fault ?? 'no translation'}`);
  return w.phys;
}
