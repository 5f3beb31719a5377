import type { BootFacts } from '../boot';
import { decompressorLandmarks } from './bzimage';

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
  serialConsole: 'console=ttyS0',
  nodeArch: 'x64',
  debianArch: 'amd64',
  pcRegister: 'rip',
  kaslr: {
    vectorBase: null,
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
    // arch/x86/boot/compressed/head_64.S (3.x to 6.x): startup_64 copies the decompressor to
    // the end of the buffer with `std; rep movsq; cld` (%rbx = the copy's startup_32), and
    // .Lrelocated ends with `movq %r15, %rsi; jmp *%rax` (%rax = the kernel's physical entry,
    // startup_64 = _text). sys_call_table holds absolute addresses the decompressor relocated.
    earlyStop: {
      kind: 'decompressor-exit',
      landmarks: (image) => decompressorLandmarks(image, { copy: 'fdf348a5fc', exit: '4c89feffe0', exitJump: 3 }),
      copyRegister: 'rbx',
      exitRegister: 'rax',
      pointer: 'sys_call_table',
    },
  },
};
