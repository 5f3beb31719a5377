/**
 * Stopping a booting randomized kernel at the first place its slide is known, so a launch with
 * `stopAt: start_kernel` still stops there instead of running past a breakpoint set at the link
 * address. Each arch says how in its BootFacts (`kaslr.earlyStop`), measured on the Debian 6.1
 * kernels under QEMU TCG (bench/kaslr-launch.mjs):
 *
 * - x86_64, `decompressor-exit`: a breakpoint where the decompressor copies itself (a fixed
 *   address: code32_start + its offset in the bzImage) gives the copy's base; a second one at
 *   the copy's `jmp *%rax` into the kernel stops with the image placed and relocated, %rax its
 *   physical address. The slide is then what the relocation added to sys_call_table's entries,
 *   proved by the banner at its physical place. Both stops come before the kernel's first
 *   instruction; then one breakpoint at start_kernel + slide.
 * - x86_64, `every-slide` (the fallback): a breakpoint at every address start_kernel can have,
 *   484 for Debian's kernel. QEMU's TCG stub keeps them itself, so unmapped addresses are fine,
 *   but it compares every one on each translation-block lookup: boot to start_kernel ~25×
 *   slower.
 * - arm64, `entry-branch`: the Image's physical address is found at reset (its first bytes, as
 *   the vmlinux holds them, at a 2 MiB boundary above the reset pc); one breakpoint at the
 *   physical address of the `br x8` ending `__primary_switch`, where the MMU is on, the kernel is
 *   mapped at its slide and x8 holds the runtime `__primary_switched`.
 *
 * `runToSlide` drives a plan through `BootControl`, which the engine implements over gdb.
 *
 * gdb is then told with `symbol-file -o SLIDE VMLINUX` over the vmlinux loaded at link addresses:
 * every section moves by the slide (function breakpoints, source lines, `&symbol`, frames), in a
 * millisecond to a second with the index cache warm. Module symbols need nothing: their
 * addresses come from kernel memory. Anything that cached a symbol address before (a Target's
 * symbol cache, breakpoints inserted by address) must be redone after it.
 */
import { bootFacts } from './arch/boot';
import { slideRange, verifySlide, type LinkedKernel } from './kaslr';
import { FaultError, type Arch, type Target } from './target';

export interface EverySlide {
  readonly kind: 'every-slide';
  readonly symbol: string;
  /** Link address of the stop function: a hit at `pc` means slide = pc − link. */
  readonly link: bigint;
  /** Every runtime address it can have, slide 0 first. */
  readonly addresses: readonly bigint[];
}

export interface EntryBranch {
  readonly kind: 'entry-branch';
  /** Offset of the branch from `_text`: its physical address is the image's + this. */
  readonly offset: bigint;
  readonly instruction: number;
  readonly register: string;
  /** Link address of what the register points to: slide = register − this. */
  readonly target: bigint;
  readonly imageAlign: bigint;
}

export interface DecompressorExit {
  readonly kind: 'decompressor-exit';
  /** Where the decompressor copies itself, at its load address: a fixed physical address. */
  readonly copyAt: bigint;
  readonly copyRegister: string;
  /** Offset of the jump to the kernel from the copy's base. */
  readonly exitOffset: bigint;
  readonly exitRegister: string;
  /** The pointer table, from `_text`, and the link values of its first two entries. */
  readonly pointerOffset: bigint;
  readonly pointerLinks: readonly [bigint, bigint];
  /** When a landmark does not hold up at run time. */
  readonly fallback: EverySlide;
}

export type EarlyStop = EverySlide | EntryBranch | DecompressorExit;

export interface EarlyStopOptions {
  /** The function to stop in (default start_kernel). */
  readonly stopAt?: string;
  /** The kernel image QEMU boots (the bzImage's bytes): x86's decompressor plan needs it. */
  readonly image?: Uint8Array;
}

function everySlide(arch: Arch, kernel: LinkedKernel, stopAt: string): EverySlide | undefined {
  const link = kernel.symbols.get(stopAt);
  if (link === undefined) return undefined;
  const r = slideRange({ arch }, kernel);
  const addresses: bigint[] = [];
  for (let s = 0n; s <= r.max; s += r.align[0]) addresses.push(link + s);
  return { kind: 'every-slide', symbol: stopAt, link, addresses };
}

/**
 * The plan for this kernel, or undefined when the vmlinux lacks what every plan needs (then the
 * slide is found at the first stop after boot, with `findSlide`).
 */
