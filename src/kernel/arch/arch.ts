/**
 * The per-architecture hook table. Concept files (pagetable.ts now; per-CPU, current task and
 * register decode later) never branch on the architecture: they call the hooks of the one
 * `ArchOps` that arch/index.ts picks for `Target.arch`.
 *
 * Adding an arch:
 *  1. Add its name to `Arch` in ../target.ts; the compiler then points at every table keyed by Arch
 *     (arch/index.ts first).
 *  2. Write arch/<name>/pagetable.ts exporting a `PagingHooks`: the registers a walk needs, spelled
 *     as the gdbstub spells them; `config` from those registers and the user's override; `plan`
 *     (which root, which levels, which VAs the MMU refuses); `decode` of one entry; `summarize`
 *     of a whole path into kernel/user access and memory type.
 *  3. Register its `ArchOps` in arch/index.ts.
 *  4. Unit tests: test/unit/kernel/<name>-pagetable.test.ts, synthetic tables for every page size
 *     and level count the kernel supports, a non-present entry at each level, and the arch's real
 *     entries (from a booted kernel) as vectors.
 *  5. End-to-end: walks on a booted kernel compared against QEMU's `monitor gva2gpa`.
 */
import type { Arch } from '../target';

export type LinuxLevel = 'PGD' | 'P4D' | 'PUD' | 'PMD' | 'PTE';

/**
 * The kernel's names for the levels in use, top first. Linux folds the levels a configuration
 * does not have, from P4D down: 4 levels have no P4D, 3 no PUD, 2 no PMD.
 */
export const LINUX_LEVELS: Readonly<Record<2 | 3 | 4 | 5, readonly LinuxLevel[]>> = {
  2: ['PGD', 'PTE'],
  3: ['PGD', 'PMD', 'PTE'],
  4: ['PGD', 'PUD', 'PMD', 'PTE'],
  5: ['PGD', 'P4D', 'PUD', 'PMD', 'PTE'],
};

/** One level of a translation as a given configuration lays it out. */
export interface TableLevel {
  /** The name the architecture's manual uses: x86 `PMD`…, arm64 `L2`. */
  readonly name: string;
  /** The kernel's name for this level in this configuration. */
  readonly linuxName: LinuxLevel;
  /** The architecture's own level number: arm64 lookup level −1…3; x86 1 (page table) … 5 (PML5). */
  readonly hw: number;
  /** Lowest VA bit of this level's index (PGDIR_SHIFT, PUD_SHIFT, PMD_SHIFT, PAGE_SHIFT…). */
  readonly shift: number;
  /** Entries in a table of this level (PTRS_PER_PGD…); the top level may be short. */
  readonly entries: number;
  /** PAGE_SHIFT of the translation granule this level belongs to. */
  readonly pageShift: number;
}

export type Granule = 4096 | 16384 | 65536;

/**
 * What the paging registers would say, for targets that cannot give them (kgdb exposes no
 * system registers) or to override them. Every field is optional; the arch says which it needs.
 */
export interface PagingOverride {
  /** x86_64: 5-level paging (CR4.LA57; the kernel's `__pgtable_l5_enabled`). */
  la57?: boolean;
  /** x86_64: page-table isolation is on, so CR3 may hold the user half of an 8 KiB PGD pair. */
  pti?: boolean;
  /** x86_64: the IA32_PAT MSR, which the gdbstub does not expose; used for the memory type. */
  pat?: bigint;
  /** arm64: translation granule, i.e. PAGE_SIZE. */
  granule?: Granule;
  /** VA bits of one half: arm64 64 − TnSZ (`vabits_actual`), x86_64 48 or 57. */
  vaBits?: number;
  /** Translation levels in use (CONFIG_PGTABLE_LEVELS unless folded at run time). */
  levels?: number;
  /** arm64: physical address size (TCR_EL1.IPS); 52 selects the 52-bit descriptor formats. */
  paBits?: number;
  /** arm64: TCR_EL1.DS, the LPA2 descriptor format for 4K and 16K granules. */
  lpa2?: boolean;
  /** arm64: MAIR_EL1, to name the memory type behind AttrIndx. */
  mair?: bigint;
}

/** Each arch's paging configuration extends this; only that arch's hooks look inside. */
export interface PagingConfig {
  readonly arch: Arch;
}

/** The table the walk starts from and the levels it goes through for one VA. */
export interface WalkPlan {
  /** Physical address of the top-level table. */
  readonly root: bigint;
  /** Where the root came from, for messages: `CR3`, `TTBR1_EL1`, `root`. */
  readonly rootName: string;
  readonly levels: readonly TableLevel[];
}

