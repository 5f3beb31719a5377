/**
 * `preempt_count()` of a CPU (include/linux/preempt.h): how deep it is in preempt-disabled,
 * softirq, hardirq and NMI sections. Where the counter lives depends on the arch and version:
 *
 *   x86_64 ≤ 6.1, ≥ 6.15   per-CPU `__preempt_count`
 *   x86_64 6.2 … 6.14      per-CPU `pcpu_hot.preempt_count`
 *   arm64                  `current->thread_info.preempt_count` (THREAD_INFO_IN_TASK)
 *
 * x86 keeps PREEMPT_NEED_RESCHED inverted in bit 31 of the same word; it is not part of the count.
 */
import { archOps } from './arch';
import { perCpu } from './percpu';
import { member, structLayout, unsignedAt } from './struct';
import type { Target } from './target';

const X86_PREEMPT_NEED_RESCHED = 0x80000000n;

export interface PreemptCount {
  /** preempt_count(): the count without x86's need-resched bit. */
  count: number;
  preempt: number;
  softirq: number;
  hardirq: number;
  nmi: number;
}

/** Splits a count by the masks of include/linux/preempt.h (8 preempt, 8 softirq, 4 hardirq, 4 NMI bits). */
export function splitPreemptCount(count: number): PreemptCount {
  return { count, preempt: count & 0xff, softirq: (count >>> 8) & 0xff, hardirq: (count >>> 16) & 0xf, nmi: (count >>> 20) & 0xf };
}

/** Reads CPU `cpu`'s count; `task` is the task it runs (arm64 keeps the count in it). */
export async function preemptCount(target: Target, cpu: number, task: bigint): Promise<PreemptCount> {
  if (archOps(target.arch).preemptCount === 'thread_info') {
    const ti = member(await structLayout(target, 'task_struct'), 'thread_info').offset;
    const pc = member(await structLayout(target, 'thread_info'), 'preempt_count');
    // The low word is the count; the high word is need_resched (preempt.need_resched).
    const bytes = await target.readVirtual(task + BigInt(ti + pc.offset), 4);
    return splitPreemptCount(Number(unsignedAt(bytes, 0, 4)));
  }
  let address: bigint;
  if ((await target.symbol('pcpu_hot')) !== undefined) {
    const hot = await structLayout(target, 'pcpu_hot');
    address = (await perCpu(target, 'pcpu_hot', cpu)) + BigInt(member(hot, 'preempt_count').offset);
  } else {
    address = await perCpu(target, '__preempt_count', cpu);
  }
  const raw = unsignedAt(await target.readVirtual(address, 4), 0, 4);
  return splitPreemptCount(Number(raw & ~X86_PREEMPT_NEED_RESCHED));
}
