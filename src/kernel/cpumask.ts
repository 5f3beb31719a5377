/** CPU masks (include/linux/cpumask.h): which CPUs the kernel has brought online. */
import type { Target } from './target';

/**
 * The CPUs set in `cpu_online_mask` among the first `count`, or undefined when the kernel has
 * no `__cpu_online_mask` (before v4.5 it was `cpu_online_bits`; neither is worth a failure).
 * Before smp_init() only the boot CPU is online, although QEMU shows every vCPU as a thread.
 */
export async function onlineCpus(target: Target, count: number): Promise<Set<number> | undefined> {
  const mask = (await target.symbol('__cpu_online_mask')) ?? (await target.symbol('cpu_online_bits'));
  if (mask === undefined) return undefined;
  // struct cpumask is an array of unsigned long: bit n of word n / 64.
  const words = Math.ceil(count / 64);
  const bytes = await target.readVirtual(mask, words * 8);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const online = new Set<number>();
  for (let cpu = 0; cpu < count; cpu++) {
    const word = view.getBigUint64(Math.floor(cpu / 64) * 8, true);
    if ((word >> BigInt(cpu % 64)) & 1n) online.add(cpu);
  }
  return online;
}