/** One entry decoded on its own, without its parents. */
export interface DecodedEntry {
  readonly raw: bigint;
  readonly kind: 'table' | 'leaf' | 'invalid';
  /** The architecture's word for it: `table`, `block`, `page`, `2 MiB page`, `not present`. */
  readonly descriptor: string;
  /** `table`: physical address of the next table; `leaf`: base of the page or block. */
  readonly address: bigint | null;
  /** `leaf`: bytes this entry maps. */
  readonly size: bigint | null;
  /** Set bits and fields, named as the manuals and the kernel name them (`RW`, `NX`, `AttrIndx=4`). */
  readonly flags: readonly string[];
  /** `invalid`: why the MMU would fault on this entry. */
  readonly fault: string | null;
}

export interface WalkedEntry {
  readonly level: TableLevel;
  readonly entry: DecodedEntry;
}

export interface Access {
  readonly read: boolean;
  readonly write: boolean;
  readonly exec: boolean;
}

/** What a complete path means for an access, with the parents' restrictions applied. */
export interface MappingSummary {
  readonly kernel: Access;
  readonly user: Access;
  /** `WB`, `UC-` (x86 PAT types); `Normal WB`, `Device-nGnRE` (arm64 MAIR); `AttrIndx=4` if unknown. */
  readonly memoryType: string;
  /** Null when the memory type is unknown. */
  readonly cacheable: boolean | null;
  /** Not tagged with an ASID/PCID: x86 G, arm64 nG clear. */
  readonly global: boolean;
  readonly accessed: boolean;
  /** Written since it was last cleaned, as the kernel's pte_dirty() sees it. */
  readonly dirty: boolean;
  /** arm64 contiguous hint: bytes of the whole run this entry belongs to. */
  readonly contiguous: bigint | null;
  /** One line for a hover: `kernel RW-, user ---, WB, global, dirty`. */
  readonly text: string;
}

/**
 * A translation failure the MMU itself would report (or that stops us from asking it):
 * non-present entry, non-canonical VA, missing paging registers. `walk()` turns it into
 * `Walk.fault`; `decodeEntry()` lets it through when the config cannot describe the entry.
 */
export class TranslationFault extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TranslationFault';
  }
}

/**
 * Paging hooks of one architecture. `C` is that arch's configuration; the generic walk only
 * hands back to the hooks the config the same hooks built, which is what makes the method
 * parameters' bivariance safe when an arch's table is stored as `PagingHooks<PagingConfig>`.
 */
export interface PagingHooks<C extends PagingConfig = PagingConfig> {
  /** Registers `config` reads, as QEMU's gdbstub names them (case matters). */
  readonly registers: readonly string[];
  /** Throws TranslationFault when registers and override together are not enough. */
  config(registers: ReadonlyMap<string, bigint>, override: PagingOverride): C;
  /** `root` replaces the register's table (e.g. `__pa(mm->pgd)`). Throws TranslationFault. */
  plan(va: bigint, config: C, root: bigint | undefined): WalkPlan;
  /** The levels of a kernel-half walk, for decoding an entry by its level's name. */
  levels(config: C): readonly TableLevel[];
  decode(raw: bigint, level: TableLevel, config: C): DecodedEntry;
  /**
   * `path` ends with a leaf; parents restrict what the leaf allows. `va` says which half of the
   * address space the path belongs to; without it (an entry decoded alone) the kernel's.
   */
  summarize(path: readonly WalkedEntry[], config: C, va: bigint | undefined): MappingSummary;
}

export interface ArchOps {
  readonly arch: Arch;
  readonly paging: PagingHooks;
}

/** Bit `n` of `value`. */
export function bit(value: bigint, n: number): boolean {
  return ((value >> BigInt(n)) & 1n) === 1n;
}

/** Bits `hi`…`lo` of `value`, shifted down. */
export function field(value: bigint, hi: number, lo: number): bigint {
  return (value >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
}

/** `value` with only bits `hi`…`lo` kept in place. */
export function maskBits(value: bigint, hi: number, lo: number): bigint {
  return field(value, hi, lo) << BigInt(lo);
}

export function hex(value: bigint): `0x${string}` {
  return `0x${value.toString(16)}`;
}

/** `4 KiB`, `2 MiB`, `512 GiB`. */
export function sizeName(bytes: bigint): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let unit = 0;
  while (unit < units.length - 1 && bytes >= 1024n && bytes % 1024n === 0n) {
    bytes /= 1024n;
    unit++;
  }
  return `${bytes} ${units[unit]}`;
}

/** `RW-`, `R-X`, `---`. */
export function accessName(a: Access): string {
  return `${a.read ? 'R' : '-'}${a.write ? 'W' : '-'}${a.exec ? 'X' : '-'}`;
}
