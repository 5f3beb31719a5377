import type { BootFacts } from '../boot';

const KiB = 1n << 10n;
const MiB = 1n << 20n;

/**
 * VA_BITS_MIN from the link address of `_text`: the image is linked at KIMAGE_VADDR =
 * MODULES_END, just above _PAGE_END(VA_BITS_MIN) = −2^(VA_BITS_MIN − 1).
 */
export function vaBitsMin(text: bigint): number {
  const below = BigInt.asUintN(64, ~text);
  return below.toString(2).length + 1;
}

export const arm64Boot: BootFacts = {
  arch: 'arm64',
  kbuildArch: 'arm64',
  images: ['arch/arm64/boot/Image', 'arch/arm64/boot/Image.gz'],
  kconfig: 'CONFIG_ARM64',
  serialConsole: 'console=ttyAMA0',
  nodeArch: 'arm64',
  debianArch: 'arm64',
  pcRegister: 'pc',
  kaslr: {
    // arch/arm64/kernel/pi/kaslr_early.c: BIT(VA_BITS_MIN − 3) + (seed & GENMASK(VA_BITS_MIN − 3, 0)),
    // 2 MiB aligned by head.S, which then adds the image's physical offset within 2 MiB
    // (0 when the boot loader follows booting.rst; a 64 KiB multiple when the EFI stub
    // placed the image with nokaslr).
    slides: (text) => {
      const v = BigInt(vaBitsMin(text));
      return { min: 1n << (v - 3n), max: (1n << (v - 3n)) + (1n << (v - 2n)), align: [2n * MiB, 64n * KiB] };
    },
    vectorBase: { register: 'VBAR_EL1', symbol: 'vectors' },
    // vabits_actual exists with VA_BITS=52 only; otherwise VA_BITS is VA_BITS_MIN.
    layoutVariables: ['kimage_voffset', 'memstart_addr', 'vabits_actual'],
    directMap: (v, text) => {
      const memstart = v.get('memstart_addr');
      if (memstart === undefined) return undefined;
      const vaBits = v.get('vabits_actual') ?? BigInt(vaBitsMin(text));
      // PAGE_OFFSET = −2^vabits; memstart_addr is an s64 (PHYS_OFFSET, randomized downwards).
      return { pageOffset: (1n << 64n) - (1n << vaBits), physOffset: BigInt.asIntN(64, memstart) };
    },
    tableOverrides: [{}],
    // head.S: `ldr x8, =__primary_switched; adrp x0, KERNEL_START; br x8` ends __primary_switch
    // (5.x and 6.x), run from the identity map after the kernel is mapped at its slide.
    earlyStop: {
      kind: 'entry-branch',
      function: '__primary_switch',
      instruction: 0xd61f0100, // br x8
      register: 'x8',
      target: '__primary_switched',
      imageAlign: 2n * MiB,
    },
  },
};
