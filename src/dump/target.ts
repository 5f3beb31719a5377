/**
 * A `Target` over a dump: physical reads from the file, virtual reads through the kernel's own
 * page tables (the generic walk of src/kernel/pagetable.ts, started at `swapper_pg_dir`), the
 * registers each CPU saved, and symbols and struct layouts from debug info that the caller
 * injects (gdb over vmlinux, or an ELF symbol table), moved by the dump's KASLR offset.
 *
 * The dump is frozen, so every translation stays true: translations are cached per page.
 */
import { walk, type PagingOverride } from '../kernel/pagetable';
import { FaultError, type Arch, type StructLayout, type Target } from '../kernel/target';
import type { Dump } from './dump';
import { Lru } from './lru';

/** Where symbols and layouts come from; addresses as linked unless `relocated` says otherwise. */
export interface DebugInfo {
  symbol(name: string): Promise<bigint | undefined>;
  layout(structName: string): Promise<StructLayout | undefined>;
}

export interface DumpTargetOptions {
  debugInfo: DebugInfo;
  /** The debug info's addresses already include the KASLR offset (gdb loaded vmlinux with `-o`). */
  relocated?: boolean;
  /** Pages whose translation is kept; 4096 by default (about 200 KiB). */
  translationCacheSize?: number;
}

/** Link-time start of the kernel image mapping: symbols from here on move with KASLR. */
const KERNEL_IMAGE: Record<Arch, bigint> = {
  // __START_KERNEL_map
  x86_64: 0xffffffff80000000n,
  // KIMAGE_VADDR of 6.1 with 48-bit VAs (MODULES_END); the image links above it.
  arm64: 0xffff800008000000n,
};

/** What a virtual read walks with: the root table and the paging parameters. */
export interface KernelPaging {
  /** Physical address of `swapper_pg_dir` (x86_64 `init_top_pgt`). */
  readonly root: bigint;
  readonly config: PagingOverride;
  /** Where the root came from, for messages. */
  readonly source: string;
}

export class DumpTarget implements Target {
  readonly arch: Arch;
  /** Walks done for virtual reads (translation cache misses). */
  walks = 0;
  private readonly translations: Lru<bigint, bigint>;
  private paging: Promise<KernelPaging> | undefined;
  private readonly pageShift = 12n;

  constructor(readonly dump: Dump, private readonly options: DumpTargetOptions) {
    this.arch = dump.arch;
    this.translations = new Lru(options.translationCacheSize ?? 4096);
  }

  /** The KASLR offset: VMCOREINFO's KERNELOFFSET, else (x86_64 QEMU dumps) from the IDT's base. */
  async kernelOffset(): Promise<bigint> {
    const fromInfo = this.dump.vmcoreinfo?.kernelOffset;
    if (fromInfo !== undefined) return fromInfo;
    const idt = this.dump.cpus[0]?.registers.get('idt_base');
    const linked = idt === undefined ? undefined : await this.options.debugInfo.symbol('idt_table');
    if (idt !== undefined && linked !== undefined) return BigInt.asUintN(64, idt - linked);
    return 0n;
  }

  /** How virtual reads translate: the kernel's root table and its paging parameters. */
  kernelPaging(): Promise<KernelPaging> {
    this.paging ??= this.findPaging();
    this.paging.catch(() => (this.paging = undefined));
    return this.paging;
  }

  // ---- Target ----

  async readPhysical(address: bigint, length: number): Promise<Uint8Array> {
    return this.dump.memory.read(address, length);
  }

  async readVirtual(address: bigint, length: number): Promise<Uint8Array> {
    if (address < 0n || address + BigInt(length) > 1n << 64n) throw new FaultError(address, length, 'beyond the 64-bit address space');
    const out = new Uint8Array(length);
    const pageSize = 1n << this.pageShift;
    for (let done = 0; done < length; ) {
      const va = address + BigInt(done);
      const frame = await this.translate(va, address, length);
      const offset = va & (pageSize - 1n);
      const n = Math.min(length - done, Number(pageSize - offset));
      out.set(this.dump.memory.read(frame + offset, n), done);
      done += n;
    }
    return out;
  }

