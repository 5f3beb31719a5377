/** Tasks (include/linux/sched.h, include/linux/sched/signal.h): names, pids, the process list. */
import { member, readStruct, structLayout, symbolAddress, type StructView } from './struct';
import type { Target } from './target';

export interface TaskInfo {
  /** The `struct task_struct *`. */
  readonly address: bigint;
  /** `task->pid`: the thread id; 0 for a CPU's idle task (swapper/N). */
  readonly pid: number;
  /** `task->tgid`: the process id user space sees. */
  readonly tgid: number;
  /** `task->comm`: at most 15 characters of the executable's (or kthread's) name. */
  readonly comm: string;
  /** `task->mm`: 0 for kernel threads. */
  readonly mm: bigint;
  /** `task->stack`: base of the kernel stack (vmalloc'ed with VMAP_STACK). */
  readonly stack: bigint;
}

const TASK_MEMBERS = ['pid', 'tgid', 'comm', 'mm', 'stack'] as const;

function taskInfo(view: StructView): TaskInfo {
  return {
    address: view.address,
    pid: Number(view.signed('pid')),
    tgid: Number(view.signed('tgid')),
    comm: view.string('comm'),
    mm: view.unsigned('mm'),
    stack: view.unsigned('stack'),
  };
}

/**
 * pid, tgid, comm, mm and stack of one task in a single read. The span is most of the struct
 * (about 3 KB on 6.1: `stack` is near the top, `comm` near the end); reading it whole still
 * costs one round trip, where one read per member would cost five.
 */
export async function readTask(target: Target, task: bigint): Promise<TaskInfo> {
  return taskInfo(await readStruct(target, task, await structLayout(target, 'task_struct'), TASK_MEMBERS));
}

/** `task->comm` */
export async function taskComm(target: Target, task: bigint): Promise<string> {
  const view = await readStruct(target, task, await structLayout(target, 'task_struct'), ['comm']);
  return view.string('comm');
}

/** `task_pid_nr(task)`, i.e. `task->pid`. */
export async function taskPid(target: Target, task: bigint): Promise<number> {
  const view = await readStruct(target, task, await structLayout(target, 'task_struct'), ['pid']);
  return Number(view.signed('pid'));
}

/**
 * `for_each_process()`: init_task, then every thread-group leader on `init_task.tasks`.
 * Each step reads one span (`tasks` through `pid`), so a list of N processes costs N reads.
 * A list that loops without coming back to init_task (memory caught mid-update, or corrupt)
 * ends with a RangeError instead of spinning.
 */
export async function* forEachProcess(target: Target): AsyncGenerator<{ address: bigint; pid: number; tgid: number }> {
  const layout = await structLayout(target, 'task_struct');
  const init = await symbolAddress(target, 'init_task');
  const tasksOffset = BigInt(member(layout, 'tasks').offset);
  const seen = new Set<bigint>();
  for (let task = init; ; ) {
    seen.add(task);
    const view = await readStruct(target, task, layout, ['tasks', 'pid', 'tgid']);
    yield { address: task, pid: Number(view.signed('pid')), tgid: Number(view.signed('tgid')) };
    // tasks.next points at the next task's `tasks` member, not at the task.
    const next = BigInt.asUintN(64, view.firstWord('tasks') - tasksOffset);
    if (next === init) return;
    if (seen.has(next)) throw new RangeError(`init_task.tasks loops at task 0x${next.toString(16)} without coming back to init_task`);
    task = next;
  }
}

/** The process (thread-group leader) with this pid, as `find_task_by_vpid()` in the root namespace. */
export async function findProcess(target: Target, pid: number): Promise<bigint | undefined> {
  for await (const t of forEachProcess(target)) if (t.pid === pid) return t.address;
  return undefined;
}
