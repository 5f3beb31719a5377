/**
 * Per-CPU variables (include/linux/percpu-defs.h, mm/percpu.c).
 *
 * A per-CPU symbol's address is only a key: CPU n's copy lives at that address plus
 * `__per_cpu_offset[n]`. On x86_64 (KALLSYMS_ABSOLUTE_PERCPU) the keys are small numbers from 0
 * (`&runqueues` = 0x31980), on arm64 they are addresses inside the per-CPU section; the sum is
 * a kernel virtual address either way. A module's per-CPU variables work the same, with the key
 * that /proc/kallsyms shows for them.
 */
import { readU64, symbolAddress } from './struct';
import type { Target } from './target';

/**
 * `__per_cpu_offset[cpu]`. A kernel built without SMP has no such array and a single copy of
 * every per-CPU variable, at offset 0.
 */
export async function perCpuOffset(target: Target, cpu: number): Promise<bigint> {
  const table = await target.symbol('__per_cpu_offset');
  if (table === undefined) return 0n;
  return readU64(target, table + BigInt(cpu) * 8n);
}

/** `__per_cpu_offset[0 … count-1]` in one read: the CPU view needs them all on every stop. */
export async function perCpuOffsets(target: Target, count: number): Promise<bigint[]> {
  const table = await target.symbol('__per_cpu_offset');
  if (table === undefined) return Array.from({ length: count }, () => 0n);
  const bytes = await target.readVirtual(table, count * 8);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: count }, (_, cpu) => view.getBigUint64(cpu * 8, true));
}

/** `per_cpu_ptr(ptr, cpu)`: CPU `cpu`'s copy of the per-CPU object whose key is `ptr`. */
export async function perCpuPtr(target: Target, ptr: bigint, cpu: number): Promise<bigint> {
  return BigInt.asUintN(64, ptr + (await perCpuOffset(target, cpu)));
}

/** `&per_cpu(name, cpu)` for a per-CPU variable of the kernel. */
export async function perCpu(target: Target, name: string, cpu: number): Promise<bigint> {
  return perCpuPtr(target, await symbolAddress(target, name), cpu);
}
