/**
 * The per-architecture hook table. Everything that differs between architectures is one member
 * of `ArchOps`; concept files and the layers above never branch on the architecture, they ask
 * the one `ArchOps` that arch/index.ts picks for `Target.arch` (`archOps(arch)`).
 *
 * Adding an arch (riscv64, say) touches src/kernel/arch and nothing else:
 *  1. Add its name to `ARCH_NAMES` (arch/names.ts). The compiler then points at arch/index.ts,
 *     whose table needs its `ArchOps`; test/unit/kernel/arch-ops.test.ts fails for any member left
 *     out, and the launch schema test for package.json's "arch" enums.
 *  2. arch/<name>/pagetable.ts: a `PagingHooks` (below): the registers a walk needs, spelled as
 *     the gdbstub spells them; `config` from those registers and the user's override; `plan`
 *     (which root, which levels, which VAs the MMU refuses); `decode` of one entry; `summarize`
 *     of a whole path into kernel/user access and memory type.
 *  3. arch/<name>/memory.ts: a `MemoryHooks`: the paging configuration from kernel data alone
 *     (kgdb, dumps), and __pa/__va/pfn_to_page from the kernel's variables.
 *  4. arch/<name>/sysregs.ts: bit fields of the system registers worth decoding.
 *  5. arch/<name>/boot.ts: `BootFacts`: the images a build makes, its Kconfig symbol, the serial
 *     console, host names, and where KASLR may put the image and how a boot can be stopped once
 *     it has.
 *  6. arch/<name>/index.ts: the `ArchOps` itself: ELF machine, gdb and QEMU names, register
 *     groups and the kernel/user rule, pt_regs members, entry stubs, exception functions,
 *     calling convention, where preempt_count lives, and the kgdb facts of the arch.
 *  7. Unit tests: test/unit/kernel/<name>-pagetable.test.ts, synthetic tables for every page size
 *     and level count the kernel supports, a non-present entry at each level, and the arch's real
 *     entries (from a booted kernel) as vectors; its memory model in memory-hooks.test.ts.
 *  8. End-to-end: a fixture kernel in scripts/fixtures.sh and walks on it compared against QEMU's
 *     `monitor gva2gpa` (test/e2e/kernel-views.test.ts runs per arch).
 */
import type { KernelMap, MemoryModel } from '../memory-model';
import type { BootFacts } from './boot';
import type { Target } from '../target';
import type { Arch } from './names';
import type { BitField } from '../sysregs';

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

/** What DWARF says beyond struct layouts, for the paging configuration without registers. */
export interface DebugInfoProbe {
  /** `sizeof(expression)` of a global or a type; undefined when DWARF does not say. */
  sizeOf(expression: string): Promise<number | undefined>;
  /** CONFIG_PGTABLE_LEVELS: the levels whose types pgtable-nopXd.h does not fold. */
  pageTableLevels(): Promise<number>;
}

/** How the kernel lays out memory, read from its own variables. */
export interface MemoryHooks {
  /**
   * The paging configuration from kernel data and DWARF alone, for connections without system
   * registers (kgdb, a dump): what `walk()` takes as `config` instead of CR4/TCR_EL1.
   */
  pagingFromKernel(target: Target, probe: DebugInfoProbe): Promise<PagingOverride>;
  /**
   * `__pa()`/`__pa_symbol()`/`__va()` from the kernel's variables. `paging` says what the layout
   * macros depend on, where known (x86_64 la57; arm64 granule and vaBits); undefined when that
   * is not enough to place the direct map (arm64 without vaBits: walk instead).
   */
  kernelMap(target: Target, paging: PagingOverride): Promise<KernelMap | undefined>;
  /** `kernelMap` plus the memmap (`pfn_to_page()`, `page_to_pfn()`). */
  memoryModel(target: Target, paging: PagingOverride): Promise<MemoryModel | undefined>;
}

/** How a CPU's registers say what it runs. */
export interface CpuModeRule {
  /** Registers read once per CPU and stop, in one MI command. */
  readonly registers: readonly string[];
  /** A CPU with its MMU off (reset, firmware, not yet started) is neither kernel nor user. */
  mode(registers: ReadonlyMap<string, bigint>): 'kernel' | 'user' | 'unknown';
  irqsDisabled(registers: ReadonlyMap<string, bigint>): boolean | undefined;
}

