/** arm64: everything kdap knows that is particular to the architecture. */
import { bit, type ArchOps } from '../arch';
import { arm64Boot } from './boot';
import { arm64Memory } from './memory';
import { arm64Paging } from './pagetable';
import { arm64SystemRegisters } from './sysregs';

/** The arm64 Image header's magic "ARM\x64" at 0x38 (Documentation/arch/arm64/booting.rst). */
const IMAGE_MAGIC = [0x41, 0x52, 0x4d, 0x64];

export const arm64: ArchOps = {
  arch: 'arm64',
  elfMachine: 183, // EM_AARCH64
  isBootImage: (h) => h.length >= 0x3c && IMAGE_MAGIC.every((b, i) => h[0x38 + i] === b),
  gdb: { name: 'arm64', architecture: 'aarch64', crossGdbs: ['aarch64-linux-gnu-gdb', 'aarch64-none-linux-gnu-gdb'] },
  // cortex-a57: no pointer authentication, so return addresses on the stack are plain.
  qemu: { program: 'qemu-system-aarch64', machine: 'virt', cpu: 'cortex-a57' },
  paging: arm64Paging,
  memory: arm64Memory,
  registers: {
    general: /^(x\d+|sp|pc|cpsr)$/,
    system: ['cpsr', 'SP_EL0', 'TTBR0_EL1', 'TTBR1_EL1', 'TCR_EL1', 'MAIR_EL1', 'SCTLR', 'ESR_EL1', 'FAR_EL1', 'ELR_EL1', 'SPSR_EL1', 'TPIDR_EL1', 'VBAR'],
    fields: arm64SystemRegisters,
    core: Array.from({ length: 34 }, (_, i) => i), // x0…x30, sp, pc, cpsr
  },
  cpuMode: {
    // PSTATE.EL is cpsr[3:2]; SCTLR_EL1.M (bit 0, QEMU name SCTLR) says the MMU is on; PSTATE.I is bit 7.
    registers: ['cpsr', 'SCTLR'],
    mode: (r) => {
      const cpsr = r.get('cpsr');
      const sctlr = r.get('SCTLR');
      if (cpsr === undefined || (sctlr !== undefined && !bit(sctlr, 0))) return 'unknown';
      return (cpsr & 0xcn) !== 0n ? 'kernel' : 'user';
    },
    irqsDisabled: (r) => {
      const cpsr = r.get('cpsr');
      return cpsr === undefined ? undefined : bit(cpsr, 7);
    },
  },
  // PSTATE.M[3:2], the EL: 0 is EL0.
  ptRegs: { pc: 'pc', sp: 'sp', mode: 'pstate', modeOf: (pstate) => (((pstate >> 2n) & 3n) === 0n ? 'user' : 'kernel'), handlers: /^el[01][th]_(64|32)_(sync|irq|fiq|error)_handler$/ },
  entryStubs: /^(el[01][th]_(64|32)_(sync|irq|fiq|error)|ret_from_fork|__primary_switched|__secondary_switched|secondary_startup|call_on_irq_stack)$/,
  kernelFloor: 0xfff0000000000000n,
  exceptions: { panic: ['panic'], oops: ['die', 'oops_enter'], warn: ['__warn'], bug: ['bug_handler', 'report_bug'], kasan: ['kasan_report'] },
  firstArgument: '$x0',
  maxInstructionBytes: 4,
  patchableFunctionEntry: true,
  prelinkModules: true,
  // THREAD_INFO_IN_TASK: `current->thread_info.preempt_count`.
  preemptCount: 'thread_info',
  // arm64 kgdb steps with PSTATE.I and F clear: the pending timer IRQ would take the step.
  kgdb: { bufmax: 2048, maskedStep: { register: 'cpsr', mask: 0xc0n }, bootBreakpointsStick: false },
  boot: arm64Boot,
};
