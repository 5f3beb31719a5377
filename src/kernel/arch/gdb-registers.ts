/** Shapes of the per-arch tables of the registers gdb knows a target by (x86_64/, arm64/). */

/** A register: gdb's name, its width in bits and its target-description type. */
export type GdbRegisterSpec = readonly [name: string, bits: number, type: string];

/** A target-description feature (`org.gnu.gdb.i386.core`) and its registers, in gdb's order. */
export interface GdbRegisterFeature {
  readonly name: string;
  readonly registers: readonly GdbRegisterSpec[];
}
