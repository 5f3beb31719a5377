/**
 * A planted kernel with tasks for the task-list and switch-frame tests: task_struct at its
 * 6.1 x86_64 offsets (written by hand, from `ptype/o struct task_struct` of the fixture's
 * vmlinux), two CPUs with per-CPU areas, current_task and runqueues.
 */
import { MemoryImage } from '../../../src/kernel/memory-image';
import { layout, window } from './planted';

export const TASK = {
  cpu: 0x14,
  state: 0x18,
  stack: 0x20,
  flags: 0x2c,
  tasks: 0x890,
  exitState: 0x904,
  pid: 0x970,
  tgid: 0x974,
  realParent: 0x980,
  threadNode: 0xa30,
  comm: 0xba0,
  signal: 0xc00,
  threadSp: 0x14d8,
} as const;

export const taskLayout = layout('task_struct', 9728, {
  thread_info: [0, 24, 'struct thread_info'],
  'thread_info.cpu': [TASK.cpu, 4, 'u32'],
  __state: [TASK.state, 4, 'unsigned int'],
  stack: [TASK.stack, 8, 'void *'],
  flags: [TASK.flags, 4, 'unsigned int'],
  on_cpu: [0x34, 4, 'int'],
  tasks: [TASK.tasks, 16, 'struct list_head'],
  'tasks.next': [TASK.tasks, 8, 'struct list_head *'],
  'tasks.prev': [TASK.tasks + 8, 8, 'struct list_head *'],
  exit_state: [TASK.exitState, 4, 'int'],
  pid: [TASK.pid, 4, 'pid_t'],
  tgid: [TASK.tgid, 4, 'pid_t'],
  real_parent: [TASK.realParent, 8, 'struct task_struct *'],
  thread_group: [0xa20, 16, 'struct list_head'],
  'thread_group.next': [0xa20, 8, 'struct list_head *'],
  thread_node: [TASK.threadNode, 16, 'struct list_head'],
  'thread_node.next': [TASK.threadNode, 8, 'struct list_head *'],
  'thread_node.prev': [TASK.threadNode + 8, 8, 'struct list_head *'],
  comm: [TASK.comm, 16, 'char [16]'],
  signal: [TASK.signal, 8, 'struct signal_struct *'],
  thread: [0x14c0, 0x100, 'struct thread_struct'],
  'thread.sp': [TASK.threadSp, 8, 'unsigned long'],
  // arm64's thread_struct starts with cpu_context (not at this offset in a real arm64 kernel,
  // but the walk and the frame readers only go by the layout).
  'thread.cpu_context': [0x14c0, 104, 'struct cpu_context'],
});

const frameLayout = layout('inactive_task_frame', 56, { r15: [0, 8], r14: [8, 8], r13: [16, 8], r12: [24, 8], bx: [32, 8], bp: [40, 8], ret_addr: [48, 8] });
const cpuContextLayout = layout('cpu_context', 104, {
  ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`x${19 + i}`, [i * 8, 8] as const])),
  fp: [80, 8],
  sp: [88, 8],
  pc: [96, 8],
});
export const STACKS = 0xffffc90000000000n;

const THREAD_HEAD = 0x10;
const signalLayout = layout('signal_struct', 1024, { thread_head: [THREAD_HEAD, 16, 'struct list_head'] });
const rqLayout = layout('rq', 3328, { curr: [2720, 8, 'struct task_struct *'], idle: [2728, 8, 'struct task_struct *'] });

export const INIT = 0xffffffff82a1aa40n;
export const SLAB = 0xffff888005600000n;
const PER_CPU_TABLE = 0xffffffff8239cb60n;
const PER_CPU = [0xffff88801f400000n, 0xffff88801f500000n];
const CURRENT_TASK = 0x1fbc0n;
const RUNQUEUES = 0x31980n;

export const PF_KTHREAD = 0x00200000;

export interface PlantedTask {
  pid: number;
  tgid?: number;
  comm: string;
  state?: number;
  exitState?: number;
  flags?: number;
  cpu?: number;
  parent: bigint;
  /** Next process on init_task.tasks (task address). */
  next: bigint;
  /** thread_node neighbours as task addresses, or 'head' for the group's signal_struct. */
  threadNext?: bigint | 'head';
  threadPrev?: bigint | 'head';
  /** The signal_struct of its thread group. */
  signal: bigint;
  threadSp?: bigint;
}