  async registers(cpu: number, names: readonly string[]): Promise<Map<string, bigint>> {
    const state = this.dump.cpus[cpu];
    if (!state) throw new RangeError(`no CPU ${cpu} in this dump of ${this.dump.cpus.length} CPUs`);
    const out = new Map<string, bigint>();
    for (const name of names) {
      const value = state.registers.get(name);
      if (value !== undefined) out.set(name, value);
    }
    return out;
  }

  async symbol(name: string): Promise<bigint | undefined> {
    const linked = await this.options.debugInfo.symbol(name);
    if (linked === undefined) return this.dump.vmcoreinfo?.symbol(name);
    if (this.options.relocated || linked < KERNEL_IMAGE[this.arch]) return linked;
    return BigInt.asUintN(64, linked + (await this.kernelOffset()));
  }

  layout(structName: string): Promise<StructLayout | undefined> {
    return this.options.debugInfo.layout(structName);
  }

  async cpus(): Promise<number> {
    return this.dump.cpus.length;
  }

  // ---- internals ----

  /** Physical frame (4 KiB granularity) of `va`, walked once and cached. */
  private async translate(va: bigint, address: bigint, length: number): Promise<bigint> {
    const page = va >> this.pageShift;
    const cached = this.translations.get(page);
    if (cached !== undefined) return cached;
    const paging = await this.kernelPaging();
    this.walks++;
    const w = await walk(this, va, { root: paging.root, config: paging.config });
    if (w.phys === null) throw new FaultError(address, length, `0x${va.toString(16)} is not mapped in the kernel's page tables (${paging.source}): ${w.fault ?? 'no translation'}`);
    const frame = (w.phys >> this.pageShift) << this.pageShift;
    this.translations.set(page, frame);
    return frame;
  }

  private async findPaging(): Promise<KernelPaging> {
    const info = this.dump.vmcoreinfo;
    const pgd = info?.symbol('swapper_pg_dir') ?? (await this.symbol(this.arch === 'x86_64' ? 'init_top_pgt' : 'swapper_pg_dir'));
    if (this.arch === 'x86_64') {
      const l5 = info?.number('pgtable_l5_enabled');
      const cr4 = this.dump.cpus[0]?.registers.get('cr4');
      const config: PagingOverride = { la57: l5 !== undefined ? l5 === 1n : cr4 !== undefined ? ((cr4 >> 12n) & 1n) === 1n : false };
      const physBase = info?.number('phys_base') ?? this.dump.kdumpHeader?.physBase;
      if (pgd !== undefined && physBase !== undefined) {
        return { root: BigInt.asUintN(64, pgd - KERNEL_IMAGE.x86_64 + physBase), config, source: 'init_top_pgt, __pa_symbol() with phys_base' };
      }
      const cr3 = this.dump.cpus[0]?.registers.get('cr3');
      if (cr3 !== undefined) return { root: cr3 & 0x000ffffffffff000n, config, source: 'CR3 of CPU 0' };
      throw new FaultError(0n, 0, 'no page table root: the dump has neither VMCOREINFO (phys_base) nor CR3');
    }
    const voffset = info?.number('kimage_voffset');
    const pageSize = info?.pageSize;
    const t1sz = info?.number('TCR_EL1_T1SZ');
    const vaBits = t1sz !== undefined ? 64 - Number(t1sz) : info?.number('VA_BITS') !== undefined ? Number(info.number('VA_BITS')) : undefined;
    if (pgd === undefined || voffset === undefined || pageSize === undefined || vaBits === undefined) {
      throw new FaultError(0n, 0, 'arm64 dumps need VMCOREINFO (kimage_voffset, PAGESIZE, VA_BITS) to translate: run QEMU with -device vmcoreinfo and load qemu_fw_cfg in the guest');
    }
    if (pageSize !== 4096 && pageSize !== 16384 && pageSize !== 65536) throw new FaultError(0n, 0, `VMCOREINFO PAGESIZE ${pageSize} is no arm64 granule`);
    return { root: BigInt.asUintN(64, pgd - voffset), config: { granule: pageSize, vaBits }, source: 'swapper_pg_dir, __pa_symbol() with kimage_voffset' };
  }
}
