/**
 * A breakpoint stop that gdb reports twice under QEMU.
 *
 * Resuming from a breakpoint, gdb first steps the thread over it (breakpoint out, one
 * instruction, breakpoint back in). QEMU's gdbstub now and then reports that step done with the
 * instruction not run (x86_64 TCG, 2 vCPUs: about 1 resume in 30 in bench/init-module-race.mjs;
 * gdb's `set debug infrun 1` shows the step-over ending at the pc it started from), and gdb then
 * reports the same breakpoint again: a stop that never happened, and at kdap's own module hook a
 * second load of the same module. The engine keeps where each continue from a breakpoint left
 * from (thread, pc, the core registers); a breakpoint stop there with those registers unchanged
 * ran no instruction and is resumed unseen. A real second hit (a loop, a second call) leaves some
 * register changed; one that changes none (a spin loop around the breakpoint) still shows, on
 * its third hit, as at most MAX_REPEATS repeats in a row are resumed.
 */
import type { GdbBackend } from '../gdb/backend';
import { registerValues } from '../gdb/mi/data';
import { archOps } from '../kernel/arch';
import type { Arch } from '../kernel/target';
import type { StopInfo } from './engine';
import { bestEffort } from './errors';

export interface ResumePoint {
  thread: number;
  pc: bigint;
  /** The thread's core registers then, as gdb read them. */
  registers: string;
  /** Repeats of this stop resumed so far, in a row. */
  repeats: number;
}

export const MAX_REPEATS = 2;

/** The core registers of a thread, as gdb reads them (one string, to compare). */
export async function registerState(gdb: GdbBackend, arch: Arch, thread: number): Promise<string> {
  return JSON.stringify([...(await registerValues(gdb, archOps(arch).registers.core, { thread }))]);
}

/** Where a continue from `stop` leaves from, when `stop` is a breakpoint hit; undefined otherwise. */
export async function resumePoint(gdb: GdbBackend, arch: Arch, stop: StopInfo | undefined, previous: ResumePoint | undefined): Promise<ResumePoint | undefined> {
  if (stop?.reason !== 'breakpoint-hit' || stop.threadId === undefined || stop.frame?.address === undefined) return undefined;
  const registers = await bestEffort(registerState(gdb, arch, stop.threadId), 'reading registers at a breakpoint stop');
  if (registers === undefined) return undefined;
  const again = previous?.thread === stop.threadId && previous.pc === stop.frame.address;
  return { thread: stop.threadId, pc: stop.frame.address, registers, repeats: again ? previous.repeats : 0 };
}

/** A breakpoint stop where the last continue left from: a repeat if the registers say so. */
export function mayRepeat(info: StopInfo, from: ResumePoint | undefined): from is ResumePoint {
  return !!from && from.repeats < MAX_REPEATS && info.reason === 'breakpoint-hit' && info.threadId === from.thread && info.frame?.address === from.pc;
}
