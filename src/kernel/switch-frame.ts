/**
 * A sleeping task's registers, as `switch_to()` left them: the callee-saved registers, stack
 * pointer and resume address the scheduler saved when it switched the task out. A debugger
 * unwinds a sleeping task from these (kgdb's sleeping_thread_to_gdb_regs(), drgn's
 * stack_trace(), crash's `bt`). A task that runs on a CPU has no such context: its registers
 * are that CPU's.
 *
 * The per-arch readers are in arch/<arch>/switch-frame.ts.
 */

export interface SwitchFrame {
  /** The task it belongs to (`struct task_struct *`). */
  readonly task: bigint;
  /** Register values by gdb's names; registers the context does not hold are absent. */
  readonly registers: ReadonlyMap<string, bigint>;
  /** Where the task resumes: inside __schedule() (or ret_from_fork for a task never run). */
  readonly pc: bigint;
  /** Its stack pointer at that point. */
  readonly sp: bigint;
}

/** The saved context cannot be read or makes no sense (a task exiting, or memory caught mid-update). */
export class SwitchFrameError extends Error {
  constructor(readonly task: bigint, why: string) {
    super(`task 0x${task.toString(16)}: no usable saved context: ${why}`);
    this.name = 'SwitchFrameError';
  }
}

/** A value that can be a kernel stack or text address: upper half, 8-byte aligned for stacks. */
export function isKernelAddress(value: bigint, align = 1n): boolean {
  return value >= 0xff00000000000000n && value % align === 0n;
}
