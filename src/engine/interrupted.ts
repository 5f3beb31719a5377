/**
 * The context an entry stub interrupted, read from the `struct pt_regs` its C handler received.
 * gdb's unwinder stops at the stub (trimKernelStack cuts there); the user still wants to know
 * what ran before the syscall, interrupt or exception: user space (pc/sp) or the kernel code
 * that was interrupted, with its source line.
 *
 *   x86_64  do_syscall_64(regs, nr), sysvec_*(regs), exc_*(regs, …), common_interrupt(regs, vector)
 *   arm64   el0t_64_sync_handler(regs), el1h_64_irq_handler(regs), …
 */
import type { GdbBackend } from '../gdb/backend';
import * as data from '../gdb/mi/data';
import type { Frame } from '../gdb/mi/stack';
import { archOps } from '../kernel/arch';
import { unsignedAt } from '../kernel/struct';
import type { Arch, MemberLayout, Target } from '../kernel/target';
import { describe, type FaultSite } from './exceptions';
import { isEntryStub } from './stack';
import { ignore } from './errors';

export interface InterruptedContext {
  /** The `struct pt_regs *` the handler was given. */
  regs: bigint;
  mode: 'user' | 'kernel';
  pc: bigint;
  sp: bigint;
  /** Which stub took the entry, e.g. `entry_SYSCALL_64` or `el1h_64_irq`. */
  stub: string;
  /** Function and line of `pc`, for kernel mode. */
  site?: FaultSite;
}

/** Stubs that start a context of their own: no pt_regs of an interrupted one. */
const noInterruptedContext = /^(ret_from_fork|secondary_startup(_64(_no_verify)?)?|start_cpu0|__primary_switched|__secondary_switched|call_on_irq_stack|xen_\w+_entry)$/;

/** The mode pt_regs' mode word says was interrupted (`ArchOps.ptRegs`). */
export function modeOf(arch: Arch, modeWord: bigint): 'user' | 'kernel' {
  return archOps(arch).ptRegs.modeOf(modeWord);
}

/**
 * The handler frame that took the stub's pt_regs: the frame just above the entry stub that ends
 * `frames`, or, when gdb's unwind `ended` at the C handler one frame short of its stub
 * (`sysvec_apic_timer_interrupt` without `asm_sysvec_apic_timer_interrupt`), that last frame.
 */
export function handlerBelowStub(arch: Arch, frames: readonly Frame[], ended = false): number | undefined {
  const last = frames.length - 1;
  if (last < 1) return undefined;
  const bottom = frames[last].func ?? '';
  if (isEntryStub(arch, bottom)) return noInterruptedContext.test(bottom) ? undefined : last - 1;
  if (ended && archOps(arch).ptRegs.handlers.test(bottom)) return last;
  return undefined;
}

/** Where pt_regs' members are, from the kernel's DWARF (the target keeps layouts for the session). */
interface PtRegsLayout {
  size: number;
  pc: MemberLayout;
  sp: MemberLayout;
  mode: MemberLayout;
}

async function ptRegsLayout(target: LayoutSource, arch: Arch): Promise<PtRegsLayout | undefined> {
  const layout = await target.layout('pt_regs');
  const names = archOps(arch).ptRegs;
  const [pc, sp, mode] = [names.pc, names.sp, names.mode].map((n) => layout?.members.get(n));
  if (!layout || !pc || !sp || !mode) return undefined;
  return { size: layout.size, pc, sp, mode };
}

/** What the interrupted context needs of the kernel target: struct layouts. */
export type LayoutSource = Pick<Target, 'layout'>;

/**
 * Reads the interrupted context under `frames` (a whole stack, outermost frame last; `ended`
 * when gdb's unwind stopped there rather than at a page's end), or undefined when it does not
 * end at an entry stub or its handler has no `regs` gdb can read.
 *
 * The pt_regs is read raw, in one command that evaluates the handler's `regs` and reads the
 * struct behind it; its members are decoded by the layout read once per session. (A typed
 * `((struct pt_regs *)0x…)->ip` costs a type lookup in gdb each time, ~20 ms.) `describeSite`
 * names the interrupted kernel pc's function and line (gdb's `info line` unless the caller
 * remembers it).
 */
export async function interruptedContext(
  gdb: GdbBackend,
  target: LayoutSource,
  arch: Arch,
  thread: number,
  frames: readonly Frame[],
  ended = false,
  describeSite: (site: FaultSite) => Promise<void> = (site) => describe(gdb, site),
): Promise<InterruptedContext | undefined> {
  const handler = handlerBelowStub(arch, frames, ended);
  if (handler === undefined) return undefined;
  const layout = await ptRegsLayout(target, arch);
  if (!layout) return undefined;
  // The handler's own `regs` can be optimized out (arm64's el0t_64_sync_handler tail-calls):
  // the functions it passes regs on to have it too.
  let read: { address: bigint; bytes: Uint8Array } | undefined;
  for (let i = handler; i >= Math.max(0, handler - 3) && !read; i--) {
    try {
      const r = await data.readMemoryAt(gdb, 'regs', layout.size, { thread, frame: frames[i].level });
      if (r.address !== 0n && r.bytes.length === layout.size) read = r;
    } catch (err) {
      ignore(err, `reading regs in frame ${frames[i].level}`);
    }
  }
  if (!read) return undefined;
  const field = (m: MemberLayout) => unsignedAt(read.bytes, m.offset, m.size);
  const pc = field(layout.pc);
  const ctx: InterruptedContext = { regs: read.address, mode: modeOf(arch, field(layout.mode)), pc, sp: field(layout.sp), stub: frames[frames.length - 1].func ?? '??' };
  if (ctx.mode === 'kernel') {
    const site: FaultSite = { pc };
    await describeSite(site);
    ctx.site = site;
  }
  return ctx;
}

export function describeInterrupted(ctx: InterruptedContext): string {
  const hex = (v: bigint) => `0x${v.toString(16)}`;
  if (ctx.mode === 'user') return `user space: pc ${hex(ctx.pc)} sp ${hex(ctx.sp)} (pt_regs ${hex(ctx.regs)})`;
  return `interrupted kernel code (pt_regs ${hex(ctx.regs)})`;
}
