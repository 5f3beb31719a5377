/**
 * Plants kernel structures in a MemoryImage for the helper tests. Layouts are written here by
 * hand (offsets as a 6.1 kernel has them, or deliberately different), never taken from src/.
 */
import type { MemoryImage } from '../../../src/kernel/memory-image';
import type { MemberLayout, StructLayout } from '../../../src/kernel/target';

export function layout(
  name: string,
  size: number,
  members: Record<string, readonly [offset: number, size: number, type?: string, bitOffset?: number, bitSize?: number]>,
): StructLayout {
  const map = new Map<string, MemberLayout>();
  for (const [n, [offset, bytes, type, bitOffset, bitSize]] of Object.entries(members)) {
    map.set(n, { offset, size: bytes, type: type ?? `u${bytes * 8}`, ...(bitSize !== undefined ? { bitOffset: bitOffset ?? 0, bitSize } : {}) });
  }
  return { name, size, members: map };
}

/** Little-endian bytes of an integer `size` bytes wide (two's complement for negatives). */
export function le(value: bigint | number, size: number): Uint8Array {
  let v = BigInt.asUintN(size * 8, BigInt(value));
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * A kernel virtual window backed by RAM: `va` maps onto physical `pa` for `size` bytes.
 * Returns a writer that stores integers and strings at virtual addresses inside it.
 */
export function window(image: MemoryImage, va: bigint, pa: bigint, size: bigint) {
  image.addRam(pa, size).mapVirtual(va, pa, size);
  const at = (addr: bigint) => {
    if (addr < va || addr >= va + size) throw new RangeError(`0x${addr.toString(16)} is outside the planted window`);
    return pa + (addr - va);
  };
  return {
    int(addr: bigint, value: bigint | number, size = 8) {
      image.writePhysical(at(addr), le(value, size));
    },
    bytes(addr: bigint, bytes: Uint8Array) {
      image.writePhysical(at(addr), bytes);
    },
    text(addr: bigint, text: string, size: number) {
      const b = new Uint8Array(size);
      b.set(new TextEncoder().encode(text).subarray(0, size));
      image.writePhysical(at(addr), b);
    },
  };
}
