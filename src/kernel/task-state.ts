/**
 * The state letter `ps` and /proc/<pid>/stat show for a task (fs/proc/array.c task_state_array,
 * include/linux/sched.h __task_state_index()).
 *
 * The bits are the kernel's since v4.14 ("sched/debug: Add explicit TASK_IDLE printing"), which
 * made TASK_REPORT what it is: TASK_IDLE reads as I, TASK_PARKED as P, and exit_state's
 * EXIT_ZOMBIE / EXIT_DEAD as Z / X. They are #defines, absent from the debug info, so they are
 * written here.
 */

export type TaskStateLetter = 'R' | 'S' | 'D' | 'T' | 't' | 'X' | 'Z' | 'P' | 'I';

/** task_state_array[], indexed by fls() of the reported state. */
const LETTERS: readonly TaskStateLetter[] = ['R', 'S', 'D', 'T', 't', 'X', 'Z', 'P', 'I'];

const TASK_UNINTERRUPTIBLE = 0x2;
/** TASK_RUNNING | INTERRUPTIBLE | UNINTERRUPTIBLE | __TASK_STOPPED | __TASK_TRACED | EXIT_DEAD | EXIT_ZOMBIE | TASK_PARKED */
const TASK_REPORT = 0x7f;
const TASK_NOLOAD = 0x400;
const TASK_IDLE = TASK_UNINTERRUPTIBLE | TASK_NOLOAD;
const TASK_REPORT_IDLE = TASK_REPORT + 1;
/** A sleeping rtlock (PREEMPT_RT spinlock) shows as an ordinary D. */
const TASK_RTLOCK_WAIT = 0x1000;

/** `task->__state` (or `->state` before v5.14) and `task->exit_state` → the letter. */
export function taskStateLetter(state: number, exitState: number): TaskStateLetter {
  let reported = (state | exitState) & TASK_REPORT;
  if ((state & TASK_IDLE) === TASK_IDLE) reported = TASK_REPORT_IDLE;
  if (state === TASK_RTLOCK_WAIT) reported = TASK_UNINTERRUPTIBLE;
  return LETTERS[fls(reported)];
}

/** Sleeping in the scheduler, with a saved switch context (as opposed to runnable or gone). */
export function isSleeping(letter: TaskStateLetter): boolean {
  return letter === 'S' || letter === 'D' || letter === 'I' || letter === 'P' || letter === 'T' || letter === 't';
}

/** Index of the highest set bit, counting from 1; 0 for 0 (the kernel's fls()). */
function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}
