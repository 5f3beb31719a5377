/**
 * x86_64: since v4.9 ("sched/x86: Rewrite the switch_to() code"), __switch_to_asm() pushes the
 * callee-saved registers and saves the stack pointer in `task->thread.sp`, which then points
 * at a `struct inactive_task_frame` (arch/x86/include/asm/switch_to.h): r15, r14, r13, r12,
 * bx, bp, ret_addr. The task resumes by popping that frame and returning to `ret_addr` (inside
 * __schedule(), or ret_from_fork for a new task): pc = ret_addr, sp = thread.sp + the frame's size.
 *
 * Member offsets and the frame's size come from the kernel's DWARF, never from this comment.
 */
import { member, readStruct, readU64, structLayout } from '../../struct';
import { isKernelAddress, SwitchFrameError, type SwitchFrame } from '../../switch-frame';
import { FaultError, type Target } from '../../target';

/** inactive_task_frame member → gdb register. */
const SAVED: ReadonlyArray<readonly [member: string, register: string]> = [
  ['r15', 'r15'],
  ['r14', 'r14'],
  ['r13', 'r13'],
  ['r12', 'r12'],
  ['bx', 'rbx'],
  ['bp', 'rbp'],
];

/**
 * The registers `task` resumes with. `threadSp` is `task->thread.sp` when the caller already
 * read it; otherwise it costs one read more. Two reads at most, 8 and 56 bytes on 6.1.
 */
export async function x86_64SwitchFrame(target: Target, task: bigint, threadSp?: bigint): Promise<SwitchFrame> {
  const frameLayout = await structLayout(target, 'inactive_task_frame');
  let sp = threadSp;
  if (sp === undefined) {
    const offset = member(await structLayout(target, 'task_struct'), 'thread.sp').offset;
    sp = await read(task, () => readU64(target, task + BigInt(offset)), 'thread.sp');
  }
  if (!isKernelAddress(sp, 8n)) throw new SwitchFrameError(task, `thread.sp 0x${sp.toString(16)} is not a kernel stack address`);
  const frame = await read(task, () => readStruct(target, sp, frameLayout, [...SAVED.map(([m]) => m), 'ret_addr']), `inactive_task_frame at 0x${sp.toString(16)}`);
  const pc = frame.unsigned('ret_addr');
  if (!isKernelAddress(pc)) throw new SwitchFrameError(task, `ret_addr 0x${pc.toString(16)} is not kernel text`);
  const resumeSp = sp + BigInt(frameLayout.size);
  const registers = new Map<string, bigint>(SAVED.map(([m, r]) => [r, frame.unsigned(m)]));
  registers.set('rip', pc);
  registers.set('rsp', resumeSp);
  return { task, registers, pc, sp: resumeSp };
}

async function read<T>(task: bigint, run: () => Promise<T>, what: string): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof FaultError) throw new SwitchFrameError(task, `cannot read ${what}: ${e.message}`);
    throw e;
  }
}
