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
});

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

export function plantedKernel() {
  const image = new MemoryImage('x86_64', 2)
    .setLayout(taskLayout)
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
