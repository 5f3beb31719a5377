/**
 * Threads as the user sees them: one per CPU, named by CPU (and the task it runs, once known),
 * then the connection's thread groups (kgdb's Tasks). The CPUs come from the target's list of
 * this stop (one `-thread-info` on QEMU), never one query per thread: that is what makes other
 * gdb front ends slow on kgdb. Where gdb's threads are the CPUs and nothing else (QEMU's vCPUs,
 * a dump's CPUs), they are the same at every stop: after the first stop the list is answered
 * without asking gdb.
 */
import type { GdbBackend } from '../gdb/backend';
import { threadInfo, type ThreadInfo } from '../gdb/mi/threads';
import type { ThreadGroup } from './connection';
import type { StopInfo } from './engine';
import type { CpuThread } from './kernel-views';

/** A thread of the UI: a CPU (its gdb thread), or a group (cpu −1). */
export interface UiThread {
  id: number;
  cpu: number;
  name: string;
  info: ThreadInfo;
}

/** QEMU names threads `CPU#1 [running]`; gdb numbers them 1.. in the same order. */
export function cpuOfThread(info: ThreadInfo, index: number): number {
  const m = /CPU#(\d+)/.exec(`${info.details ?? ''} ${info.targetId}`);
  if (m) return Number(m[1]);
  const shadow = /shadowCPU(\d+)/.exec(`${info.details ?? ''} ${info.name ?? ''}`);
  if (shadow) return Number(shadow[1]);
  return index;
}

/** Every gdb thread is a CPU (QEMU's vCPUs): one `-thread-info` per stop. */
export async function everyThreadIsACpu(gdb: GdbBackend): Promise<CpuThread[]> {
  const { threads } = await threadInfo(gdb);
  return threads.map((info, i) => ({ cpu: cpuOfThread(info, i), threadId: info.id, info }));
}

export class ThreadList {
  private cached: Promise<UiThread[]> | undefined;
  /** The CPUs as first read, where they cannot change (threads are CPUs only); without their frames. */
  private fixedCpus: CpuThread[] | undefined;
  /** Names learned from the kernel (current task per CPU), kept until the next resume. */
  private readonly taskNames = new Map<number, string>();

  /** `tasksAmongThreads`: gdb's threads are tasks as well as CPUs (`Capabilities.threads`). */
  constructor(
    private readonly cpus: () => Promise<CpuThread[]>,
    private readonly lastStop: () => StopInfo | undefined,
    private readonly groups: readonly ThreadGroup[],
    private readonly tasksAmongThreads: boolean,
    /** Threads listed after the CPUs with stacks of their own (tasks the user picked). */
    private readonly extra?: () => Promise<UiThread[]>,
  ) {}

  invalidate(): void {
    this.cached = undefined;
    this.taskNames.clear();
    for (const g of this.groups) g.invalidate();
  }

  /** The threads changed within the stop (a task was picked): list them again, keeping what was read. */
  relist(): void {
    this.cached = undefined;
  }

  setTaskName(cpu: number, name: string): void {
    this.taskNames.set(cpu, name);
  }

  async list(): Promise<UiThread[]> {
    this.cached ??= (async () => {
      const list: UiThread[] = (await this.cpusOfStop()).map((t) => ({ id: t.threadId, cpu: t.cpu, name: `CPU ${t.cpu}`, info: t.info }));
      if (this.tasksAmongThreads) this.showStoppedTask(list);
      if (this.extra) list.push(...(await this.extra()).filter((t) => !list.some((x) => x.id === t.id)));
      for (const g of this.groups) list.push({ id: g.id, cpu: -1, name: g.name, info: { id: g.id, targetId: g.name, state: 'stopped' } });
      return list;
    })();
    this.cached.catch(() => (this.cached = undefined));
    const list = await this.cached;
    return list.map((t) => (this.taskNames.has(t.cpu) ? { ...t, name: `CPU ${t.cpu} · ${this.taskNames.get(t.cpu)}` } : t));
  }

  /**
   * The CPUs for the list: read at this stop, or, where the CPUs are fixed, as first read (their
   * frames left out: those belong to the stop they were read at).
   */
  private async cpusOfStop(): Promise<CpuThread[]> {
    if (this.tasksAmongThreads) return this.cpus();
    if (this.fixedCpus) return this.fixedCpus;
    const cpus = await this.cpus();
    this.fixedCpus = cpus.map((t) => ({ ...t, info: { ...t.info, frame: undefined } }));
    return cpus;
  }

  /** A thread whose frames are a group's rows, not a gdb stack. */
  group(id: number): ThreadGroup | undefined {
    return this.groups.find((g) => g.id === id);
  }

  /** A vCPU whose pc is in the kernel's half of the address space, other than `not`. */
  async kernelThread(not?: number): Promise<number | undefined> {
    // The frames of this stop: the list may hold the CPUs as first read.
    const list = this.tasksAmongThreads ? await this.list() : (await this.cpus()).map((t) => ({ id: t.threadId, info: t.info }));
    return list.find((t) => t.id !== not && (t.info.frame?.address ?? 0n) >= 0xffff000000000000n)?.id;
  }

  async byId(id: number): Promise<UiThread | undefined> {
    return (await this.list()).find((t) => t.id === id);
  }

  /**
   * Where gdb's threads are tasks as well as CPUs (kgdb), the stop may name the task that entered
   * the debugger (its pid) rather than the CPU's thread; the two have the same registers. The
   * stopped event names the task's thread, so it stands in for its CPU's entry: the user sees
   * the stop on "CPU n".
   */
  private showStoppedTask(list: UiThread[]): void {
    const stop = this.lastStop();
    if (stop?.threadId === undefined || list.some((t) => t.id === stop.threadId)) return;
    const pc = stop.frame?.address;
    const cpu = pc === undefined ? undefined : list.find((t) => t.info.frame?.address === pc);
    if (cpu) {
      cpu.id = stop.threadId;
      return;
    }
    list.unshift({ id: stop.threadId, cpu: -1, name: 'Stopped task', info: { id: stop.threadId, targetId: `Thread ${stop.threadId}`, state: 'stopped', frame: stop.frame } });
  }
}
