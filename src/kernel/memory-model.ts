/**
 * virt ↔ phys ↔ pfn ↔ struct page, as include/asm-generic/memory_model.h and asm/page.h do it.
 * The numbers come from each arch's `MemoryHooks` (arch/<name>/memory.ts), read from kernel
 * variables; these functions are the arithmetic on top, the same for every arch.
 */

/** The kernel's direct ("linear") map: physical `physOffset` appears at virtual `pageOffset`. */
export interface DirectMap {
  /** x86_64 `page_offset_base`; arm64 PAGE_OFFSET (−2^VA_BITS). */
  readonly pageOffset: bigint;
  /** x86_64 0; arm64 `memstart_addr` (PHYS_OFFSET). */
  readonly physOffset: bigint;
}

/** What `__pa()`, `__pa_symbol()` and `__va()` need. */
export interface KernelMap extends DirectMap {
  /** PAGE_SHIFT. */
  readonly pageShift: number;
  /** Bytes of VA the direct map spans: x86_64 2^MAX_PHYSMEM_BITS, arm64 PAGE_END − PAGE_OFFSET. */
  readonly directMapSize: bigint;
  /** The kernel image mapping for `__pa_symbol`: VAs from `start` on are `va − voffset`. */
  readonly kimage?: { readonly start: bigint; readonly voffset: bigint };
}

/** A KernelMap with the memmap, for pfn ↔ `struct page *`. */
export interface MemoryModel extends KernelMap {
  /** `vmemmap`: the `struct page *` of pfn 0 (SPARSEMEM_VMEMMAP). */
  readonly vmemmap: bigint;
  /** sizeof(struct page), from DWARF. */
  readonly sizeofPage: number;
}

/** __va(): physical to direct-map virtual. */
export function physToVirt(map: DirectMap, pa: bigint): bigint {
  return pa - map.physOffset + map.pageOffset;
}

/** __pa(): direct-map or kernel-image virtual to physical; undefined for any other VA. */
export function virtToPhys(m: KernelMap, va: bigint): bigint | undefined {
  if (va >= m.pageOffset && va - m.pageOffset < m.directMapSize) return va - m.pageOffset + m.physOffset;
  if (m.kimage && va >= m.kimage.start) return va - m.kimage.voffset;
  return undefined;
}

/** PHYS_PFN() */
export function physToPfn(m: KernelMap, pa: bigint): bigint {
  return pa >> BigInt(m.pageShift);
}

/** PFN_PHYS() */
export function pfnToPhys(m: KernelMap, pfn: bigint): bigint {
  return pfn << BigInt(m.pageShift);
}

/** pfn_to_page() */
export function pfnToPage(m: MemoryModel, pfn: bigint): bigint {
  return m.vmemmap + pfn * BigInt(m.sizeofPage);
}

/** page_to_pfn(); undefined when `page` is not a `struct page *` of the memmap. */
export function pageToPfn(m: MemoryModel, page: bigint): bigint | undefined {
  const offset = page - m.vmemmap;
  const size = BigInt(m.sizeofPage);
  return offset >= 0n && offset % size === 0n ? offset / size : undefined;
}

/** virt_to_page() */
export function virtToPage(m: MemoryModel, va: bigint): bigint | undefined {
  const pa = virtToPhys(m, va);
  return pa === undefined ? undefined : pfnToPage(m, physToPfn(m, pa));
}

/** page_to_virt() / page_address() of a direct-mapped page. */
export function pageToVirt(m: MemoryModel, page: bigint): bigint | undefined {
  const pfn = pageToPfn(m, page);
  return pfn === undefined ? undefined : physToVirt(m, pfnToPhys(m, pfn));
}
