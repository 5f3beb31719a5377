/**
 * The registers gdb knows an x86_64 target by, in its order: the general, segment and x87
 * registers of `org.gnu.gdb.i386.core` (gdb requires all 40 in a description), then SSE.
 * kgdb's `g` reply holds the first 22 of them (arch/x86/include/asm/kgdb.h, NUMREGBYTES).
 */
import type { GdbRegisterFeature, GdbRegisterSpec } from '../gdb-registers';

const gprs = (names: readonly string[], type = 'int64'): GdbRegisterSpec[] => names.map((n) => [n, 64, type] as const);
const numbered = (prefix: string, from: number, to: number, bits: number, type: string): GdbRegisterSpec[] =>
  Array.from({ length: to - from + 1 }, (_, i) => [`${prefix}${from + i}`, bits, type] as const);

export const x86_64GdbRegisters: readonly GdbRegisterFeature[] = [
  {
    name: 'org.gnu.gdb.i386.core',
    registers: [
      ...gprs(['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi']),
      ...gprs(['rbp', 'rsp'], 'data_ptr'),
      ...numbered('r', 8, 15, 64, 'int64'),
      ['rip', 64, 'code_ptr'],
      ['eflags', 32, 'int32'],
      ...['cs', 'ss', 'ds', 'es', 'fs', 'gs'].map((n) => [n, 32, 'int32'] as const),
      ...numbered('st', 0, 7, 80, 'i387_ext'),
      ...['fctrl', 'fstat', 'ftag', 'fiseg', 'fioff', 'foseg', 'fooff', 'fop'].map((n) => [n, 32, 'int'] as const),
    ],
  },
  { name: 'org.gnu.gdb.i386.sse', registers: [...numbered('xmm', 0, 15, 128, 'uint128'), ['mxcsr', 32, 'int']] },
];

/** gdb's name for the architecture (`set architecture`, `<architecture>` of a description). */
export const x86_64GdbArchitecture = 'i386:x86-64';
