/**
 * KASLR (CONFIG_RANDOMIZE_BASE): where a running kernel put its image, as the slide to add to
 * every vmlinux address (the kernel's own `kaslr_offset()`: runtime `_text` − link `_text`).
 *
 * Every candidate slide is proved before it is believed: the vmlinux's `linux_banner` must be
 * in the target's memory at its link address + the slide. Candidates come from what the
 * connection offers, cheapest first:
 *  - `stop`: the kernel is stopped in a known function (kgdb in `kgdb_breakpoint`): one candidate.
 *  - `vector-base`: a register holding a kernel address early in boot (arm64 VBAR_EL1 → `vectors`).
 *  - `pc`: a CPU's pc in kernel code; the slide is a multiple of the arch's alignment, so
 *    text size / alignment candidates (about ten for 20 MiB of text and 2 MiB granules).
 *  - `page-tables` (paging registers and physical reads: QEMU's gdbstub): the runs mapped in
 *    the window KASLR chooses from, read from CR3/TTBR1_EL1; the image starts one of them.
 * kgdb has no system registers and no physical reads: `stop` and `pc` work there.
 *
 * The other randomized regions (x86 `page_offset_base`/`vmalloc_base`/`vmemmap_base`, arm64
 * `memstart_addr`) are kernel variables, read at link address + slide (`randomizedLayout`).
 */
import { bootFacts, type SlideRange } from './arch/boot';
import { mappedRunStarts } from './mapped-ranges';
import type { DirectMap } from './memory-model';
import { FaultError, type Target } from './target';

/** What the vmlinux file says, independent of any target: link addresses and the banner. */
export interface LinkedKernel {
  /**
   * Link addresses: `_text`, `_etext`, `_end` and `linux_banner` are required; `_stext`,
   * `_sinittext`/`_einittext`, the arch's vector and layout symbols and stop functions are used
   * when present.
   */
  readonly symbols: ReadonlyMap<string, bigint>;
  /** Sizes of function symbols, for a stop somewhere inside a known function. */
  readonly sizes?: ReadonlyMap<string, bigint>;
  /** `linux_banner` as the file holds it, without the NUL. */
  readonly banner: Uint8Array;
  /** The first two 8-byte words the file holds at some symbols (a pointer table's link values). */
  readonly fileWords?: ReadonlyMap<string, readonly [bigint, bigint]>;
  /** The file's first bytes at `_text`, to recognize the image in physical memory. */
  readonly fileHead?: Uint8Array;
}

export type SlideMethod = 'stop' | 'vector-base' | 'pc' | 'page-tables';

export interface Slide {
  readonly slide: bigint;
  readonly method: SlideMethod;
  /** How it was found, in words for the Debug Console. */
  readonly detail: string;
  /** Requests made to the target (reads and register fetches). */
  readonly requests: number;
}

export interface SlideHints {
  /** Program counters of stopped CPUs; user-mode ones are ignored. */
  readonly pcs?: readonly bigint[];
  /** The function the kernel is known to be stopped in (`kgdb_breakpoint` after a kgdb entry). */
  readonly stoppedIn?: string;
  /** Paging registers and physical reads are available (QEMU gdbstub, not kgdb). */
  readonly systemRegisters?: boolean;
  /** CPUs whose registers to read (default: all). */
  readonly cpus?: readonly number[];
}

/** No candidate proved true; says what was tried. */
export class KaslrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KaslrError';
  }
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

function required(kernel: LinkedKernel, name: string): bigint {
  const v = kernel.symbols.get(name);
  if (v === undefined) throw new KaslrError(`the vmlinux has no symbol ${name}`);
  return v;
}

/** The slide range the arch allows for this kernel. */
export function slideRange(target: Pick<Target, 'arch'>, kernel: LinkedKernel): SlideRange {
  const text = required(kernel, '_text');
  return bootFacts(target.arch).kaslr.slides(text, required(kernel, '_end') - text);
}

/** Link-time ranges a kernel pc can be in: the image's text and its init text. */
function codeRanges(kernel: LinkedKernel): Array<[bigint, bigint]> {
  const out: Array<[bigint, bigint]> = [[required(kernel, '_text'), required(kernel, '_etext')]];
  const si = kernel.symbols.get('_sinittext');
  const ei = kernel.symbols.get('_einittext');
  if (si !== undefined && ei !== undefined && ei > si) out.push([si, ei]);
  return out;
}

const alignDown = (v: bigint, a: bigint) => v - (((v % a) + a) % a);

/**
 * Slides that would put `pc` inside the kernel's code, multiples of `align` within the range,
 * smallest first. Pure.
 */
