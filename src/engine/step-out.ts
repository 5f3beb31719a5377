/**
 * Step out of a kernel function. gdb's `finish` stops at a breakpoint that belongs to one gdb
 * thread, which under QEMU is one vCPU; a task that the scheduler moves to another vCPU before
 * it returns never hits it, and the session waits forever. We put a breakpoint for all vCPUs
 * at the return address, conditioned on the caller's stack pointer, which identifies the task.
 */
import type { GdbBackend } from '../gdb/backend';
import * as bp from '../gdb/mi/breakpoints';
import * as data from '../gdb/mi/data';
import * as exec from '../gdb/mi/exec';
import { ignore } from './errors';

/** A number as gdb prints it: `0xffff… <sym+8>` for code pointers, plain decimal for integers. */
function hex(text: string): bigint | undefined {
  const m = /0x[0-9a-f]+/i.exec(text) ?? /^\s*(\d+)/.exec(text);
  return m ? BigInt(m[m.length - 1]) : undefined;
}

/** Resumes until `thread`'s current function returns; returns the breakpoint that marks it. */
export async function stepOut(gdb: GdbBackend, thread: number): Promise<number | undefined> {
  let pc: bigint | undefined;
  let sp: bigint | undefined;
  try {
    pc = hex(await data.evaluate(gdb, '$pc', { thread, frame: 1 }));
    sp = hex(await data.evaluate(gdb, '(unsigned long)$sp', { thread, frame: 1 }));
  } catch (err) {
    // no caller frame (outermost, or unwinding failed): gdb's own finish reports why
    ignore(err, 'reading the caller frame for step out');
  }
  if (pc === undefined || sp === undefined) {
    await exec.finish(gdb, thread);
    return undefined;
  }
  const b = await bp.insert(gdb, `*0x${pc.toString(16)}`, { temporary: true, condition: `(unsigned long)$sp == 0x${sp.toString(16)}` });
  await exec.continueAll(gdb);
  return b.number;
}
