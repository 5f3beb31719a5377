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
  /** The register holding the program counter, and the stack pointer, by gdb's names. */
  readonly pc: string;
  readonly sp: string;
}

const OPS: Readonly<Record<Arch, TaskArchOps>> = {
  x86_64: { switchFrame: (t, task) => x86_64SwitchFrame(t, task), switchFrameStructs: ['task_struct', 'inactive_task_frame'], gdbRegisters: x86_64GdbRegisters, gdbArchitecture: x86_64GdbArchitecture, pc: 'rip', sp: 'rsp' },
  arm64: { switchFrame: arm64SwitchFrame, switchFrameStructs: ['task_struct', 'cpu_context'], gdbRegisters: arm64GdbRegisters, gdbArchitecture: arm64GdbArchitecture, pc: 'pc', sp: 'sp' },
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
