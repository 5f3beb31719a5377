/**
 * Every task of the kernel, as `ps` would list them (include/linux/sched/signal.h
 * for_each_process_thread(), fs/proc/array.c): each process on `init_task.tasks`, each of its
 * threads on `signal->thread_head`, and the CPUs' idle tasks, which no list holds.
 *
 * Cost: one read per task (the span of task_struct the row needs, or a few clusters of it when
 * reads are dear, as over a serial line), plus 2 + 2·CPUs reads for `current` and the idle tasks.
 * The walk is bounded, remembers every task it saw and checks each pointer before following
 * it, so a list caught mid-update or corrupted ends with a TaskListError that holds the tasks
 * read so far, never with a hang.
 */
import { currentTasks, idleTasks, probeSched } from './sched';
import { member, readStruct, StructView, structLayout, symbolAddress } from './struct';
import { taskStateLetter, type TaskStateLetter } from './task-state';
import { FaultError, type StructLayout, type Target } from './target';

/** One row of the task list. */
export interface TaskEntry {
  /** The `struct task_struct *`. */
  readonly task: bigint;
  /** `task->pid`: the thread id; 0 for the idle tasks (swapper/N). */
  readonly pid: number;
  /** `task->tgid`: the process id. */
  readonly tgid: number;
  /** `task->real_parent->tgid`, as /proc/<pid>/stat shows it (0 for init and kthreadd). */
  readonly ppid: number;
  readonly comm: string;
  /** The letter of /proc/<pid>/stat: R S D T t X Z P I. */
  readonly state: TaskStateLetter;
  /** `task_cpu(task)`: where it runs or last ran; undefined when the kernel does not record it. */
  readonly cpu: number | undefined;
  /** It is some CPU's `current` at this stop: its registers are that CPU's. */
  readonly onCpu: boolean;
  /** `PF_KTHREAD` */
  readonly kernelThread: boolean;
  /** `task->__state` and `->exit_state` as read, for callers that need more than the letter. */
  readonly stateBits: number;
  readonly exitState: number;
}

/** The walk stopped early; `tasks` holds every task read before that. */
export class TaskListError extends Error {
  constructor(message: string, readonly tasks: readonly TaskEntry[]) {
    super(message);
    this.name = 'TaskListError';
  }
}

export interface TaskWalkOptions {
  /**
   * Members closer than this many bytes are read together. Default: everything a row needs in
   * one read (cheap over a gdbstub, where a read costs a round trip whatever its size); over a
   * serial line, where every byte costs, ~64 reads a few small clusters instead.
   */
  mergeGap?: number;
  /** Give up after this many tasks (PID_MAX_LIMIT by default): the list must be looping. */
  limit?: number;
  /** List the idle tasks of CPUs other than 0 (default true). */
  idle?: boolean;
  /**
   * The most one read returns (a stub's packet, in bytes), asked at each walk. Given, a task's
   * members share a read only where that saves one, and the bytes between are not read: where
   * reads go out back to back, bytes are what is left to save. Takes the place of `mergeGap`.
   */
  readSize?: () => number;
}

const PF_KTHREAD = 0x00200000;
const PID_MAX_LIMIT = 4 * 1024 * 1024;

/** How this kernel keeps what the walk reads, probed once per target (newest layout first). */
export interface TaskWalkPlan {
  readonly layout: StructLayout;
  readonly init: bigint;
  /** `__state` (v5.14, "sched: Change task_struct::state") or `state` before. */
  readonly stateMember: string;
  /**
   * `thread_info.cpu` (THREAD_INFO_IN_TASK since v5.16, "sched: move CPU field back into
   * thread_info if THREAD_INFO_IN_TASK"), `cpu` (v4.9 to v5.15), or none.
   */
  readonly cpuMember: string | undefined;
  /**
   * Threads: `thread_node` on `signal->thread_head` (v3.14, and the only list since v6.7 removed
   * `thread_group`), else the older `thread_group` ring.
   */
  readonly threads: { kind: 'thread_node'; headOffset: bigint } | { kind: 'thread_group' };
  readonly members: readonly string[];
}

const plans = new WeakMap<Target, Promise<TaskWalkPlan>>();

