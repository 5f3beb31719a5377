/**
 * Guessing the architecture of a report. Registers say it outright; without them (a panic's
 * bare `dump_stack`) the entry/syscall functions at the bottom of the stack give it away.
 */
import type { Arch } from './types';

const SYMBOL_HINTS: Array<[RegExp, Arch]> = [
  [/^(?:el[01][th]_64_|__arm64_sys_|el0_svc|el1_|do_el0_|arm64_)/, 'arm64'],
  [/^(?:entry_SYSCALL_64|__x64_sys_|do_syscall_64|asm_exc_|asm_sysvec_|asm_common_interrupt|x64_sys_call)/, 'x86_64'],
  [/^(?:entry_INT80_32|do_int80_syscall_32|entry_SYSENTER_32|do_fast_syscall_32|__ia32_sys_)/, 'i386'],
  [/^(?:__riscv_sys_|do_trap_ecall_|handle_exception$|riscv_)/, 'riscv'],
  [/^(?:\.|system_call_exception|system_call_common|interrupt_return|decrementer_common)/, 'powerpc'],
  [/^(?:vector_swi|ret_fast_syscall|__irq_svc|__dabt_svc)$/, 'arm'],
];

export function archFromSymbol(symbol: string): Arch | undefined {
  for (const [re, arch] of SYMBOL_HINTS) if (re.test(symbol)) return arch;
  return undefined;
}

/**
 * `IP:` and `pc :` exist on several architectures; the width of the printed address settles
 * which one (old arm64 printed `pc : [<ffffff800808f8c8>]` like arm's `pc : [<c0123456>]`).
 */
export function archFromCodeLocation(arch: Arch | undefined, address: bigint | undefined): Arch | undefined {
  const wide = address !== undefined && address > 0xffffffffn;
  if (arch === undefined) {
    if (address === undefined) return 'arm64';
    return wide ? 'x86_64' : 'i386';
  }
  if (arch === 'arm' && wide) return 'arm64';
  return arch;
}