/** `count` slab slots of one task each, 0x4000 apart. */
export function slot(n: number): bigint {
  return SLAB + BigInt(n) * 0x4000n;
}

/** A signal_struct for thread group n, in its own slab region. */
export function signalOf(n: number): bigint {
  return SLAB + 0x100000n + BigInt(n) * 0x400n;
}

export function plantedKernel(arch: 'x86_64' | 'arm64' = 'x86_64') {
  const image = new MemoryImage(arch, 2)
    .setLayout(taskLayout)
    .setLayout(frameLayout)
    .setLayout(cpuContextLayout)
    .setLayout(signalLayout)
    .setLayout(rqLayout)
    .setSymbol('init_task', INIT)
    .setSymbol('__per_cpu_offset', PER_CPU_TABLE)
    .setSymbol('current_task', CURRENT_TASK)
    .setSymbol('runqueues', RUNQUEUES);
  const text = window(image, INIT & ~0xfffn, 0x2a1a000n, 0x4000n);
  const table = window(image, PER_CPU_TABLE, 0x239cb60n, 0x100n);
  PER_CPU.forEach((o, cpu) => table.int(PER_CPU_TABLE + BigInt(cpu) * 8n, o));
  const area = window(image, PER_CPU[0], 0x1f400000n, 0x200000n);
  const slab = window(image, SLAB, 0x5600000n, 0x200000n);
  const stacks = window(image, STACKS, 0x6000000n, 0x100000n);
  const at = (addr: bigint) => (addr >= SLAB && addr < SLAB + 0x200000n ? slab : text);

  return {
    image,
    slab,
    plant(task: bigint, t: PlantedTask): void {
      const w = at(task);
      const head = t.signal + BigInt(THREAD_HEAD);
      const node = (x: bigint | 'head' | undefined) => (x === undefined || x === 'head' ? head : x + BigInt(TASK.threadNode));
      w.int(task + BigInt(TASK.cpu), t.cpu ?? 0, 4);
      w.int(task + BigInt(TASK.state), t.state ?? 0, 4);
      w.int(task + BigInt(TASK.flags), t.flags ?? 0, 4);
      w.int(task + BigInt(TASK.tasks), t.next + BigInt(TASK.tasks));
      w.int(task + BigInt(TASK.exitState), t.exitState ?? 0, 4);
      w.int(task + BigInt(TASK.pid), t.pid, 4);
      w.int(task + BigInt(TASK.tgid), t.tgid ?? t.pid, 4);
      w.int(task + BigInt(TASK.realParent), t.parent);
      w.int(task + BigInt(TASK.threadNode), node(t.threadNext));
      w.int(task + BigInt(TASK.threadNode) + 8n, node(t.threadPrev));
      w.text(task + BigInt(TASK.comm), t.comm, 16);
      w.int(task + BigInt(TASK.signal), t.signal);
      if (t.threadSp !== undefined) w.int(task + BigInt(TASK.threadSp), t.threadSp);
    },
    /**
     * A saved switch context for `task`, whose stack is the n-th 16 KiB of the stacks window:
     * x86_64 an inactive_task_frame (r15…bp, ret_addr) at thread.sp, arm64 cpu_context.
     * Register values are derived from n so that every task's differ.
     */
    sleep(task: bigint, n: number, pc: bigint): { sp: bigint; fp: bigint } {
      const sp = STACKS + BigInt(n) * 0x4000n + 0x3e00n;
      const fp = sp + 0x100n;
      const w = at(task);
      if (arch === 'x86_64') {
        w.int(task + BigInt(TASK.threadSp), sp);
        [0x15n, 0x14n, 0x13n, 0x12n, 0xb0n + BigInt(n), fp, pc].forEach((v, i) => stacks.int(sp + BigInt(i) * 8n, v));
        return { sp: sp + 56n, fp };
      }
      const ctx = task + 0x14c0n;
      for (let i = 0; i < 10; i++) w.int(ctx + BigInt(i) * 8n, 0x1900n + BigInt(n) * 0x10n + BigInt(i));
      w.int(ctx + 80n, fp);
      w.int(ctx + 88n, sp);
      w.int(ctx + 96n, pc);
      return { sp, fp };
    },
    /** signal->thread_head of a group: its first and last thread. */
    group(signal: bigint, first: bigint, last: bigint): void {
      slab.int(signal + BigInt(THREAD_HEAD), first + BigInt(TASK.threadNode));
      slab.int(signal + BigInt(THREAD_HEAD) + 8n, last + BigInt(TASK.threadNode));
    },
    /** CPU n's current task and idle task. */
    cpu(n: number, current: bigint, idle: bigint): void {
      area.int(PER_CPU[n] + CURRENT_TASK, current);
      area.int(PER_CPU[n] + RUNQUEUES + 2728n, idle);
      area.int(PER_CPU[n] + RUNQUEUES + 2720n, current);
    },
  };
}

