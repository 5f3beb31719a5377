/**
 * What an architecture's kernel build and boot look like from outside: the image files a build
 * makes, the serial console QEMU's machine gives it, how its .config says which arch it is, and
 * where KASLR may put the image. Each arch fills one `BootFacts` in arch/<name>/boot.ts, which
 * its `ArchOps` carries as `boot`.
 */
import type { DirectMap } from '../memory-model';
import type { Arch } from '../target';
import type { PagingOverride } from './arch';
import { archOps } from './index';
import { ARCH_NAMES } from './names';

/** The values KASLR may choose for the image slide (runtime `_text` − link-time `_text`). */
export interface SlideRange {
  /**
   * Smallest slide of a randomized kernel (arm64: 2^(VA_BITS_MIN − 3)); below it only slide 0
   * and an image's physical misalignment, which a kernel booted with nokaslr keeps.
   */
  readonly min?: bigint;
  /** Largest slide the kernel can choose (inclusive). */
  readonly max: bigint;
  /** Granules the slide is a multiple of, most likely first (a later one is a finer fallback). */
  readonly align: readonly bigint[];
}

/**
 * How a booting randomized kernel can be stopped once its slide is decided (kaslr-boot.ts):
 *  - `every-slide`: break at every runtime address the stop function can have (~500 on x86_64:
 *    correct everywhere, but QEMU checks each breakpoint on every translation-block lookup, which
 *    makes the boot ~25 times slower);
 *  - `entry-branch`: break, by physical address, at the branch that leaves the identity map for
 *    the randomized kernel; `register` then holds the runtime address of `target`;
 *  - `decompressor-exit`: break in the x86 decompressor (found by two instruction sequences in
 *    the bzImage) where it jumps to the kernel it has just placed and relocated: the image's
 *    physical address is in `exitRegister`, and a pointer the relocation moved gives the slide.
 *    Falls back to `every-slide` when the sequences are not found.
 */
export type EarlyStopFacts =
  | { readonly kind: 'every-slide' }
  | {
      readonly kind: 'entry-branch';
      /** The function that ends with the branch, its last instruction. */
      readonly function: string;
      /** The branch's encoding, checked in memory before the breakpoint is trusted. */
      readonly instruction: number;
      readonly register: string;
      readonly target: string;
      /** The image's physical alignment as boot loaders place it (booting.rst: 2 MiB). */
      readonly imageAlign: bigint;
    }
  | {
      readonly kind: 'decompressor-exit';
      /** Where the decompressor's landmarks are, from the boot image's bytes; undefined when not found. */
      landmarks(image: Uint8Array): DecompressorLandmarks | undefined;
      /** At the copy landmark, this register holds the address the decompressor copies itself to. */
      readonly copyRegister: string;
      /** At the exit landmark, this register holds the kernel's physical entry (`_text`). */
      readonly exitRegister: string;
      /** A table of absolute pointers the decompressor relocates (its first two entries are read). */
      readonly pointer: string;
    };

/** Landmarks of a decompressor that carries no symbols, found by their bytes. */
export interface DecompressorLandmarks {
  /** Where the boot loader loads the decompressor (x86 code32_start). */
  readonly loadAddress: bigint;
  /** Offset from the load address of the instruction where it copies itself. */
  readonly copyOffset: bigint;
  /** Offset from the copy's base of the jump into the kernel. */
  readonly exitOffset: bigint;
}

export interface KaslrFacts {
  /**
   * The slides possible for a kernel linked with `_text` at `text` and `size` bytes from `_text`
   * to `_end`. Pure: the arm64 range follows from VA_BITS_MIN, which the link address gives.
   */
  slides(text: bigint, size: bigint): SlideRange;
  /**
   * A register that holds the runtime address of a kernel symbol early in boot (arm64
   * VBAR_EL1 → `vectors`), when the arch has one the gdbstub shows.
   */
  readonly vectorBase: { readonly register: string; readonly symbol: string } | null;
  /**
   * Kernel variables (u64) that describe the rest of the randomized layout once the image
   * slide is known, read at their link address + slide. Valid once setup_arch() has run.
   */
  readonly layoutVariables: readonly string[];
  /** The direct map those variables (by name) describe; `text` is the link `_text`. */
  directMap?(variables: ReadonlyMap<string, bigint>, text: bigint): DirectMap | undefined;
  /**
   * Paging configurations to read the kernel's tables with, in order (x86 with PTI: the
   * kernel PGD is the even page of CR3's pair when a CPU is in user space).
   */
  readonly tableOverrides: readonly PagingOverride[];
  readonly earlyStop: EarlyStopFacts;
}

export interface BootFacts {
  readonly arch: Arch;
  /** `ARCH=` of the kernel's make, the directory under arch/. */
  readonly kbuildArch: string;
  /** Images QEMU boots, relative to the build directory, preferred first. */
  readonly images: readonly string[];
  /** The Kconfig symbol a .config of this arch sets (`CONFIG_X86_64=y`). */
  readonly kconfig: string;
  /** Kernel command line for the serial console of the QEMU machine kdap starts. */
  readonly serialConsole: string;
  /** Node's `process.arch` of a host of this arch, whose own binaries fit the target. */
  readonly nodeArch: string;
  /** Debian's name of the arch, for packages (`busybox-static:arm64`). */
  readonly debianArch: string;
  /** The program counter as QEMU's gdbstub names it. */
  readonly pcRegister: string;
  readonly kaslr: KaslrFacts;
}

export function bootFacts(arch: Arch): BootFacts {
  return archOps(arch).boot;
}

export const allBootFacts: readonly BootFacts[] = ARCH_NAMES.map(bootFacts);
