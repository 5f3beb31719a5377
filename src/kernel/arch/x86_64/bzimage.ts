/**
 * The x86 boot protocol's bzImage (Documentation/arch/x86/boot.rst): where the boot loader puts
 * the protected-mode part (the decompressor) and where instruction sequences of its
 * arch/x86/boot/compressed/head_64.S sit in it. The decompressor carries no symbols, so its
 * landmarks are found by their bytes.
 */
import type { DecompressorLandmarks } from '../boot';

/** Instruction sequences (hex) and where the jump sits in the exit one. */
export interface LandmarkBytes {
  /** Where the decompressor copies itself: `std; rep movsq; cld`. */
  readonly copy: string;
  /** Its jump into the kernel: `movq %r15, %rsi; jmp *%rax`. */
  readonly exit: string;
  readonly exitJump: number;
}

/** Where the decompressor's head lives in the file: the copy sequence must be near its start. */
const HEAD_BYTES = 0x10000;

function indexesOf(haystack: Uint8Array, needle: Uint8Array, limit = haystack.length): number[] {
  const out: number[] = [];
  const buf = Buffer.from(haystack.buffer, haystack.byteOffset, Math.min(limit, haystack.length));
  for (let i = buf.indexOf(needle); i >= 0; i = buf.indexOf(needle, i + 1)) out.push(i);
  return out;
}

/**
 * The landmarks in a bzImage, or undefined when the file is not one (no "HdrS" setup header) or
 * a sequence is missing or not unique where it is looked for (another kernel version).
 */
export function decompressorLandmarks(image: Uint8Array, bytes: LandmarkBytes): DecompressorLandmarks | undefined {
  const { copy, exit, exitJump } = bytes;
  if (image.length < 0x270) return undefined;
  const header = Buffer.from(image.buffer, image.byteOffset, image.length);
  if (header.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined;
  const setupSects = header[0x1f1] || 4;
  const payload = image.subarray((setupSects + 1) * 512);
  const copyAt = indexesOf(payload, Buffer.from(copy, 'hex'), HEAD_BYTES);
  const exitAt = indexesOf(payload, Buffer.from(exit, 'hex'));
  if (copyAt.length !== 1 || exitAt.length !== 1) return undefined;
  return {
    loadAddress: BigInt(header.readUInt32LE(0x214)),
    copyOffset: BigInt(copyAt[0]),
    exitOffset: BigInt(exitAt[0] + exitJump),
  };
}
