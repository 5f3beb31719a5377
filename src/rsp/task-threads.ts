/**
 * Kernel tasks as gdb threads, for whatever serves gdb over RSP (the overlay in front of a live
 * stub, the server of a frozen kernel). It decides which tasks gdb sees, names them, and gives
 * a sleeping task's registers from its switch frame; a task that runs on a CPU is that CPU.
 *
 * Which tasks are threads is chosen, not implied: gdb re-reads the thread list at every stop and
 * a front end that lists threads with their frames (MI -thread-info) unwinds every one of them.
 * So by default no task is a thread; a front end exposes the tasks it shows (a selected task, a
 * filtered list), or all of them for a plain gdb (`monitor kdap tasks all`). The task list
 * itself is read once per stop and only when something asks for it.
 */
import { taskArchOps } from '../kernel/arch/task-ops';
import { findTaskByPid } from '../kernel/pid';
import { currentTasks } from '../kernel/sched';
import type { SwitchFrame } from '../kernel/switch-frame';
import { listTasks, TaskListError, type TaskEntry, type TaskWalkOptions } from '../kernel/tasks';
import type { Target } from '../kernel/target';
import { decodeTaskThreadId, taskThreadId } from './thread-id';

/** Which tasks are gdb threads: none, all, or those with these pids. */
export type TaskExposure = 'none' | 'all' | ReadonlySet<number>;

export interface TaskThread {
  /** The RSP thread id (taskThreadId()). */
  readonly id: number;
  readonly task: TaskEntry;
}

export class TaskThreads {
  exposure: TaskExposure;
  /** Why the last walk stopped early, when it did: its tasks are still served. */
  lastError: string | undefined;
  private list: Promise<TaskEntry[]> | undefined;
  private readonly frames = new Map<bigint, Promise<SwitchFrame>>();
  private readonly pids = new Map<number, Promise<{ task: bigint; onCpu: boolean } | undefined>>();
  private running: Promise<bigint[]> | undefined;

  constructor(
    private readonly target: Target,
    private readonly options: TaskWalkOptions & { exposure?: TaskExposure } = {},
  ) {
    this.exposure = options.exposure ?? 'none';
  }

  /** Forgets what was read: call when the target resumes. */
  invalidate(): void {
    this.list = undefined;
    this.frames.clear();
    this.pids.clear();
    this.running = undefined;
  }

  /** Every task at this stop, read once per stop. A broken list yields the tasks before the break. */
  tasks(): Promise<TaskEntry[]> {
    if (!this.list) {
      const run = listTasks(this.target, this.options).then(
        (tasks) => {
          this.lastError = undefined;
          return tasks;
        },
        (e: unknown) => {
          if (!(e instanceof TaskListError)) throw e;
          this.lastError = e.message;
          return [...e.tasks];
        },
      );
      run.catch(() => {
        if (this.list === run) this.list = undefined;
      });
      this.list = run;
    }
    return this.list;
  }

  /** The tasks that are threads now, in list order. Reads nothing while none are exposed. */
  async threads(): Promise<TaskThread[]> {
    const exposure = this.exposure;
    if (exposure === 'none') return [];
    const tasks = await this.tasks();
    // An exited task (a zombie not reaped yet) has no stack, so no registers: gdb could show it
    // only with every register unavailable, and front ends choke on a frame without a pc.
    return tasks.filter((t) => t.exitState === 0 && (exposure === 'all' || exposure.has(t.pid))).map((t) => ({ id: taskThreadId(t.pid, t.cpu), task: t }));
  }

  /** The task behind a task thread id, exposed or not; undefined when no such task lives now. */
  async find(id: number): Promise<TaskEntry | undefined> {
    const what = decodeTaskThreadId(id);
    if (!what) return undefined;
    const tasks = await this.tasks();
    if ('pid' in what) return tasks.find((t) => t.pid === what.pid);
    return tasks.find((t) => t.pid === 0 && t.cpu === what.idleCpu);
  }

  /** A sleeping task's registers, by gdb's names (read once per stop). */
  switchFrame(task: bigint): Promise<SwitchFrame> {
    let frame = this.frames.get(task);
    if (!frame) {
      frame = taskArchOps(this.target.arch).switchFrame(this.target, task);
      frame.catch(() => this.frames.delete(task));
      this.frames.set(task, frame);
    }
    return frame;
  }

  /**
   * The task with this pid and whether a CPU runs it, without listing every task: the pid's
   * xarray and the CPUs' `current`, a few reads where the list costs one per task (what a
   * serial line can afford). From the list when it was read anyway.
   */
  async byPid(pid: number): Promise<{ task: bigint; onCpu: boolean } | undefined> {
    if (this.list) {
      const t = (await this.list).find((x) => x.pid === pid);
      return t && { task: t.task, onCpu: t.onCpu };
    }
    let found = this.pids.get(pid);
    if (!found) {
      found = (async () => {
        const task = await findTaskByPid(this.target, pid);
        if (task === undefined) return undefined;
        this.running ??= currentTasks(this.target, await this.target.cpus());
        return { task, onCpu: (await this.running).includes(task) };
      })();
      found.catch(() => this.pids.delete(pid));
      this.pids.set(pid, found);
    }
    return found;
  }

  /** How gdb names the thread: `sh [95] S`, `kworker/0:1 [20] I`, `sh [96] R · on CPU 1`. */
  static describe(task: TaskEntry): string {
    const where = task.onCpu ? ` · on CPU ${task.cpu}` : '';
    return `${task.comm} [${task.pid}] ${task.state}${where}`;
  }
}

/**
 * `kdap tasks all|none|PID…` and `kdap ps` sent as `monitor …`: the answer text, or undefined
 * when the command is not kdap's (it then goes to the stub).
 */
export async function taskMonitorCommand(threads: TaskThreads, command: string): Promise<string | undefined> {
  const words = command.trim().split(/\s+/);
  if (words[0] !== 'kdap') return undefined;
  if (words[1] === 'tasks' && words.length >= 3) {
    const rest = words.slice(2);
    if (rest.length === 1 && (rest[0] === 'all' || rest[0] === 'none')) threads.exposure = rest[0];
    else if (rest.every((w) => /^\d+$/.test(w))) threads.exposure = new Set(rest.map(Number));
    else return `usage: monitor kdap tasks all|none|PID...\n`;
    const shown = await threads.threads();
    return `${shown.length} task thread${shown.length === 1 ? '' : 's'}\n`;
  }
  if (words[1] === 'ps' && words.length === 2) {
    const tasks = await threads.tasks();
    const lines = tasks.map((t) => `${String(t.pid).padStart(7)} ${String(t.tgid).padStart(7)} ${String(t.ppid).padStart(7)} ${t.state}${t.onCpu ? '*' : ' '} ${String(t.cpu ?? '-').padStart(3)} ${t.kernelThread ? 'k' : ' '} 0x${t.task.toString(16)} ${t.comm}`);
    const error = threads.lastError ? `warning: ${threads.lastError}\n` : '';
    return `${'PID'.padStart(7)} ${'TGID'.padStart(7)} ${'PPID'.padStart(7)} ST CPU   TASK               COMM\n${lines.join('\n')}\n${error}`;
  }
  return `unknown kdap command: ${command.trim()} (try: kdap ps, kdap tasks all|none|PID...)\n`;
}