/** Register groups as the Variables view shows them. */
export interface RegisterGroups {
  /** General registers: the "Registers" scope. */
  readonly general: RegExp;
  /** System registers, in the order shown: the "System Registers" scope. */
  readonly system: readonly string[];
  /** Bit fields of the registers worth decoding (both groups). */
  readonly fields: Readonly<Record<string, readonly BitField[]>>;
  /**
   * gdb's numbers of the registers an instruction changes as it runs, not the system registers
   * QEMU adds (on arm64 one of those changes across a step that ran nothing).
   */
  readonly core: readonly number[];
}

/** `struct pt_regs` (arch/<arch>/include/asm/ptrace.h): what an entry saved of the interrupted context. */
export interface PtRegs {
  readonly pc: string;
  readonly sp: string;
  /** The member that says which mode was interrupted (x86 `cs`, arm64 `pstate`). */
  readonly mode: string;
  modeOf(word: bigint): 'user' | 'kernel';
  /**
   * C handlers an entry stub calls with its pt_regs as `regs`: where gdb's unwind may end, one
   * frame short of the stub.
   */
  readonly handlers: RegExp;
}

/** Kernel exception breakpoints, by filter: candidate functions, the first one that exists wins. */
export type ExceptionFilter = 'panic' | 'oops' | 'warn' | 'bug' | 'kasan';

/** kgdb's behaviour on this arch (kernel/debug/, arch/<arch>/kernel/kgdb.c). */
export interface KgdbFacts {
  /** BUFMAX in arch/<arch>/include/asm/kgdb.h: kgdb's packet buffer. */
  readonly bufmax: number;
  /**
   * A register whose bits mask interrupts while kdap steps off a breakpoint itself, where kgdb
   * single-steps with interrupts on and the step lands in the IRQ vector; null where it does not.
   */
  readonly maskedStep: { readonly register: string; readonly mask: bigint } | null;
  /** Breakpoints set while the kernel boots stay in its text once mark_rodata_ro() has run. */
  readonly bootBreakpointsStick: boolean;
}

export interface ArchOps {
  readonly arch: Arch;
  /** e_machine of a vmlinux of this arch (EM_X86_64, EM_AARCH64). */
  readonly elfMachine: number;
  /** The kernel image QEMU boots, told from its first bytes (bzImage "HdrS", arm64 Image magic). */
  isBootImage(header: Uint8Array): boolean;
  /** gdb's names: `set architecture`, and cross gdbs to try before gdb-multiarch. */
  readonly gdb: { readonly name: Arch; readonly architecture: string; readonly crossGdbs: readonly string[] };
  /** QEMU for a launch: the program and the default machine and CPU model. */
  readonly qemu: { readonly program: string; readonly machine: string; readonly cpu: string };
  readonly paging: PagingHooks;
  readonly memory: MemoryHooks;
  readonly registers: RegisterGroups;
  readonly cpuMode: CpuModeRule;
  readonly ptRegs: PtRegs;
  /** Functions where a kernel stack begins (syscall, exception and interrupt entry, task start). */
  readonly entryStubs: RegExp;
  /** Lowest kernel virtual address: below it a "kernel frame" is garbage from a failed unwind. */
  readonly kernelFloor: bigint;
  readonly exceptions: Readonly<Record<ExceptionFilter, readonly string[]>>;
  /** The first argument of a call, as gdb names the register at a function's entry. */
  readonly firstArgument: string;
  /** The longest instruction, in bytes: how far before an address disassembly must start. */
  readonly maxInstructionBytes: number;
  /**
   * Functions begin with ftrace NOPs (-fpatchable-function-entry) before the DWARF entry, so
   * gdb binds two locations per function breakpoint.
   */
  readonly patchableFunctionEntry: boolean;
  /**
   * Module .ko files are linked at their load addresses before gdb reads them (gdb 13 relocates
   * an arm64 ET_REL's DWARF wrongly; module-symbols.ts).
   */
  readonly prelinkModules: boolean;
  /** Where preempt_count() lives: a per-CPU variable, or `current->thread_info` (preempt.ts). */
  readonly preemptCount: 'percpu' | 'thread_info';
  readonly kgdb: KgdbFacts;
  /** Builds and boots: kernel images, Kconfig, the QEMU serial console, host names, KASLR (boot.ts). */
  readonly boot: BootFacts;
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

/** An address or other u64 in JSON: JSON has no 64-bit integers. */
export type HexString = `0x${string}`;

export function hex(value: bigint): HexString {
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
