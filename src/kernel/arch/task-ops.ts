/**
 * What the task layer needs of each architecture: how to read a sleeping task's saved
 * context, and the registers gdb knows the target by. These belong in `ArchOps` (arch.ts,
 * index.ts); until then this is the one place that lists them per arch.
 */
import { UnsupportedError, type Arch, type Target } from '../target';
import type { SwitchFrame } from '../switch-frame';
import { arm64GdbArchitecture, arm64GdbRegisters } from './arm64/gdb-registers';
import { arm64SwitchFrame } from './arm64/switch-frame';
import type { GdbRegisterFeature } from './gdb-registers';
import { x86_64GdbArchitecture, x86_64GdbRegisters } from './x86_64/gdb-registers';
import { x86_64SwitchFrame } from './x86_64/switch-frame';

export interface TaskArchOps {
  /** A sleeping task's registers from its saved context. */
  switchFrame(target: Target, task: bigint): Promise<SwitchFrame>;
  /** The structs switchFrame() reads by their DWARF layout. */
  readonly switchFrameStructs: readonly string[];
  /** The registers gdb knows this arch by, in its order, grouped as in a target description. */
  readonly gdbRegisters: readonly GdbRegisterFeature[];
  readonly gdbArchitecture: string;
  /**
   * The CPU runs the kernel with its MMU on, by its registers (gdb's or QEMU's names): only
   * then can kernel memory be read through it. Undefined when the registers do not tell.
   */
  kernelMode(registers: ReadonlyMap<string, bigint>): boolean | undefined;
  /** The register holding the program counter, and the stack pointer, by gdb's names. */
  readonly pc: string;
  readonly sp: string;
}

const bit = (v: bigint | undefined, n: number): boolean | undefined => (v === undefined ? undefined : ((v >> BigInt(n)) & 1n) === 1n);

// x86_64: CS.RPL is the privilege level; CR0.PG (when the stub shows CR0) that paging is on.
const x86_64KernelMode = (r: ReadonlyMap<string, bigint>): boolean | undefined => {
  const cs = r.get('cs');
  if (cs === undefined) return undefined;
  return (cs & 3n) === 0n && bit(r.get('cr0'), 31) !== false;
};
// arm64: PSTATE.EL is cpsr[3:2]; SCTLR_EL1.M (QEMU's `SCTLR`, when shown) that the MMU is on.
const arm64KernelMode = (r: ReadonlyMap<string, bigint>): boolean | undefined => {
  const cpsr = r.get('cpsr');
  if (cpsr === undefined) return undefined;
  return (cpsr & 0xcn) !== 0n && bit(r.get('SCTLR'), 0) !== false;
};

const OPS: Readonly<Record<Arch, TaskArchOps>> = {
  x86_64: { switchFrame: (t, task) => x86_64SwitchFrame(t, task), switchFrameStructs: ['task_struct', 'inactive_task_frame'], gdbRegisters: x86_64GdbRegisters, gdbArchitecture: x86_64GdbArchitecture, kernelMode: x86_64KernelMode, pc: 'rip', sp: 'rsp' },
  arm64: { switchFrame: arm64SwitchFrame, switchFrameStructs: ['task_struct', 'cpu_context'], gdbRegisters: arm64GdbRegisters, gdbArchitecture: arm64GdbArchitecture, kernelMode: arm64KernelMode, pc: 'pc', sp: 'sp' },
};

export function taskArchOps(arch: Arch): TaskArchOps {
  const ops = OPS[arch];
  if (!ops) throw new UnsupportedError(String(arch), 'tasks');
  return ops;
}

/** Looks up what switchFrame() will need, so a snapshot of the debug info holds it. */
export async function probeSwitchFrame(target: Target): Promise<void> {
  for (const name of taskArchOps(target.arch).switchFrameStructs) await target.layout(name);
}