/**
 * swapper/0 (init_task) and swapper/1 idle on CPU 1; processes init (1), kthreadd (2), a kworker
 * in TASK_IDLE (20), a kthread in D (30), sh (95) running on CPU 0, app (100) with threads 101
 * and 102 where 101 comes before the leader on thread_head, a zombie (110), a stopped task (120).
 */
export function populated(arch: 'x86_64' | 'arm64' = 'x86_64') {
  const k = plantedKernel(arch);
  const [idle1, init, kthreadd, kworker, dsleep, sh, app, app101, app102, zombie, stopped] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(slot);
  const order = [INIT, init, kthreadd, kworker, dsleep, sh, app, zombie, stopped];
  const nextOf = (t: bigint) => order[(order.indexOf(t) + 1) % order.length];
  const single = (task: bigint, n: number, f: { pid: number; comm: string; state?: number; exitState?: number; flags?: number; cpu?: number; parent: bigint }) => {
    k.plant(task, { ...f, next: nextOf(task), signal: signalOf(n), threadNext: 'head', threadPrev: 'head' });
    k.group(signalOf(n), task, task);
  };
  single(INIT, 0, { pid: 0, comm: 'swapper/0', flags: PF_KTHREAD, parent: INIT });
  k.plant(idle1, { pid: 0, comm: 'swapper/1', flags: PF_KTHREAD, cpu: 1, parent: INIT, next: INIT, signal: signalOf(99), threadNext: 'head', threadPrev: 'head' });
  single(init, 1, { pid: 1, comm: 'init', state: 0x1, parent: INIT, cpu: 1 });
  single(kthreadd, 2, { pid: 2, comm: 'kthreadd', state: 0x1, flags: PF_KTHREAD, parent: INIT });
  single(kworker, 3, { pid: 20, comm: 'kworker/0:1', state: 0x402, flags: PF_KTHREAD, parent: kthreadd });
  single(dsleep, 4, { pid: 30, comm: 'kdap_dsleep', state: 0x2, flags: PF_KTHREAD, parent: kthreadd, cpu: 1 });
  single(sh, 5, { pid: 95, comm: 'sh', state: 0, parent: init, cpu: 1 });
  // thread_head → 101 → 100 → 102 → thread_head: the leader is not first (after de_thread()).
  k.plant(app, { pid: 100, comm: 'app', state: 0x1, parent: sh, next: zombie, signal: signalOf(6), threadNext: app102, threadPrev: app101 });
  k.plant(app101, { pid: 101, tgid: 100, comm: 'app-io', state: 0x2, parent: sh, next: 0n, signal: signalOf(6), threadNext: app, threadPrev: 'head' });
  k.plant(app102, { pid: 102, tgid: 100, comm: 'app-timer', state: 0x1, parent: sh, next: 0n, signal: signalOf(6), threadNext: 'head', threadPrev: app });
  k.group(signalOf(6), app101, app102);
  single(zombie, 9, { pid: 110, comm: 'defunct', state: 0x80, exitState: 0x20, parent: sh });
  single(stopped, 10, { pid: 120, comm: 'stopped', state: 0x104, parent: sh });
  k.cpu(0, sh, INIT);
  k.cpu(1, idle1, idle1);
  const text = arch === 'x86_64' ? 0xffffffff81e00000n : 0xffff800008e00000n;
  const sleepers = [INIT, init, kthreadd, kworker, dsleep, app, app101, app102, stopped];
  const frames = new Map(sleepers.map((t, n) => [t, { ...k.sleep(t, n, text + BigInt(n) * 0x10n), pc: text + BigInt(n) * 0x10n }]));
  return {
    frames, ...k, idle1, init, kthreadd, kworker, dsleep, sh, app, app101, app102, zombie, stopped };
}

