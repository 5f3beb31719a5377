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
import type { Arch } from '../kernel/target';
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
 * The stub frame, when `frames` ends at one whose caller-facing handler (the frame just above
 * it) took a pt_regs: index of the handler frame, or undefined.
 */
export function handlerBelowStub(arch: Arch, frames: readonly Frame[]): number | undefined {
  const last = frames.length - 1;
  if (last < 1) return undefined;
  const stub = frames[last].func;
  if (!isEntryStub(arch, stub) || noInterruptedContext.test(stub ?? '')) return undefined;
  return last - 1;
}

async function number(gdb: GdbBackend, thread: number, frame: number, expression: string): Promise<bigint | undefined> {
  try {
    const text = await data.evaluate(gdb, `(unsigned long)(${expression})`, { thread, frame });
    const m = /^(0x[0-9a-f]+|\d+)/i.exec(text.trim());
    return m ? BigInt(m[1]) : undefined;
  } catch (err) {
    ignore(err, `evaluating ${expression}`);
    return undefined;
  }
}

/**
 * Reads the interrupted context under `frames` (a whole stack, outermost frame last), or
 * undefined when it does not end at an entry stub or its handler has no `regs` gdb can read.
 */
export async function interruptedContext(gdb: GdbBackend, arch: Arch, thread: number, frames: readonly Frame[]): Promise<InterruptedContext | undefined> {
  const handler = handlerBelowStub(arch, frames);
  if (handler === undefined) return undefined;
  // The handler's own `regs` can be optimized out (arm64's el0t_64_sync_handler tail-calls):
  // the functions it passes regs on to have it too.
  let level = frames[handler].level;
  let regs: bigint | undefined;
  for (let i = handler; i >= Math.max(0, handler - 3) && !regs; i--) {
    level = frames[i].level;
    regs = await number(gdb, thread, level, 'regs');
  }
  if (!regs) return undefined;
  const m = archOps(arch).ptRegs;
  const base = `((struct pt_regs *)0x${regs.toString(16)})`;
  const [pc, sp, modeWord] = await Promise.all([number(gdb, thread, level, `${base}->${m.pc}`), number(gdb, thread, level, `${base}->${m.sp}`), number(gdb, thread, level, `${base}->${m.mode}`)]);
  if (pc === undefined || sp === undefined || modeWord === undefined) return undefined;
  const ctx: InterruptedContext = { regs, mode: modeOf(arch, modeWord), pc, sp, stub: frames[frames.length - 1].func ?? '??' };
  if (ctx.mode === 'kernel') {
    const site: FaultSite = { pc };
    await describe(gdb, site);
    ctx.site = site;
  }
  return ctx;
}

export function describeInterrupted(ctx: InterruptedContext): string {
  const hex = (v: bigint) => `0x${v.toString(16)}`;
  if (ctx.mode === 'user') return `user space: pc ${hex(ctx.pc)} sp ${hex(ctx.sp)} (pt_regs ${hex(ctx.regs)})`;
  return `interrupted kernel code (pt_regs ${hex(ctx.regs)})`;
}