async function probePlan(target: Target): Promise<TaskWalkPlan> {
  const layout = await structLayout(target, 'task_struct');
  const init = await symbolAddress(target, 'init_task');
  const has = (m: string) => layout.members.has(m);
  const stateMember = has('__state') ? '__state' : 'state';
  const cpuMember = has('thread_info.cpu') ? 'thread_info.cpu' : has('cpu') ? 'cpu' : undefined;
  let threads: TaskWalkPlan['threads'];
  const signal = has('thread_node') ? await target.layout('signal_struct') : undefined;
  const head = signal?.members.get('thread_head');
  if (head) threads = { kind: 'thread_node', headOffset: BigInt(head.offset) };
  else threads = { kind: 'thread_group' };
  const members = ['tasks.next', 'pid', 'tgid', 'comm', stateMember, 'exit_state', 'flags', 'real_parent', ...(cpuMember ? [cpuMember] : [])];
  members.push(...(threads.kind === 'thread_node' ? ['signal', 'thread_node.next', 'thread_node.prev'] : ['thread_group.next']));
  for (const m of members) member(layout, m);
  return { layout, init, stateMember, cpuMember, threads, members };
}

export function taskWalkPlan(target: Target): Promise<TaskWalkPlan> {
  let plan = plans.get(target);
  if (!plan) {
    plan = probePlan(target);
    plan.catch(() => plans.delete(target));
    plans.set(target, plan);
  }
  return plan;
}

/** Every symbol and layout the task list needs, looked up (for a snapshot of the debug info). */
export async function probeTasks(target: Target): Promise<void> {
  await taskWalkPlan(target);
  await probeSched(target);
}

interface RawTask {
  task: bigint;
  pid: number;
  tgid: number;
  comm: string;
  stateBits: number;
  exitState: number;
  flags: number;
  cpu: number | undefined;
  realParent: bigint;
  /** Next process on init_task.tasks (a task address). */
  nextProcess: bigint;
  /** thread_node.next / .prev or thread_group.next, as list-node addresses. */
  threadNext: bigint;
  threadPrev: bigint;
  signal: bigint;
}

/** The task list of this stop. */
export async function listTasks(target: Target, options: TaskWalkOptions = {}): Promise<TaskEntry[]> {
  const plan = await taskWalkPlan(target);
  const cpus = await target.cpus();
  const running = new Map<bigint, number>();
  (await currentTasks(target, cpus)).forEach((task, cpu) => running.set(task, cpu));
  const raws: RawTask[] = [];
  const parentTgids = new Map<bigint, number>();
  const finish = (): TaskEntry[] => entries(raws, running, parentTgids);
  try {
    await walk(target, plan, options, raws, cpus);
  } catch (e) {
    if (e instanceof TaskListError) throw new TaskListError(e.message, finish());
    throw e;
  }
  const listed = new Set(raws.map((r) => r.task));
  for (const parent of new Set(raws.map((r) => r.realParent).filter((p) => p !== 0n && !listed.has(p)))) {
    // A parent off the list (exiting right now): one read of its tgid.
    try {
      parentTgids.set(parent, Number((await readStruct(target, parent, plan.layout, ['tgid'])).signed('tgid')));
    } catch (e) {
      if (!(e instanceof FaultError)) throw e;
    }
  }
  return finish();
}

function entries(raws: readonly RawTask[], running: ReadonlyMap<bigint, number>, parentTgids: ReadonlyMap<bigint, number>): TaskEntry[] {
  const tgidOf = new Map(raws.map((r) => [r.task, r.tgid]));
  return raws.map((r) => ({
    task: r.task,
    pid: r.pid,
    tgid: r.tgid,
    ppid: r.pid === 0 ? 0 : tgidOf.get(r.realParent) ?? parentTgids.get(r.realParent) ?? 0,
    comm: r.comm,
    state: taskStateLetter(r.stateBits, r.exitState),
    cpu: running.get(r.task) ?? r.cpu,
    onCpu: running.has(r.task),
    kernelThread: (r.flags & PF_KTHREAD) !== 0,
    stateBits: r.stateBits,
    exitState: r.exitState,
  }));
}

async function walk(target: Target, plan: TaskWalkPlan, options: TaskWalkOptions, out: RawTask[], cpus: number): Promise<void> {
  const limit = options.limit ?? PID_MAX_LIMIT;
  const seen = new Set<bigint>();
  const tasksOffset = BigInt(member(plan.layout, 'tasks').offset);
  const nodeOffset = BigInt(member(plan.layout, plan.threads.kind).offset);
  const read = async (task: bigint, from: string): Promise<RawTask> => {
    if (seen.has(task)) throw new TaskListError(`the task list loops: ${from} leads back to task 0x${task.toString(16)}`, []);
    if (seen.size >= limit) throw new TaskListError(`more than ${limit} tasks: the task list must loop (last at ${from})`, []);
    if (!isTaskPointer(task)) throw new TaskListError(`${from} leads to 0x${task.toString(16)}, which is no task_struct address`, []);
    seen.add(task);
    let raw: RawTask;
    try {
      raw = decode(task, await readMembers(target, task, plan.layout, plan.members, options.mergeGap, options.readSize?.()), plan, tasksOffset);
    } catch (e) {
      if (e instanceof FaultError) throw new TaskListError(`cannot read task 0x${task.toString(16)} (reached from ${from}): ${e.message}`, []);
      throw e;
    }
    out.push(raw);
    return raw;
  };

  let process = await read(plan.init, 'init_task');
  if (options.idle ?? true) {
    const idle = await idleTasks(target, cpus);
    for (const [cpu, task] of idle.entries()) if (task !== plan.init && !seen.has(task)) await read(task, `cpu_rq(${cpu})->idle`);
  }
  for (;;) {
    await threadsOf(process, plan, nodeOffset, read);
    const next = process.nextProcess;
    if (next === plan.init) return;
    process = await read(next, `the tasks list after pid ${process.pid} (${process.comm})`);
  }
}