export function earlyStopPlan(arch: Arch, kernel: LinkedKernel, options: EarlyStopOptions = {}): EarlyStop | undefined {
  const facts = bootFacts(arch).kaslr.earlyStop;
  const stopAt = options.stopAt ?? 'start_kernel';
  const text = kernel.symbols.get('_text');
  switch (facts.kind) {
    case 'every-slide':
      return everySlide(arch, kernel, stopAt);
    case 'decompressor-exit': {
      const fallback = everySlide(arch, kernel, stopAt);
      if (!fallback) return undefined;
      const marks = options.image && facts.landmarks(options.image);
      const table = kernel.symbols.get(facts.pointer);
      const links = kernel.fileWords?.get(facts.pointer);
      if (!marks || table === undefined || !links || text === undefined) return fallback;
      return {
        kind: 'decompressor-exit',
        copyAt: marks.loadAddress + marks.copyOffset,
        copyRegister: facts.copyRegister,
        exitOffset: marks.exitOffset,
        exitRegister: facts.exitRegister,
        pointerOffset: table - text,
        pointerLinks: links,
        fallback,
      };
    }
    case 'entry-branch': {
      const fn = kernel.symbols.get(facts.function);
      const size = kernel.sizes?.get(facts.function);
      const target = kernel.symbols.get(facts.target);
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
  }
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

/** What running a plan needs from the connection (QEMU's gdbstub, through gdb). */
export interface BootControl {
  /** Reads memory and registers; what it cached is forgotten by `resume`. */
  readonly target: Target;
  /** One breakpoint at an address (virtual, or physical where the MMU is off or identity-maps). */
  breakAt(address: bigint): Promise<void>;
  clearBreakpoints(): Promise<void>;
  /** Lets every CPU run until the next stop; resolves with the CPU that stopped. */
  resume(): Promise<number>;
}

export interface SlideStop {
  readonly slide: bigint;
  /** The CPU stopped now; at `pc`, which is `start` + slide when the plan stopped there. */
  readonly cpu: number;
  readonly pc: bigint;
  /** Each stop on the way, in words, for the Debug Console. */
  readonly steps: readonly string[];
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

async function register(control: BootControl, cpu: number, name: string): Promise<bigint> {
  const v = (await control.target.registers(cpu, [name])).get(name);
  if (v === undefined) throw new Error(`register ${name} of CPU ${cpu} is not available`);
  return v;
}

async function word(target: Target, pa: bigint): Promise<bigint> {
  const b = await target.readPhysical(pa, 8);
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

/**
 * Runs the boot from reset (every CPU stopped there) to the first stop where the slide is known,
 * and proves the slide with the banner. Leaves no breakpoint of its own behind. Throws when
 * the plan fails at run time in a way that leaves no fallback.
 */
export async function runToSlide(control: BootControl, kernel: LinkedKernel, plan: EarlyStop): Promise<SlideStop> {
  const arch = control.target.arch;
  const pcName = bootFacts(arch).pcRegister;
  const steps: string[] = [];
  const banner = kernel.symbols.get('linux_banner');
  const text = kernel.symbols.get('_text');
  if (banner === undefined || text === undefined) throw new Error('the vmlinux has no linux_banner or _text');

  const proved = async (slide: bigint, cpu: number, pc: bigint): Promise<SlideStop> => {
    if (!(await verifySlide(control.target, kernel, slide))) throw new Error(`no linux_banner at linux_banner + ${hex(slide)}: the vmlinux is not this kernel's`);
    return { slide, cpu, pc, steps };
  };

  if (plan.kind === 'entry-branch') {
    const resetPc = await register(control, 0, pcName);
    const head = kernel.fileHead;
    const image = head && (await findImagePhysical(control.target, head, resetPc, plan.imageAlign));
    if (image === undefined || !head) throw new Error(`the kernel image is not in RAM above the reset pc ${hex(resetPc)}`);
    const branch = image + plan.offset;
    const found = await instructionAt(control.target, branch);
    if (found !== plan.instruction) throw new Error(`expected the branch ${hex(BigInt(plan.instruction))} at physical ${hex(branch)}, found ${hex(BigInt(found))}`);
    await control.breakAt(branch);
    const cpu = await control.resume();
    await control.clearBreakpoints();
    const to = await register(control, cpu, plan.register);
    steps.push(`image at physical ${hex(image)}; stopped at its branch to the randomized kernel (${plan.register} = ${hex(to)})`);
    return proved(to - plan.target, cpu, await register(control, cpu, pcName));
  }

  if (plan.kind === 'decompressor-exit') {
    try {
      await control.breakAt(plan.copyAt);
      let cpu = await control.resume();
      await control.clearBreakpoints();
      const pc = await register(control, cpu, pcName);
      if (pc !== plan.copyAt) throw new Error(`stopped at ${hex(pc)}, not at the decompressor's copy ${hex(plan.copyAt)}`);
      const base = await register(control, cpu, plan.copyRegister);
      await control.breakAt(base + plan.exitOffset);
      cpu = await control.resume();
      await control.clearBreakpoints();
      const image = await register(control, cpu, plan.exitRegister);
      const [w0, w1] = [await word(control.target, image + plan.pointerOffset), await word(control.target, image + plan.pointerOffset + 8n)];
      const slide = w0 - plan.pointerLinks[0];
      if (w1 - plan.pointerLinks[1] !== slide) throw new Error(`the relocated pointers disagree (${hex(w0)}, ${hex(w1)})`);
      const b = await control.target.readPhysical(image + (banner - text), kernel.banner.length);
      if (!b.every((x, i) => x === kernel.banner[i])) throw new Error(`no linux_banner in the image at physical ${hex(image)}`);
      steps.push(`the decompressor placed the image at physical ${hex(image)} and relocated it by ${hex(slide)}`);
      // The kernel has not run: its virtual mapping comes later, so the banner was read physically.
      return { slide, cpu, pc: await register(control, cpu, pcName), steps };
    } catch (err) {
      await control.clearBreakpoints();
      steps.push(`the decompressor's landmarks did not hold (${err instanceof Error ? err.message : String(err)}): a breakpoint at every possible address instead`);
      plan = plan.fallback;
    }
  }

  for (const a of plan.addresses) await control.breakAt(a);
  const cpu = await control.resume();
  await control.clearBreakpoints();
  const pc = await register(control, cpu, pcName);
  steps.push(`stopped in ${plan.symbol} at ${hex(pc)}, one of ${plan.addresses.length} possible addresses`);
  return proved(pc - plan.link, cpu, pc);
}
