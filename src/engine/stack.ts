/**
 * Kernel stack traces. gdb's DWARF unwinder does not stop at the user/kernel boundary or at
 * exception entry: past `entry_SYSCALL_64` it reports garbage frames named after per-CPU
 * symbols linked at 0 (`fixed_percpu_data`). We cut the trace at entry stubs instead.
 */
import type { Frame } from '../gdb/mi/stack';
import type { Arch } from '../kernel/target';

/** Functions where a kernel stack begins: syscall, exception and interrupt entry, task start. */
const entryStubs: Record<Arch, RegExp> = {
  x86_64: /^(entry_SYSCALL_64(_after_hwframe)?|entry_INT80_compat|entry_SYSENTER_compat|asm_(exc|sysvec)_\w+|asm_common_interrupt|asm_spurious_interrupt|ret_from_fork|secondary_startup_64(_no_verify)?|start_cpu0|xen_\w+_entry)$/,
  arm64: /^(el[01][th]_(64|32)_(sync|irq|fiq|error)|ret_from_fork|__primary_switched|__secondary_switched|secondary_startup|call_on_irq_stack)$/,
};

/** Lowest kernel virtual address: below it a "kernel frame" is garbage from a failed unwind. */
const kernelFloor: Record<Arch, bigint> = {
  x86_64: 0xff00000000000000n,
  arm64: 0xfff0000000000000n,
};

/** Symbols linked at small absolute addresses that gdb uses to name garbage pcs. */
const lowSymbols = /^(fixed_percpu_data|exception_stacks|irq_stack_backing_store|__per_cpu_start)$/;

export function isEntryStub(arch: Arch, func: string | undefined): boolean {
  return func !== undefined && entryStubs[arch].test(func);
}

/**
 * Keeps frames up to and including the first entry stub; drops the garbage after a frame
 * that is not in kernel space. The top frame is always kept (a CPU may sit in user mode
 * or in firmware, and the user must see where).
 */
export function trimKernelStack(arch: Arch, frames: readonly Frame[]): { frames: Frame[]; truncated: boolean } {
  const out: Frame[] = [];
  for (const [i, f] of frames.entries()) {
    if (i > 0) {
      const bogus =
        (f.address !== undefined && f.address < kernelFloor[arch]) ||
        (f.func !== undefined && lowSymbols.test(f.func)) ||
        f.address === 0n;
      if (bogus) return { frames: out, truncated: true };
    }
    out.push(f);
    if (i > 0 && isEntryStub(arch, f.func)) return { frames: out, truncated: i < frames.length - 1 };
  }
  return { frames: out, truncated: false };
}
