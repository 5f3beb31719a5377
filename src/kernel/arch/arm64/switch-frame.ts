/**
 * arm64: cpu_switch_to() (arch/arm64/kernel/entry.S) stores x19-x28, fp, sp and lr in
 * `task->thread.cpu_context` (struct cpu_context: x19 … x28, fp, sp, pc) and the task resumes
 * with a `ret` to that lr, inside __switch_to(). So pc = lr = cpu_context.pc.
 *
 * With pointer authentication in the kernel the saved lr is the plain address: cpu_switch_to()
 * is a leaf and signs nothing; the signed return addresses are further up, on the stack, where
 * the unwinder strips them.
 */
import { member, readStruct, structLayout } from '../../struct';
import { isKernelAddress, SwitchFrameError, type SwitchFrame } from '../../switch-frame';
import { FaultError, type Target } from '../../target';

/** cpu_context member → gdb register. */
const SAVED: ReadonlyArray<readonly [member: string, register: string]> = [
  ...Array.from({ length: 10 }, (_, i) => [`x${19 + i}`, `x${19 + i}`] as const),
  ['fp', 'x29'],
  ['sp', 'sp'],
];

/** The registers `task` resumes with: one read of `thread.cpu_context` (104 bytes on 6.1). */
export async function arm64SwitchFrame(target: Target, task: bigint): Promise<SwitchFrame> {
  const contextLayout = await structLayout(target, 'cpu_context');
  const offset = BigInt(member(await structLayout(target, 'task_struct'), 'thread.cpu_context').offset);
  let context;
  try {
    context = await readStruct(target, task + offset, contextLayout, [...SAVED.map(([m]) => m), 'pc']);
  } catch (e) {
    if (e instanceof FaultError) throw new SwitchFrameError(task, `cannot read thread.cpu_context: ${e.message}`);
    throw e;
  }
  const pc = context.unsigned('pc');
  const sp = context.unsigned('sp');
  if (!isKernelAddress(sp, 16n)) throw new SwitchFrameError(task, `cpu_context.sp 0x${sp.toString(16)} is not a kernel stack address`);
  if (!isKernelAddress(pc)) throw new SwitchFrameError(task, `cpu_context.pc 0x${pc.toString(16)} is not kernel text`);
  const registers = new Map<string, bigint>(SAVED.map(([m, r]) => [r, context.unsigned(m)]));
  registers.set('x30', pc);
  registers.set('pc', pc);
  return { task, registers, pc, sp };
}
