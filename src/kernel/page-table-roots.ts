/**
 * Where a page walk starts, for the two kinds of target there are:
 *
 * - `registerRoots`: the CPU's paging registers (CR3/CR4, TTBRn_EL1/TCR_EL1) say everything, as
 *   the MMU sees it; a table named by a kernel address (`init_mm.pgd`, `mm->pgd`) is translated
 *   with the arch's memory model or, outside it, by a walk (QEMU's gdbstub).
 * - `kernelDataRoots`: no system registers (kgdb, a dump): the paging configuration comes from
 *   kernel data and DWARF once per session, and every walk starts at a kernel table, the CPU's
 *   current task's `mm->pgd` for user addresses and `init_mm.pgd` for kernel ones.
 */
import { archOps } from './arch';
import type { DebugInfoProbe, PagingOverride } from './arch/arch';
import { virtToPhys, type KernelMap } from './memory-model';
import { initMmPgd, kernelPhys, mmPgd } from './mm';
import type { WalkOptions } from './pagetable';
import { currentTask } from './sched';
import { readTask } from './task';
import { FaultError, UnsupportedError, type Target } from './target';

/**
 * `cpu` is asked only when the strategy needs one: finding the CPUs can cost line traffic (kgdb),
 * and a walk from kernel data often needs none.
 */
export interface PageTableRoots {
  /** How to walk `va` as CPU `cpu` sees it now. */
  cpu(cpu: () => Promise<number>, va: bigint): Promise<WalkOptions>;
  /** How to walk through the top-level table at kernel address `pgd` (`init_mm.pgd`, `mm->pgd`). */
  table(pgd: bigint, cpu: () => Promise<number>): Promise<WalkOptions>;
  /** What decoding one entry alone knows of the paging configuration. */
  decoding(cpu: () => Promise<number>): Promise<{ config: PagingOverride; registers: ReadonlyMap<string, bigint> }>;
}

/** A walk asked for an address space that does not exist, such as a kernel thread's user half. */
export class AddressSpaceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddressSpaceError';
  }
}

/** Walks from the paging registers of the CPU (a target that has them). */
export function registerRoots(target: Target): PageTableRoots {
  // The direct map and the kernel image are placed in early boot (KASLR: setup_arch), before the
  // kernel schedules; until then they are read at each walk (the target caches reads per stop).
  // From then on they stay for as long as the symbols do: a relocation (a new slide) moves
  // `system_state` too, which is the key.
  let settled: { key: bigint; map: KernelMap | undefined } | undefined;
  const map = async (): Promise<KernelMap | undefined> => {
    // Only a shortcut: a kernel without the symbol, or a failed lookup, reads the map each time.
    const state = await target.symbol('system_state').catch(() => undefined);
    if (settled && settled.key === state) return settled.map;
    const m = await archOps(target.arch).memory.kernelMap(target, {});
    if (state !== undefined && (await schedules(target, state))) settled = { key: state, map: m };
    return m;
  };
  return {
    async cpu(cpu) {
      return { cpu: await cpu(), directMap: await map() };
    },
    async table(pgd, cpu) {
      const [n, m] = [await cpu(), await map()];
      return { cpu: n, root: await kernelPhys(target, pgd, n, m), directMap: m };
    },
    async decoding(cpu) {
      return { config: {}, registers: await target.registers(await cpu(), archOps(target.arch).paging.registers) };
    },
  };
}

/** enum system_states: SYSTEM_BOOTING is 0, SYSTEM_SCHEDULING (and every later state) above. */
async function schedules(target: Target, systemState: bigint): Promise<boolean> {
  try {
    const bytes = await target.readVirtual(systemState, 4);
    return bytes.length === 4 && (bytes[0] | bytes[1] | bytes[2] | bytes[3]) !== 0;
  } catch (e) {
    if (e instanceof FaultError) return false;
    throw e;
  }
}

/** The paging configuration and memory map of a kernel, from its own data. */
export interface KernelLayout {
  readonly paging: PagingOverride;
  readonly map: KernelMap;
}

/** Reads the kernel's layout without registers; it does not move while the kernel runs. */
export async function kernelLayout(target: Target, probe: DebugInfoProbe): Promise<KernelLayout> {
  const hooks = archOps(target.arch).memory;
  const paging = await hooks.pagingFromKernel(target, probe);
  const map = await hooks.kernelMap(target, paging);
  if (!map) throw new UnsupportedError(target.arch, 'page walks without paging registers (kernel data does not place the direct map)');
  return { paging, map };
}

/** Walks from kernel tables (a target without system registers). */
export function kernelDataRoots(target: Target, layout: () => Promise<KernelLayout>): PageTableRoots {
  const table = async (pgd: bigint): Promise<WalkOptions> => {
    const { paging, map } = await layout();
    // Tables of user mms are in the direct map; init_mm's is in the kernel image.
    const root = virtToPhys(map, pgd);
    if (root === undefined) throw new AddressSpaceError(`the page table at 0x${pgd.toString(16)} is neither in the direct map nor in the kernel image`);
    return { root, config: paging, directMap: map };
  };
  return {
    async cpu(cpu, va) {
      if (va >> 63n === 1n) return table(await initMmPgd(target));
      const info = await readTask(target, await currentTask(target, await cpu()));
      if (info.mm === 0n) {
        throw new AddressSpaceError(`${info.comm} [${info.pid}] is a kernel thread: it has no user address space (and without paging registers there is no CR3/TTBR0 to read one from).`);
      }
      return table(await mmPgd(target, info.mm));
    },
    table: (pgd) => table(pgd),
    async decoding() {
      return { config: (await layout()).paging, registers: new Map() };
    },
  };
}
