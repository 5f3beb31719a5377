/**
 * Threads as the user sees them: one per vCPU, named by CPU. One `-thread-info` per stop,
 * never one query per thread (that is what makes other gdb front ends slow on kgdb).
 */
import type { GdbBackend } from '../gdb/backend';
import { threadInfo, ThreadInfo } from '../gdb/mi/threads';

export interface CpuThread {
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

export class ThreadCache {
  private cached: CpuThread[] | undefined;
  /** Names learned from the kernel (current task per CPU), kept until the next resume. */
  private readonly taskNames = new Map<number, string>();

  constructor(private readonly gdb: GdbBackend) {}

  invalidate(): void {
    this.cached = undefined;
    this.taskNames.clear();
  }

  setTaskName(cpu: number, name: string): void {
    this.taskNames.set(cpu, name);
    if (this.cached) for (const t of this.cached) if (t.cpu === cpu) t.name = `CPU ${cpu} · ${name}`;
  }

  async list(): Promise<CpuThread[]> {
    if (this.cached) return this.cached;
    const { threads } = await threadInfo(this.gdb);
    this.cached = threads.map((info, i) => {
      const cpu = cpuOfThread(info, i);
      const task = this.taskNames.get(cpu);
      return { id: info.id, cpu, name: task ? `CPU ${cpu} · ${task}` : `CPU ${cpu}`, info };
    });
    return this.cached;
  }

  /** A vCPU whose pc is in the kernel's half of the address space, other than `not`. */
  async kernelThread(not?: number): Promise<number | undefined> {
    const list = await this.list();
    return list.find((t) => t.id !== not && (t.info.frame?.address ?? 0n) >= 0xffff000000000000n)?.id;
  }

  async byId(id: number): Promise<CpuThread | undefined> {
    return (await this.list()).find((t) => t.id === id);
  }
}
