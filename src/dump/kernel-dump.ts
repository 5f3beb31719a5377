/**
 * A dump opened together with the vmlinux it is said to be of: same arch, same build (else an
 * error naming both), the KASLR offset known, and a DumpTarget whose symbols come from the
 * vmlinux's ELF symbol table. That is all a dump needs before any debugger reads it: finding
 * the page tables, the banner and the offset takes symbols, never struct layouts.
 */
import { ElfFile } from '../oops/elf';
import type { Arch } from '../kernel/target';
import { openDump, type Dump } from './dump';
import { WrongDumpError } from './errors';
import { checkSameKernel, vmlinuxIdentity, type VmlinuxIdentity } from './identity';
import { DumpTarget, type DebugInfo } from './target';

export interface KernelDump {
  readonly dump: Dump;
  /** Symbols at link addresses from the ELF symbol table, moved by `kernelOffset`; no layouts. */
  readonly target: DumpTarget;
  /** The KASLR slide: runtime address − link address of the kernel image. */
  readonly kernelOffset: bigint;
  readonly vmlinux: VmlinuxIdentity;
  /**
   * Allocated sections linked at small addresses that KASLR does not move: x86_64's zero-based
   * `.data..percpu`, whose symbols are offsets into each CPU's area.
   */
  readonly unmovedSections: ReadonlyArray<{ name: string; address: bigint }>;
  close(): void;
}

const SHF_ALLOC = 2n;

/** Symbols of an ELF file's symbol table (the first definition of a name wins), and its unmoved sections. */
export async function elfSymbols(path: string): Promise<{ debugInfo: DebugInfo; unmoved: Array<{ name: string; address: bigint }> }> {
  const elf = await ElfFile.open(path);
  const symbols = new Map<string, bigint>();
  try {
    for (const s of await elf.symbols()) if (s.name && s.shndx !== 0 && !symbols.has(s.name)) symbols.set(s.name, s.value);
    const unmoved = elf.sections.filter((s) => (s.flags & SHF_ALLOC) !== 0n && s.size > 0n && s.addr < 1n << 63n).map((s) => ({ name: s.name, address: s.addr }));
    return { debugInfo: { symbol: async (name) => symbols.get(name), layout: async () => undefined }, unmoved };
  } finally {
    await elf.close();
  }
}

/**
 * Opens `core` as a dump of `vmlinux` (whose arch the caller read from its ELF header).
 * Throws DumpFormatError or WrongDumpError with both files named where both matter.
 */
export async function openKernelDump(core: string, vmlinux: string, vmlinuxArch: Arch): Promise<KernelDump> {
  const dump = openDump(core);
  try {
    if (dump.arch !== vmlinuxArch) throw new WrongDumpError(core, `a dump of an ${dump.arch} kernel, but ${vmlinux} is an ${vmlinuxArch} kernel`);
    const [{ debugInfo, unmoved }, identity] = await Promise.all([elfSymbols(vmlinux), vmlinuxIdentity(vmlinux)]);
    const target = new DumpTarget(dump, { debugInfo });
    await checkSameKernel(target, identity);
    const kernelOffset = await target.kernelOffset();
    return { dump, target, kernelOffset, vmlinux: identity, unmovedSections: unmoved, close: () => dump.close() };
  } catch (e) {
    dump.close();
    throw e;
  }
}