/**
 * The other threads of `leader`'s group. With thread_node the ring also holds the list head
 * inside signal_struct, and the leader is not always first on it (de_thread() swaps leaders),
 * so the ring is walked both ways from the leader to the head.
 */
async function threadsOf(leader: RawTask, plan: TaskWalkPlan, nodeOffset: bigint, read: (task: bigint, from: string) => Promise<RawTask>): Promise<void> {
  const from = (t: RawTask) => `the thread list of pid ${t.pid} (${t.comm})`;
  if (plan.threads.kind === 'thread_group') {
    const leaderNode = leader.task + nodeOffset;
    for (let t = leader; t.threadNext !== leaderNode; ) t = await read(t.threadNext - nodeOffset, from(t));
    return;
  }
  const head = leader.signal + plan.threads.headOffset;
  for (let t = leader; t.threadNext !== head; ) t = await read(t.threadNext - nodeOffset, from(t));
  for (let t = leader; t.threadPrev !== head; ) t = await read(t.threadPrev - nodeOffset, from(t));
}

function decode(task: bigint, v: StructView, plan: TaskWalkPlan, tasksOffset: bigint): RawTask {
  const node = plan.threads.kind;
  return {
    task,
    pid: Number(v.signed('pid')),
    tgid: Number(v.signed('tgid')),
    comm: v.string('comm'),
    stateBits: Number(BigInt.asUintN(32, v.unsigned(plan.stateMember))),
    exitState: Number(v.unsigned('exit_state')),
    flags: Number(v.unsigned('flags')),
    cpu: plan.cpuMember ? Number(v.unsigned(plan.cpuMember)) : undefined,
    realParent: v.unsigned('real_parent'),
    nextProcess: BigInt.asUintN(64, v.unsigned('tasks.next') - tasksOffset),
    threadNext: v.unsigned(`${node}.next`),
    threadPrev: node === 'thread_node' ? v.unsigned('thread_node.prev') : 0n,
    signal: node === 'thread_node' ? v.unsigned('signal') : 0n,
  };
}

/** A plausible task_struct address: kernel half, 8-byte aligned. */
function isTaskPointer(address: bigint): boolean {
  return address >= 0xff00000000000000n && address % 8n === 0n;
}

/**
 * The members of the struct at `address`, read in as few reads as `mergeGap` allows: members
 * closer than that share one read; or, with `readSize` (bytes one read returns), members share
 * a read where that takes fewer reads than apart. Bytes between clusters are never read and
 * stay zero; only the named members may be taken from the view.
 */
export async function readMembers(target: Target, address: bigint, layout: StructLayout, members: readonly string[], mergeGap = Infinity, readSize?: number): Promise<StructView> {
  const ranges = members.map((name) => member(layout, name)).map((m) => [m.offset, m.offset + m.size] as const).sort((a, b) => a[0] - b[0]);
  const reads = (bytes: number) => Math.ceil(bytes / readSize!);
  const together = (last: [number, number], start: number, end: number) =>
    readSize ? reads(Math.max(last[1], end) - last[0]) < reads(last[1] - last[0]) + reads(end - start) : start - last[1] <= mergeGap;
  const clusters: Array<[number, number]> = [];
  for (const [start, end] of ranges) {
    const last = clusters[clusters.length - 1];
    if (last && together(last, start, end)) last[1] = Math.max(last[1], end);
    else clusters.push([start, end]);
  }
  const base = clusters[0][0];
  const bytes = new Uint8Array(clusters[clusters.length - 1][1] - base);
  // Asked for together: a target that sends reads side by side answers them in one round trip.
  const parts = await Promise.all(clusters.map(([start, end]) => target.readVirtual(address + BigInt(start), end - start)));
  clusters.forEach(([start], i) => bytes.set(parts[i], start - base));
  return new StructView(address, layout, bytes, base);
}
