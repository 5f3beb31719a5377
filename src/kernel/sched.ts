/**
 * Runqueues and the task each CPU runs (kernel/sched/sched.h, arch/x86/include/asm/current.h,
 * arch/arm64/kernel/process.c).
 */
import { perCpu, perCpuOffsets } from './percpu';
import { member, readStruct, readU64, structLayout, symbolAddress } from './struct';
import type { Target } from './target';

/** `cpu_rq(cpu)`: CPU `cpu`'s `struct rq`. */
export async function cpuRq(target: Target, cpu: number): Promise<bigint> {
  return perCpu(target, 'runqueues', cpu);
}

export interface RqInfo {
  /** `cpu_rq(cpu)` */
  readonly address: bigint;
  /** `rq->curr`: the `struct task_struct *` the scheduler last switched to. */
  readonly curr: bigint;
  /** `rq->nr_running`: runnable tasks on this CPU, the running one included. */
  readonly nrRunning: number;
}

/** `cpu_rq(cpu)->curr` and `->nr_running`, read together. */
export async function readRq(target: Target, cpu: number): Promise<RqInfo> {
  const address = await cpuRq(target, cpu);
  const rq = await readStruct(target, address, await structLayout(target, 'rq'), ['curr', 'nr_running']);
  return { address, curr: rq.unsigned('curr'), nrRunning: Number(rq.unsigned('nr_running')) };
}

/** `cpu_curr(cpu)`, i.e. `cpu_rq(cpu)->curr`. */
export async function cpuCurr(target: Target, cpu: number): Promise<bigint> {
  return (await readRq(target, cpu)).curr;
}

/**
 * Where `current` lives, newest kernels first. Probed once per target: the vmlinux does not
 * change under a session, and a failed symbol lookup costs a gdb round trip.
 */
type CurrentSource =
  /** x86_64 v6.2 to v6.14: `pcpu_hot.current_task` ("x86: Put hot per CPU variables into a struct"). */
  | { kind: 'member'; variable: string; offset: number }
  /**
   * A per-CPU `struct task_struct *`: x86_64 `current_task` before v6.2 and again from v6.15
   * (which dropped pcpu_hot); arm64 `__entry_task`,
   * written by __switch_to() and, unlike SP_EL0, still the task while the CPU runs at EL0.
   */
  | { kind: 'pointer'; variable: string }
  /** Any kernel: the scheduler's view, which leads `current` by a few instructions in __schedule(). */
  | { kind: 'rq' };

const sources = new WeakMap<Target, Promise<CurrentSource>>();

async function probeCurrent(target: Target): Promise<CurrentSource> {
  if ((await target.symbol('pcpu_hot')) !== undefined) {
    const hot = await target.layout('pcpu_hot');
    const m = hot?.members.get('current_task');
    if (m) return { kind: 'member', variable: 'pcpu_hot', offset: m.offset };
  }
  for (const variable of ['current_task', '__entry_task']) {
    if ((await target.symbol(variable)) !== undefined) return { kind: 'pointer', variable };
  }
  return { kind: 'rq' };
}

function currentSource(target: Target): Promise<CurrentSource> {
  let source = sources.get(target);
  if (!source) {
    source = probeCurrent(target);
    // A failed probe (gdb gone mid-way) must not stick to the target.
    source.catch(() => sources.delete(target));
    sources.set(target, source);
  }
  return source;
}

/**
 * The task CPU `cpu` is running: `current` as that CPU sees it, read from memory so it works
 * whatever mode the CPU is in (arm64's SP_EL0 holds `current` only at EL1).
 */
export async function currentTask(target: Target, cpu: number): Promise<bigint> {
  const source = await currentSource(target);
  switch (source.kind) {
    case 'member':
      return readU64(target, (await perCpu(target, source.variable, cpu)) + BigInt(source.offset));
    case 'pointer':
      return readU64(target, await perCpu(target, source.variable, cpu));
    case 'rq':
      return cpuCurr(target, cpu);
  }
}

/** Where currentTask() reads from on this kernel, for messages and tests. */
export async function currentTaskSource(target: Target): Promise<string> {
  const s = await currentSource(target);
  return s.kind === 'member' ? `${s.variable}.current_task` : s.kind === 'pointer' ? s.variable : 'runqueues.curr';
}

/** Offset of `rq->curr`, for callers that locate it in their own reads. */
export async function rqCurrOffset(target: Target): Promise<number> {
  return member(await structLayout(target, 'rq'), 'curr').offset;
}

/**
 * `current` of CPUs 0 … count-1 in count + 1 reads (the per-CPU offsets in one, then one
 * pointer per CPU, asked for together), where currentTask() per CPU costs two each.
 */
export async function currentTasks(target: Target, count: number): Promise<bigint[]> {
  const source = await currentSource(target);
  if (source.kind === 'rq') return Promise.all(Array.from({ length: count }, (_, cpu) => cpuCurr(target, cpu)));
  const key = await symbolAddress(target, source.variable);
  const extra = source.kind === 'member' ? BigInt(source.offset) : 0n;
  const offsets = await perCpuOffsets(target, count);
  return Promise.all(offsets.map((offset) => readU64(target, BigInt.asUintN(64, key + offset) + extra)));
}

/** `cpu_rq(cpu)->idle` for CPUs 0 … count-1: the idle tasks, which no process list holds. */
export async function idleTasks(target: Target, count: number): Promise<bigint[]> {
  const key = await symbolAddress(target, 'runqueues');
  const layout = await structLayout(target, 'rq');
  const offsets = await perCpuOffsets(target, count);
  return Promise.all(offsets.map(async (offset) => (await readStruct(target, BigInt.asUintN(64, key + offset), layout, ['idle'])).unsigned('idle')));
}

/** Looks up what currentTasks() and idleTasks() will need, so a snapshot of the debug info holds it. */
export async function probeSched(target: Target): Promise<void> {
  await currentSource(target);
  await target.symbol('__per_cpu_offset');
  await target.symbol('runqueues');
  await target.layout('rq');
}