export function pcCandidates(pc: bigint, kernel: LinkedKernel, range: SlideRange, align: bigint): bigint[] {
  const out = new Set<bigint>();
  for (const [start, end] of codeRanges(kernel)) {
    // pc − s ∈ [start, end)  ⇔  s ∈ (pc − end, pc − start]
    const hi = pc - start;
    const lo = pc - end;
    for (let s = alignDown(hi, align); s > lo && s >= 0n; s -= align) {
      if (s <= range.max) out.add(s);
    }
  }
  return [...out].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Counts what a search asks of the target. */
class Counted {
  requests = 0;
  constructor(readonly target: Target) {}
  async readVirtual(va: bigint, n: number) {
    this.requests++;
    return this.target.readVirtual(va, n);
  }
  async readPhysical(pa: bigint, n: number) {
    this.requests++;
    return this.target.readPhysical(pa, n);
  }
  async registers(cpu: number, names: readonly string[]) {
    this.requests++;
    return this.target.registers(cpu, names);
  }
  /** A Target whose requests are counted, for helpers that take one. */
  asTarget(): Target {
    const t = this.target;
    return {
      arch: t.arch,
      readVirtual: (a, n) => this.readVirtual(a, n),
      readPhysical: (a, n) => this.readPhysical(a, n),
      registers: (c, names) => this.registers(c, names),
      symbol: (name) => t.symbol(name),
      layout: (name) => t.layout(name),
      cpus: () => t.cpus(),
    };
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * True when the vmlinux's banner is where the slide says: read through the MMU of the CPU the
 * target reads with, or, when the caller knows where the image is in physical memory
 * (`imagePhys`: physical address of the runtime `_text`), there. The image is physically
 * contiguous on both arches.
 */
async function proves(t: Counted, kernel: LinkedKernel, slide: bigint, imagePhys?: bigint): Promise<boolean> {
  const banner = required(kernel, 'linux_banner');
  try {
    const bytes =
      imagePhys === undefined
        ? await t.readVirtual(banner + slide, kernel.banner.length)
        : await t.readPhysical(imagePhys + (banner - required(kernel, '_text')), kernel.banner.length);
    return equalBytes(bytes, kernel.banner);
  } catch (err) {
    if (err instanceof FaultError) return false;
    throw err;
  }
}

/** Whether `slide` is right for the running kernel (the banner test alone). */
export async function verifySlide(target: Target, kernel: LinkedKernel, slide: bigint): Promise<boolean> {
  return proves(new Counted(target), kernel, slide);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * Finds the image slide of the running kernel. Throws KaslrError, naming what was tried, when
 * nothing proves true (a vmlinux of another build, or a target that shows no kernel code).
 */
export async function findSlide(target: Target, kernel: LinkedKernel, hints: SlideHints = {}): Promise<Slide> {
  const t = new Counted(target);
  const cpus = hints.cpus ?? range(await target.cpus());
  const tables = hints.systemRegisters ?? false;
  const r = slideRange(target, kernel);
  const tried: string[] = [];
  // A slide refused through one CPU's view may still prove true through physical memory.
  const tested = new Set<string>();
  const test = async (s: bigint, imagePhys?: bigint) => {
    const key = `${s}@${imagePhys ?? 'virtual'}`;
    if (s < 0n || s > r.max || tested.has(key)) return false;
    tested.add(key);
    return proves(t, kernel, s, imagePhys);
  };
  const found = (slide: bigint, method: SlideMethod, detail: string): Slide => ({ slide, method, detail, requests: t.requests });
  const pcs = [...new Set(hints.pcs ?? [])];

  if (hints.stoppedIn) {
    const f = kernel.symbols.get(hints.stoppedIn);
    const size = kernel.sizes?.get(hints.stoppedIn) ?? 0n;
    if (f !== undefined) {
      for (const pc of pcs) {
        const candidates = size > 0n ? r.align.map((a) => alignDown(pc - f, a)).filter((s) => pc - s < f + size) : [pc - f];
        for (const s of candidates) {
          if (await test(s)) return found(s, 'stop', `stopped in ${hints.stoppedIn} at ${hex(pc)}`);
        }
      }
      tried.push(`the stop in ${hints.stoppedIn}`);
    }
  }

  const vector = bootFacts(target.arch).kaslr.vectorBase;
  if (tables && vector) {
    const link = kernel.symbols.get(vector.symbol);
    for (const cpu of link === undefined ? [] : cpus) {
      const value = (await t.registers(cpu, [vector.register]).catch(() => new Map<string, bigint>())).get(vector.register);
      if (value === undefined) continue;
      if (await test(value - link!)) return found(value - link!, 'vector-base', `${vector.register} of CPU ${cpu} = ${hex(value)} → ${vector.symbol}`);
    }
    tried.push(vector.register);
  }

  for (const align of r.align) {
    for (const pc of pcs) {
      for (const s of pcCandidates(pc, kernel, r, align)) {
        if (await test(s)) return found(s, 'pc', `pc ${hex(pc)} in kernel code, after ${tested.size} candidate(s) at ${hex(align)} alignment`);
      }
    }
  }
  if (pcs.length > 0) tried.push(`${pcs.length} pc(s) (${pcs.map(hex).join(', ')})`);

  if (tables) {
    const slide = await fromPageTables(t, kernel, r, cpus, test);
    if (slide) return found(slide.slide, 'page-tables', slide.detail);
    tried.push('the page tables of every CPU');
  }
  throw new KaslrError(
    `cannot find where the kernel image is: no candidate slide showed this vmlinux's linux_banner (tried ${tried.join(', ') || 'nothing: no pc and no paging registers'}). Is the vmlinux the running kernel's?`,
  );
}

/**
 * The mapped runs in the windows KASLR chooses from: the image begins one of them at `_text`
 * (the early tables map it whole) or `_stext` (arm64 maps it by segment from paging_init on),
 * and its physical address comes with the run, so the banner is read there. arm64's random
 * window starts at 2^(VA_BITS_MIN − 3) above the link address, below which vmalloc lives: only
 * a run right at the link address (nokaslr) is taken from there.
 */
async function fromPageTables(
  t: Counted,
  kernel: LinkedKernel,
  r: SlideRange,
  cpus: readonly number[],
  test: (s: bigint, imagePhys?: bigint) => Promise<boolean>,
): Promise<{ slide: bigint; detail: string } | undefined> {
  const text = required(kernel, '_text');
  const stext = kernel.symbols.get('_stext') ?? text;
  const end = text + r.max + (required(kernel, '_end') - text) + 1n;
  const windows: Array<[bigint, bigint, number]> =
    r.min === undefined ? [[text, end, 256]] : [[text, stext + r.align[0], 1], [text + r.min, end, 256]];
  const finest = r.align[r.align.length - 1];
  for (const cpu of cpus) {
    for (const override of bootFacts(t.target.arch).kaslr.tableOverrides) {
      for (const [lo, hi, most] of windows) {
        let runs = 0;
        try {
          for await (const run of mappedRunStarts(t.asTarget(), { cpu, lo, hi, override })) {
            runs++;
            for (const start of new Set([text, stext])) {
              const s = run.va - start;
              if (s % finest === 0n && (await test(s, run.phys - (start - text)))) {
                return { slide: s, detail: `CPU ${cpu}'s page tables map the image at ${hex(run.va)} (phys ${hex(run.phys)}), run ${runs} of the window from ${hex(lo)}` };
              }
            }
            if (runs >= most) break;
          }
        } catch {
          // No paging registers on this CPU (or none at all): the next CPU.
        }
      }
    }
  }
  return undefined;
}

/** The randomized layout that follows from the slide, as the kernel's variables hold it. */
export interface RandomizedLayout {
  readonly slide: bigint;
  /** Each of the arch's layout variables present in the vmlinux, read at link + slide. */
  readonly variables: ReadonlyMap<string, bigint>;
  /** The direct map those variables describe, when the arch derives one. */
  readonly directMap?: DirectMap;
}

/**
 * Reads the arch's layout variables (x86_64 `page_offset_base`, `vmalloc_base`, `vmemmap_base`,
 * `phys_base`; arm64 `kimage_voffset`, `memstart_addr`) at their runtime addresses. They hold
 * their final values once setup_arch() has run; before that, their link-time defaults.
 */
export async function randomizedLayout(target: Target, kernel: LinkedKernel, slide: bigint): Promise<RandomizedLayout> {
  const facts = bootFacts(target.arch).kaslr;
  const variables = new Map<string, bigint>();
  for (const name of facts.layoutVariables) {
    const link = kernel.symbols.get(name);
    if (link === undefined) continue;
    try {
      const b = await target.readVirtual(link + slide, 8);
      variables.set(name, new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
    } catch (err) {
      if (!(err instanceof FaultError)) throw err;
    }
  }
  const directMap = facts.directMap?.(variables, required(kernel, '_text'));
  return { slide, variables, ...(directMap ? { directMap } : {}) };
}

/** `KEY=value` lines of a VMCOREINFO note (a dump's, or `vmcoreinfo_data` read from memory). */
export function parseVmcoreinfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  return out;
}

/** The slide a VMCOREINFO states (`KERNELOFFSET=` is hex without 0x, both arches). */
export function vmcoreinfoSlide(info: ReadonlyMap<string, string>): bigint | undefined {
  const v = info.get('KERNELOFFSET');
  return v && /^[0-9a-f]+$/i.test(v) ? BigInt(`0x${v}`) : undefined;
}
