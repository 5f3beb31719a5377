/** What a CPU runs, from its registers, by the arch's rule (`ArchOps.cpuMode`). */
import { archOps } from './arch';
import type { Target } from './target';

export type CpuMode = 'kernel' | 'user' | 'unknown';

/** Kernel or user mode; 'unknown' for a CPU with its MMU off (reset, firmware, not started). */
export async function cpuMode(target: Target, cpu: number): Promise<CpuMode> {
  const rule = archOps(target.arch).cpuMode;
  return rule.mode(await target.registers(cpu, rule.registers));
}

/** Interrupts masked on `cpu`; undefined when the target cannot say. */
export async function irqsDisabled(target: Target, cpu: number): Promise<boolean | undefined> {
  const rule = archOps(target.arch).cpuMode;
  return rule.irqsDisabled(await target.registers(cpu, rule.registers));
}
