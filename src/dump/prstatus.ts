/**
 * Per-CPU registers in a kernel dump: `struct elf_prstatus` (include/linux/elfcore.h) in each
 * `CORE`/NT_PRSTATUS note, with `pr_reg` the arch's user register set, and on x86 QEMU's own
 * `QEMU` note (`QEMUCPUState`, qemu target/i386/arch_dump.c) with the control registers and
 * segment bases a walk and `current` need. Register names are gdb's (QEMU's gdbstub), so
 * every consumer of `Target.registers` asks for the same names live and on a dump.
 */
import type { Arch } from '../kernel/target';
import { Fields } from './file';

/** `elf_prstatus` up to `pr_reg`: siginfo (12), cursig + pad (4), sigpend, sighold, 4 pids, 4 timevals. */
const PR_PID = 32;
const PR_REG = 112;

/** x86_64 `struct user_regs_struct` in order (arch/x86/include/asm/user_64.h). */
const X86_64_PR_REG = [
  'r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx', 'rsi', 'rdi',
  'orig_rax', 'rip', 'cs', 'eflags', 'rsp', 'ss', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs',
] as const;

/** arm64 `struct user_pt_regs`: regs[31], sp, pc, pstate (gdb calls pstate `cpsr`). */
const ARM64_PR_REG = [...Array.from({ length: 31 }, (_, i) => `x${i}`), 'sp', 'pc', 'cpsr'] as const;

const PR_REG_NAMES: Readonly<Record<Arch, readonly string[]>> = { x86_64: X86_64_PR_REG, arm64: ARM64_PR_REG };

/** Size of the whole `elf_prstatus`: pr_reg, then `int pr_fpvalid` padded to 8. */
export function prstatusSize(arch: Arch): number {
  return PR_REG + PR_REG_NAMES[arch].length * 8 + 8;
}

export interface PrStatus {
  /** `pr_pid`: the task on the CPU (kdump), or QEMU's CPU index + 1. */
  readonly pid: number;
  readonly registers: Map<string, bigint>;
}

/** Decodes an NT_PRSTATUS descriptor; undefined when its size is not this arch's. */
export function parsePrStatus(arch: Arch, desc: Uint8Array): PrStatus | undefined {
  if (desc.length !== prstatusSize(arch)) return undefined;
  const f = new Fields(desc);
  const registers = new Map<string, bigint>();
  PR_REG_NAMES[arch].forEach((name, i) => registers.set(name, f.u64(PR_REG + i * 8)));
  return { pid: f.i32(PR_PID), registers };
}

/** Encodes an NT_PRSTATUS descriptor, for synthetic dumps in tests. */
export function encodePrStatus(arch: Arch, pid: number, registers: ReadonlyMap<string, bigint>): Uint8Array {
  const out = new Uint8Array(prstatusSize(arch));
  const view = new DataView(out.buffer);
  view.setInt32(PR_PID, pid, true);
  PR_REG_NAMES[arch].forEach((name, i) => view.setBigUint64(PR_REG + i * 8, registers.get(name) ?? 0n, true));
  return out;
}

/** `QEMUCPUState`: version, size, 18 GPRs, 10 segments of 24 bytes, cr[5], kernel_gs_base. */
const QEMU_GPRS = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'eflags'] as const;
const QEMU_SEGMENTS = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'ldt', 'tr', 'gdt', 'idt'] as const;
const QEMU_SEGMENT_AT = 8 + QEMU_GPRS.length * 8;
const QEMU_SEGMENT_SIZE = 24;
const QEMU_CR_AT = QEMU_SEGMENT_AT + QEMU_SEGMENTS.length * QEMU_SEGMENT_SIZE;
const QEMU_KERNEL_GS_BASE_AT = QEMU_CR_AT + 5 * 8;
export const QEMU_CPU_STATE_SIZE = QEMU_KERNEL_GS_BASE_AT + 8;

/**
 * The registers of an x86 `QEMU` note, named as the gdbstub names them: the GPRs, `cr0`…`cr4`,
 * `fs_base`/`gs_base` (the segment bases) and `k_gs_base` when QEMU saved it, plus `idt_base`
 * and `gdt_base` (no gdbstub register: the IDT's base tells the KASLR offset).
 */
export function parseQemuCpuState(desc: Uint8Array): Map<string, bigint> | undefined {
  if (desc.length < QEMU_KERNEL_GS_BASE_AT) return undefined;
  const f = new Fields(desc);
  const size = f.u32(4);
  const out = new Map<string, bigint>();
  QEMU_GPRS.forEach((name, i) => out.set(name, f.u64(8 + i * 8)));
  QEMU_SEGMENTS.forEach((name, i) => {
    const at = QEMU_SEGMENT_AT + i * QEMU_SEGMENT_SIZE;
    if (i < 6) out.set(name, BigInt(f.u32(at)));
    // fs_base/gs_base as the gdbstub names them; the descriptor tables' bases for KASLR.
    if (name === 'fs' || name === 'gs' || name === 'idt' || name === 'gdt') out.set(`${name}_base`, f.u64(at + 16));
  });
  for (let i = 0; i < 5; i++) if (i !== 1) out.set(`cr${i}`, f.u64(QEMU_CR_AT + i * 8));
  if (size >= QEMU_CPU_STATE_SIZE && desc.length >= QEMU_CPU_STATE_SIZE) out.set('k_gs_base', f.u64(QEMU_KERNEL_GS_BASE_AT));
  return out;
}

/** Encodes a `QEMUCPUState`, for synthetic dumps in tests. */
export function encodeQemuCpuState(registers: ReadonlyMap<string, bigint>): Uint8Array {
  const out = new Uint8Array(QEMU_CPU_STATE_SIZE);
  const view = new DataView(out.buffer);
  view.setUint32(0, 1, true);
  view.setUint32(4, QEMU_CPU_STATE_SIZE, true);
  QEMU_GPRS.forEach((name, i) => view.setBigUint64(8 + i * 8, registers.get(name) ?? 0n, true));
  QEMU_SEGMENTS.forEach((name, i) => {
    const at = QEMU_SEGMENT_AT + i * QEMU_SEGMENT_SIZE;
    view.setUint32(at, Number(registers.get(name) ?? 0n), true);
    view.setBigUint64(at + 16, registers.get(`${name}_base`) ?? 0n, true);
  });
  for (let i = 0; i < 5; i++) view.setBigUint64(QEMU_CR_AT + i * 8, registers.get(`cr${i}`) ?? 0n, true);
  view.setBigUint64(QEMU_KERNEL_GS_BASE_AT, registers.get('k_gs_base') ?? 0n, true);
  return out;
}
