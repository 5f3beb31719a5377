/**
 * The registers gdb knows an AArch64 target by, in its order: `org.gnu.gdb.aarch64.core`
 * (x0-x30, sp, pc, cpsr) then the FP/SIMD registers. kgdb's `g` reply holds all of them
 * (arch/arm64/include/asm/kgdb.h, NUMREGBYTES).
 */
import type { GdbRegisterFeature, GdbRegisterSpec } from '../gdb-registers';

const numbered = (prefix: string, count: number, bits: number, type: string): GdbRegisterSpec[] =>
  Array.from({ length: count }, (_, i) => [`${prefix}${i}`, bits, type] as const);

export const arm64GdbRegisters: readonly GdbRegisterFeature[] = [
  {
    name: 'org.gnu.gdb.aarch64.core',
    registers: [...numbered('x', 31, 64, 'int'), ['sp', 64, 'data_ptr'], ['pc', 64, 'code_ptr'], ['cpsr', 32, 'int']],
  },
  { name: 'org.gnu.gdb.aarch64.fpu', registers: [...numbered('v', 32, 128, 'uint128'), ['fpsr', 32, 'int'], ['fpcr', 32, 'int']] },
];

export const arm64GdbArchitecture = 'aarch64';
