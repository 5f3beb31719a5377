/**
 * The "Tasks" group of a kgdb session: every process the kernel has, read from kernel memory
 * only when the user opens the group, a page at a time.
 *
 * Why not gdb's threads: kgdb shows each task as a thread, and gdb fetches a thread's registers
 * to show it (`info threads`: one `Hg` + `g` per task, 6-13 s for 30 tasks on a serial line).
 * Here each task costs one read of its `task_struct` span from `tasks` to `comm` (a few
 * hundred bytes: one or two packets), and only the tasks on the requested page are read.
 */
import type { GdbBackend } from '../gdb/backend';
import { member, readStruct, structLayout, symbolAddress } from '../kernel/struct';
import type { Target } from '../kernel/target';
import type { ThreadGroup } from './connection';
import { gdbThreadIds } from './kgdb-target';

/** Thread id of the Tasks group in DAP; far above gdb's thread numbers. */
export const TASKS_THREAD_ID = 99_999;

interface TaskRow {
  /** `struct task_struct *` */
  address: bigint;
  pid: number;
  comm: string;
  /** ps-style state letter: R S D T t X Z I, or ? */
  state: string;
  /** `task->on_cpu`: it is running on a CPU right now (the CPU threads show it). */
  onCpu: boolean;
  /** `task_cpu()`: the CPU it runs or last ran on. */
  cpu?: number;
}

/** TASK_* bits of include/linux/sched.h (6.1) → the letter `ps` shows. */
function stateLetter(state: bigint, exitState = 0n): string {
  if (exitState & 0x10n) return 'X'; // EXIT_DEAD
  if (exitState & 0x20n) return 'Z'; // EXIT_ZOMBIE
  if (state === 0n) return 'R';
  if ((state & 0x402n) === 0x402n) return 'I'; // TASK_IDLE = UNINTERRUPTIBLE | NOLOAD
  if (state & 0x1n) return 'S';
  if (state & 0x2n) return 'D';
  if (state & 0x4n) return 'T';
  if (state & 0x8n) return 't';
  if (state & 0x80n) return 'X';
  return '?';
}

const MAX_TASKS = 9999;

/**
 * Walks `init_task.tasks` lazily and keeps what it read until invalidate() (each resume).
 * `for_each_process` order: init_task (pid 0) first.
 */
class TaskList {
  private rows: TaskRow[] = [];
  /** Address of the next task to read; undefined once the walk is back at init_task. */
  private next: bigint | undefined | null = null;
  private reading: Promise<void> = Promise.resolve();

  constructor(private readonly target: Target) {}

  invalidate(): void {
    this.rows = [];
    this.next = null;
    this.reading = Promise.resolve();
  }

  /** Rows `start` … `start + count - 1` (fewer at the end of the list). */
  async page(start: number, count: number): Promise<{ rows: TaskRow[]; complete: boolean }> {
    const want = Math.min(start + count, MAX_TASKS);
    const run = this.reading.then(() => this.readUntil(want));
    this.reading = run.catch(() => undefined);
    await run;
    return { rows: this.rows.slice(start, want), complete: this.next === undefined };
  }

  private async readUntil(count: number): Promise<void> {
    const t = this.target;
    const layout = await structLayout(t, 'task_struct');
    const stateMember = layout.members.has('__state') ? '__state' : 'state';
    const cpuMember = layout.members.has('cpu') ? 'cpu' : layout.members.has('thread_info.cpu') ? 'thread_info.cpu' : undefined;
    const members = ['tasks', 'pid', 'comm', stateMember, 'exit_state', 'on_cpu', ...(cpuMember ? [cpuMember] : [])];
    const tasksOffset = BigInt(member(layout, 'tasks').offset);
    const init = await symbolAddress(t, 'init_task');
    if (this.next === null) this.next = init;
    while (this.rows.length < count && this.next !== undefined) {
      const address = this.next;
      const v = await readStruct(t, address, layout, members);
      this.rows.push({
        address,
        pid: Number(v.signed('pid')),
        comm: v.string('comm'),
        state: stateLetter(v.unsigned(stateMember), v.unsigned('exit_state')),
        onCpu: v.unsigned('on_cpu') !== 0n,
        cpu: cpuMember ? Number(v.unsigned(cpuMember)) : undefined,
      });
      const following = v.firstWord('tasks') - tasksOffset;
      this.next = following === init ? undefined : following;
      if (this.rows.length >= MAX_TASKS) this.next = undefined;
    }
  }
}

/** How a task row reads in the call stack view: `sh [87] S · CPU 1`. */
function describeTask(row: TaskRow): string {
  const where = row.onCpu && row.cpu !== undefined ? ` · on CPU ${row.cpu}` : '';
  return `${row.comm} [${row.pid}] ${row.state}${where}`;
}

/** The Tasks group as a thread: its rows are the tasks, its size what gdb's thread list says. */
export class TasksGroup implements ThreadGroup {
  readonly id = TASKS_THREAD_ID;
  readonly name = 'Tasks';
  private readonly tasks: TaskList;

  constructor(target: Target, private readonly gdb: GdbBackend) {
    this.tasks = new TaskList(target);
  }

  async rows(start: number, count: number): Promise<{ labels: string[]; total: number | undefined }> {
    const { rows, complete } = await this.tasks.page(start, count);
    return { labels: rows.map(describeTask), total: complete ? start + rows.length : await this.taskCount() };
  }

  invalidate(): void {
    this.tasks.invalidate();
  }

  /** Tasks gdb knows (its thread list minus the CPUs), for the group's size before it is read. */
  private async taskCount(): Promise<number | undefined> {
    const ids = await gdbThreadIds(this.gdb);
    return ids ? ids.filter((t) => t.tid >= 0 && t.tid < 0x80000000).length : undefined;
  }
}
