/**
 * Writes synthetic page tables into a MemoryImage. Indices come from the shifts each test states
 * itself, never from the code under test, so a wrong shift in src/ cannot agree with its test.
 */
import type { MemoryImage } from '../../../src/kernel/memory-image';

/** Index of `va` in a table whose index field starts at bit `shift` and is `bits` wide. */
export function indexOf(va: bigint, shift: number, bits: number): bigint {
  return (va >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n);
}

export interface Slot {
  /** Physical address of the table. */
  table: bigint;
  shift: number;
  bits: number;
  /** The 64-bit entry stored at the slot for the VA. */
  entry: bigint;
}

/** Stores one entry per level for `va`; returns the entries' physical addresses, top first. */
export function writeChain(image: MemoryImage, va: bigint, slots: readonly Slot[]): bigint[] {
  return slots.map((s) => {
    const at = s.table + indexOf(va, s.shift, s.bits) * 8n;
    image.writeU64(at, s.entry);
    return at;
  });
}

/** Shifts of a 4 KiB-page x86_64 walk, top first: 4-level PGD PUD PMD PTE, 5-level adds P4D. */
export const X86_SHIFTS_4 = [39, 30, 21, 12];
export const X86_SHIFTS_5 = [48, 39, 30, 21, 12];

/** arm64 TCR_EL1 from fields, encoded here independently of src/ (Arm ARM D19.2, TCR_EL1). */
export function tcr(f: {
  t0sz: number;
  t1sz: number;
  granule0: 4 | 16 | 64;
  granule1: 4 | 16 | 64;
  ipsBits: number;
  tbi0?: boolean;
  tbi1?: boolean;
  ds?: boolean;
  epd1?: boolean;
  hpd1?: boolean;
  sh1?: number;
}): bigint {
  const tg0 = { 4: 0b00n, 64: 0b01n, 16: 0b10n }[f.granule0];
  const tg1 = { 16: 0b01n, 4: 0b10n, 64: 0b11n }[f.granule1];
  const ips = BigInt([32, 36, 40, 42, 44, 48, 52].indexOf(f.ipsBits));
  let v = BigInt(f.t0sz) | (tg0 << 14n) | (BigInt(f.t1sz) << 16n) | (1n << 22n) | (tg1 << 30n) | (ips << 32n);
  v |= BigInt(f.sh1 ?? 3) << 28n;
  if (f.epd1) v |= 1n << 23n;
  if (f.tbi0 ?? true) v |= 1n << 37n;
  if (f.tbi1) v |= 1n << 38n;
  if (f.hpd1) v |= 1n << 42n;
  if (f.ds) v |= 1n << 59n;
  return v;
}

/** arm64 output address placed in a descriptor of the 52-bit formats. */
export function lpa2Address(pa: bigint): bigint {
  // LPA2 (DS=1): OA[49:12] stay in place, OA[51:50] move to descriptor bits 9:8.
  return (pa & 0x0003_ffff_ffff_f000n) | (((pa >> 50n) & 3n) << 8n);
}

export function lpa64kAddress(pa: bigint): bigint {
  // FEAT_LPA with 64K pages: OA[47:16] stay in place, OA[51:48] move to descriptor bits 15:12.
  return (pa & 0x0000_ffff_ffff_0000n) | (((pa >> 48n) & 0xfn) << 12n);
}
