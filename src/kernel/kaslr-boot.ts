/**
 * Stopping a booting randomized kernel at the first place its slide is known, so a launch
 * with `stopAt: start_kernel` still stops there instead of running past a breakpoint set at the
 * link address. Each arch says how in its BootFacts (`kaslr.earlyStop`):
 *
 * - x86_64, `every-slide`: the slide is picked in the decompressor (no symbols) and the kernel
 *   runs at a random physical address until it jumps to its randomized virtual one, so the stop
 *   function's every possible runtime address gets a breakpoint: link + k × 2 MiB, about 500 of
 *   them. QEMU's TCG gdbstub keeps software breakpoints itself (Z0 writes no guest memory), so
 *   addresses not mapped yet are fine. The one that hits gives the slide.
 * - arm64, `entry-branch`: the image's physical address is found at reset (its first bytes,
 *   as the vmlinux holds them, at a 2 MiB boundary above the reset pc), and one breakpoint goes
 *   on the physical address of the `br x8` that ends `__primary_switch`: there the MMU is on,
 *   the kernel is mapped at its slide, and x8 holds the runtime `__primary_switched`. From there
 *   a breakpoint at the runtime address of the stop function works as usual.
 */
import { bootFacts, type EarlyStopFacts } from './arch/boot';
import type { LinkedKernel } from './kaslr';
import { slideRange } from './kaslr';
import { FaultError, type Arch, type Target } from './target';

export type EarlyStop =
  | {
      readonly kind: 'every-slide';
      readonly symbol: string;
      /** Link address of the stop function: a hit at `pc` means slide = pc − link. */
      readonly link: bigint;
      /** Every runtime address it can have, slide 0 first. */
      readonly addresses: readonly bigint[];
    }
  | {
      readonly kind: 'entry-branch';
      /** Offset of the branch from `_text`: its physical address is the image's + this. */
      readonly offset: bigint;
      readonly instruction: number;
      readonly register: string;
      /** Link address of what the register points to: slide = register − this. */
      readonly target: bigint;
      readonly imageAlign: bigint;
    };

/**
 * The plan for this kernel, or undefined when the vmlinux lacks what it needs (then the slide is
 * found at the first stop after boot, `findSlide`).
 */
export function earlyStopPlan(arch: Arch, kernel: LinkedKernel, stopAt = 'start_kernel'): EarlyStop | undefined {
  const facts: EarlyStopFacts = bootFacts(arch).kaslr.earlyStop;
  if (facts.kind === 'every-slide') {
    const link = kernel.symbols.get(stopAt);
    if (link === undefined) return undefined;
    const r = slideRange({ arch }, kernel);
    const step = r.align[0];
    const addresses: bigint[] = [];
    for (let s = 0n; s <= r.max; s += step) addresses.push(link + s);
    return { kind: 'every-slide', symbol: stopAt, link, addresses };
  }
  const fn = kernel.symbols.get(facts.function);
  const size = kernel.sizes?.get(facts.function);
  const target = kernel.symbols.get(facts.target);
  const text = kernel.symbols.get('_text');
  if (fn === undefined || !size || target === undefined || text === undefined) return undefined;
  return {
    kind: 'entry-branch',
    offset: fn + size - 4n - text,
    instruction: facts.instruction,
    register: facts.register,
    target,
    imageAlign: facts.imageAlign,
  };
}

/**
 * Where the image is in physical memory before it runs: the first `align` boundary at or above
 * `from` (the reset pc, rounded down) whose bytes equal the vmlinux's first bytes at `_text`.
 * Reads one small block per step; undefined after `steps` boundaries.
 */
export async function findImagePhysical(target: Target, head: Uint8Array, from: bigint, align: bigint, steps = 64): Promise<bigint | undefined> {
  const start = from - (from % align);
  for (let i = 0n; i < BigInt(steps); i++) {
    const at = start + i * align;
    try {
      const bytes = await target.readPhysical(at, head.length);
      if (bytes.every((b, j) => b === head[j])) return at;
    } catch (err) {
      if (!(err instanceof FaultError)) throw err;
    }
  }
  return undefined;
}

/** The instruction word at a physical address (little-endian), to check a branch is where planned. */
export async function instructionAt(target: Target, pa: bigint): Promise<number> {
  const b = await target.readPhysical(pa, 4);
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
}
