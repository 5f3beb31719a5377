/**
 * The one seam between kernel knowledge and whatever holds the kernel's memory.
 *
 * Every helper in src/kernel takes a Target and nothing else. Implementations:
 * a live one over gdb (QEMU gdbstub or kgdb) and in-memory images for unit tests.
 * Addresses are bigint end to end: kernel addresses do not fit a JS number.
 */
import type { Arch } from './arch/names';

export type { Arch };

export interface MemberLayout {
  /** Byte offset of the member inside the struct. */
  offset: number;
  /** Size of the member in bytes. */
  size: number;
  /** The member's C type as gdb prints it, e.g. `struct list_head`. */
  type: string;
  /**
   * A bitfield only: its first bit counted from the least significant bit of the byte at
   * `offset` (both arches are little-endian), and its width. `offset` and `size` are then the
   * byte holding that bit and the declared type's size, as `ptype/o` prints them.
   */
  bitOffset?: number;
  bitSize?: number;
}

export interface StructLayout {
  name: string;
  size: number;
  members: ReadonlyMap<string, MemberLayout>;
}

export interface Target {
  readonly arch: Arch;
  /** Reads `length` bytes at a kernel virtual address. Throws FaultError when unmapped. */
  readVirtual(address: bigint, length: number): Promise<Uint8Array>;
  /** Reads `length` bytes of guest-physical memory. Throws FaultError when outside RAM. */
  readPhysical(address: bigint, length: number): Promise<Uint8Array>;
  /** Register values of one CPU (0-based); a register the target cannot give is absent. */
  registers(cpu: number, names: readonly string[]): Promise<Map<string, bigint>>;
  /** Address of a symbol, or undefined if the kernel has none of that name. */
  symbol(name: string): Promise<bigint | undefined>;
  /** Struct layout from DWARF, or undefined if the kernel has no such struct. */
  layout(structName: string): Promise<StructLayout | undefined>;
  /** Number of CPUs the target exposes (vCPUs under QEMU). */
  cpus(): Promise<number>;
}

/** What a Target reads from the kernel's memory and CPUs. */
export type TargetMemory = Pick<Target, 'readVirtual' | 'readPhysical' | 'registers' | 'cpus'>;
/** What a Target knows from the kernel's debug info. */
export type TargetDebugInfo = Pick<Target, 'symbol' | 'layout'>;

/**
 * One Target from two sources: memory and CPUs from one (a dump's pages, a stub read past gdb),
 * symbols and layouts from another (gdb's DWARF, a recorded snapshot, the vmlinux's table).
 */
export function joinTarget(arch: Arch, memory: TargetMemory, debugInfo: TargetDebugInfo): Target {
  return {
    arch,
    readVirtual: (a, n) => memory.readVirtual(a, n),
    readPhysical: (a, n) => memory.readPhysical(a, n),
    registers: (cpu, names) => memory.registers(cpu, names),
    cpus: () => memory.cpus(),
    symbol: (name) => debugInfo.symbol(name),
    layout: (name) => debugInfo.layout(name),
  };
}

/** A read the target refused: unmapped, outside RAM, or the line dropped mid-read. */
export class FaultError extends Error {
  constructor(readonly address: bigint, readonly length: number, why?: string) {
    super(`cannot read ${length} bytes at 0x${address.toString(16)}${why ? `: ${why}` : ''}`);
    this.name = 'FaultError';
  }
}

/** A feature that this architecture (or this kernel) does not provide. */
export class UnsupportedError extends Error {
  constructor(readonly arch: string, readonly feature: string) {
    super(`${feature} is not supported on ${arch}`);
    this.name = 'UnsupportedError';
  }
}
