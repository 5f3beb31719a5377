/** x86_64: everything kdap knows that is particular to the architecture. */
import { bit, type ArchOps } from '../arch';
import { x86_64Boot } from './boot';
import { x86_64Memory } from './memory';
import { x86_64Paging } from './pagetable';
import { x86SystemRegisters } from './sysregs';

export const x86_64: ArchOps = {
  arch: 'x86_64',
  elfMachine: 62, // EM_X86_64
  // The x86 boot protocol's "HdrS" at 0x202 (Documentation/arch/x86/boot.rst).
  isBootImage: (h) => h.length >= 0x206 && String.fromCharCode(...h.subarray(0x202, 0x206)) === 'HdrS',
  gdb: { name: 'x86_64', architecture: 'i386:x86-64', crossGdbs: ['x86_64-linux-gnu-gdb'] },
  qemu: { program: 'qemu-system-x86_64', machine: 'q35', cpu: 'qemu64' },
  paging: x86_64Paging,
  memory: x86_64Memory,
  registers: {
    general: /^(r[a-d]x|r[sd]i|r[bs]p|r\d+|rip|eflags|[cdefgs]s|fs_base|gs_base|k_gs_base)$/,
    system: ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer'],
    fields: x86SystemRegisters,
    core: Array.from({ length: 18 }, (_, i) => i), // rax…r15, rip, eflags
  },
  cpuMode: {
    // CS.RPL is the CPL; CR0.PG says paging is on; EFLAGS.IF (bit 9) clear = interrupts off.
    registers: ['cs', 'eflags', 'cr0'],
    mode: (r) => {
      const cs = r.get('cs');
      const cr0 = r.get('cr0');
      if (cs === undefined || (cr0 !== undefined && !bit(cr0, 31))) return 'unknown';
      return (cs & 3n) === 0n ? 'kernel' : 'user';
    },
    irqsDisabled: (r) => {
      const eflags = r.get('eflags');
      return eflags === undefined ? undefined : !bit(eflags, 9);
    },
  },
  // CS.RPL 3 is user mode.
  ptRegs: { pc: 'ip', sp: 'sp', mode: 'cs', modeOf: (cs) => ((cs & 3n) === 3n ? 'user' : 'kernel'), handlers: /^(sysvec_\w+|exc_\w+|common_interrupt|spurious_interrupt|do_syscall_64|do_int80_syscall_32|do_(fast|SYSENTER)_syscall_32)$/ },
  entryStubs: /^(entry_SYSCALL_64(_after_hwframe)?|entry_INT80_compat|entry_SYSENTER_compat|asm_(exc|sysvec)_\w+|asm_common_interrupt|asm_spurious_interrupt|ret_from_fork|secondary_startup_64(_no_verify)?|start_cpu0|xen_\w+_entry)$/,
  kernelFloor: 0xff00000000000000n,
  exceptions: { panic: ['panic'], oops: ['__die', 'oops_enter'], warn: ['__warn'], bug: ['report_bug'], kasan: ['kasan_report'] },
  firstArgument: '$rdi',
  maxInstructionBytes: 16,
  patchableFunctionEntry: false,
  prelinkModules: false,
  // ≤ 6.1 and ≥ 6.15 per-CPU `__preempt_count`, 6.2 … 6.14 `pcpu_hot.preempt_count`.
  preemptCount: 'percpu',
  kgdb: { bufmax: 1024, maskedStep: null, bootBreakpointsStick: true },
  boot: x86_64Boot,
};
