/**
 * Kernel stack traces. gdb's DWARF unwinder does not stop at the user/kernel boundary or at
 * exception entry: past `entry_SYSCALL_64` it reports garbage frames named after per-CPU
 * symbols linked at 0 (`fixed_percpu_data`). We cut the trace at entry stubs instead.
 */
import type { Frame } from '../gdb/mi/stack';
import { archOps } from '../kernel/arch';
import type { Arch } from '../kernel/target';

/** Symbols linked at small absolute addresses that gdb uses to name garbage pcs. */
const lowSymbols = /^(fixed_percpu_data|exception_stacks|irq_stack_backing_store|__per_cpu_start)$/;

export function isEntryStub(arch: Arch, func: string | undefined): boolean {
  return func !== undefined && archOps(arch).entryStubs.test(func);
}

/**
 * Keeps frames up to and including the first entry stub; drops the garbage after a frame
 * that is not in kernel space. The top frame is always kept (a CPU may sit in user mode
 * or in firmware, and the user must see where).
 */
export function trimKernelStack(arch: Arch, frames: readonly Frame[]): { frames: Frame[]; truncated: boolean } {
  const floor = archOps(arch).kernelFloor;
  const out: Frame[] = [];
  for (const [i, f] of frames.entries()) {
    if (i > 0) {
      const bogus =
        (f.address !== undefined && f.address < floor) ||
        (f.func !== undefined && lowSymbols.test(f.func)) ||
        f.address === 0n;
      if (bogus) return { frames: out, truncated: true };
    }
    out.push(f);
    if (i > 0 && isEntryStub(arch, f.func)) return { frames: out, truncated: i < frames.length - 1 };
  }
  return { frames: out, truncated: false };
}
