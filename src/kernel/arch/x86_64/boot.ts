import type { BootFacts } from '../boot';

const MiB = 1n << 20n;
const GiB = 1n << 30n;
/** LOAD_PHYSICAL_ADDR (CONFIG_PHYSICAL_START): where `_text` is linked above __START_KERNEL_map. */
const LOAD_PHYSICAL_ADDR = 16n * MiB;
/** KERNEL_IMAGE_SIZE with CONFIG_RANDOMIZE_BASE (arch/x86/include/asm/page_64_types.h). */
const KERNEL_IMAGE_SIZE = GiB;

export const x86_64Boot: BootFacts = {
  arch: 'x86_64',
  kbuildArch: 'x86',
  images: ['arch/x86/boot/bzImage'],
  kconfig: 'CONFIG_X86_64',
  elfMachine: 62,
  serialConsole: 'console=ttyS0',
  nodeArch: 'x64',
  debianArch: 'amd64',
  kaslr: {
    // arch/x86/boot/compressed/kaslr.c find_random_virt_addr(): a CONFIG_PHYSICAL_ALIGN slot
    // (2 MiB on x86_64, which requires a multiple of it) from LOAD_PHYSICAL_ADDR up to where
    // the image still fits below KERNEL_IMAGE_SIZE.
    slides: (_text, size) => ({ max: KERNEL_IMAGE_SIZE - LOAD_PHYSICAL_ADDR - size, align: [2n * MiB] }),
    layoutVariables: ['page_offset_base', 'vmalloc_base', 'vmemmap_base', 'phys_base'],
    directMap: (v) => {
      const pageOffset = v.get('page_offset_base');
      return pageOffset === undefined ? undefined : { pageOffset, physOffset: 0n };
    },
    tableOverrides: [{}, { pti: true }],
    // The slide is picked in the decompressor, which has no symbols, and the kernel runs at a
    // random physical address until it jumps to its randomized virtual one: only the ~500
    // possible virtual addresses of a function can be broken at.
    earlyStop: { kind: 'every-slide' },
  },
};
