/**
 * What a vmlinux file says about itself before any target is connected: its arch, build id,
 * `linux_banner` and the link addresses KASLR detection needs (kernel/kaslr.ts `LinkedKernel`).
 * Read from the ELF symbol table (vmlinux-symbols.ts) and a few positional reads; no gdb.
 *
 * The symbol table is the costly part (10-25 ms of a CPU that gdb, loading the same file, wants
 * too): the definitions found are kept per build id (`FactsStore`, layout-cache.ts), and the next
 * session reads only the ELF headers and the build-id note. The bytes (the banner, the image
 * head) are read from the file every time, at the stored addresses: a store that does not hold
 * the file's banner there is not believed, and the table is read again.
 */
import * as fs from 'node:fs/promises';
import { archOfElfMachine } from '../kernel/arch';
import { bootFacts } from '../kernel/arch/boot';
import type { LinkedKernel } from '../kernel/kaslr';
import type { Arch } from '../kernel/target';
import { ElfFile, SHT_NOBITS } from '../oops/elf';
import { definitions, type Definition } from './vmlinux-symbols';

/** Symbols KASLR detection and the early-stop plans use, besides the arch's own. */
const wanted = [
  '_text', '_stext', '_etext', '_sinittext', '_einittext', '_end', 'linux_banner',
  'start_kernel', 'kgdb_breakpoint', 'vmcoreinfo_data',
  // What an attach reads before its first stop is shown: the module list.
  'modules',
];

/** The definitions an earlier session found in the vmlinux with this build id. */
export interface FactsStore {
  readonly buildId: string;
  /** Every one of `names` as stored (null: the table lacks it); undefined when one is not stored. */
  definitions(names: readonly string[]): ReadonlyMap<string, Definition | null> | undefined;
  /** Remembers what the table holds for the names looked for (null: not there). */
  define(found: ReadonlyMap<string, Definition | null>): void;
}

export interface VmlinuxFacts extends LinkedKernel {
  readonly file: string;
  readonly arch: Arch;
  readonly buildId?: string;
  /** `linux_banner` as text: "Linux version 6.1.0-50-cloud-amd64 (…) #1 SMP …". */
  readonly bannerText: string;
  readonly fileHead: Uint8Array;
  /**
   * Allocated sections linked at address 0 (x86_64's `.data..percpu`): their symbols are
   * offsets, which the KASLR relocation leaves alone, so gdb must not move them with the rest.
   */
  readonly unmovedSections: readonly string[];
}

const SHF_ALLOC = 2n;

/** Bytes of the image head compared: the arm64 Image header with its magic, say. */
const headLength = 64;

/** Longer than any real banner; bounds a read when the symbol has no size. */
const maxBanner = 1024;

/**
 * Reads the facts of a vmlinux. `extra` adds symbols to look up (a function the session knows it
 * stops in); `store` answers them for this build id where an earlier session looked them up.
 * Throws ElfError for a file that is not ELF and Error for an arch kdap does not debug or a
 * kernel without `linux_banner`.
 */
export async function readVmlinuxFacts(file: string, extra: readonly string[] = [], options: { store?: FactsStore } = {}): Promise<VmlinuxFacts> {
  const elf = await ElfFile.open(file);
  try {
    const arch = archOfElfMachine(elf.header.machine);
    if (!arch) throw new Error(`${file} is built for ELF machine ${elf.header.machine}; kdap debugs x86_64 and arm64 kernels`);
    const facts = bootFacts(arch).kaslr;
    const early = facts.earlyStop;
    const names = [
      ...new Set([
        ...wanted,
        ...extra,
        ...facts.layoutVariables,
        ...(facts.vectorBase ? [facts.vectorBase.symbol] : []),
        ...(early.kind === 'decompressor-exit' ? [early.pointer] : early.kind === 'entry-branch' ? [early.function, early.target] : []),
      ]),
    ];
    const buildId = await elf.buildId();
    const opened = { elf, file, arch, buildId };
    const store = buildId !== undefined && options.store?.buildId === buildId ? options.store : undefined;
    const stored = store?.definitions(names);
    // A store that does not lead to this file's banner is not believed: the table decides.
    const fromStore = stored && (await factsAt(opened, stored).catch(() => undefined));
    if (fromStore?.bannerText.startsWith('Linux version ')) return fromStore;
    const found = await definitions(elf, names);
    const all = new Map(names.map((n) => [n, found.get(n) ?? null]));
    const read = await factsAt(opened, all);
    store?.define(all);
    return read;
  } finally {
    await elf.close();
  }
}

/** The facts of the open file `at`, its symbols defined where `defined` says. */
async function factsAt(at: { elf: ElfFile; file: string; arch: Arch; buildId?: string }, defined: ReadonlyMap<string, Definition | null>): Promise<VmlinuxFacts> {
  const { elf, file, arch, buildId } = at;
  const symbols = new Map<string, bigint>();
  const sizes = new Map<string, bigint>();
  for (const [name, d] of defined) {
    if (!d) continue;
    symbols.set(name, d.value);
    if (d.size > 0n) sizes.set(name, d.size);
  }
  const bannerAt = symbols.get('linux_banner');
  if (bannerAt === undefined) throw new Error(`${file} has no linux_banner symbol: is it a vmlinux?`);
  const length = Number(sizes.get('linux_banner') ?? BigInt(maxBanner));
  const raw = await readAtAddress(elf, file, bannerAt, Math.min(length, maxBanner), 'linux_banner');
  const fileHead = await readAtAddress(elf, file, symbols.get('_text') ?? bannerAt, headLength, '_text');
  const fileWords = new Map<string, readonly [bigint, bigint]>();
  const early = bootFacts(arch).kaslr.earlyStop;
  const pointer = early.kind === 'decompressor-exit' ? symbols.get(early.pointer) : undefined;
  if (early.kind === 'decompressor-exit' && pointer !== undefined) {
    const w = await readAtAddress(elf, file, pointer, 16, early.pointer);
    if (w.length === 16) fileWords.set(early.pointer, [w.readBigUInt64LE(0), w.readBigUInt64LE(8)]);
  }
  const nul = raw.indexOf(0);
  const banner = nul < 0 ? raw : raw.subarray(0, nul);
  const unmovedSections = elf.sections.filter((s) => (s.flags & SHF_ALLOC) !== 0n && s.addr === 0n && s.size > 0n && s.name !== '').map((s) => s.name);
  return { file, arch, buildId, symbols, sizes, banner, bannerText: banner.toString('latin1').trimEnd(), fileHead, fileWords, unmovedSections };
}

/** `length` bytes of the file where the section holding link address `at` keeps them. */
async function readAtAddress(elf: ElfFile, file: string, at: bigint, length: number, what: string): Promise<Buffer> {
  const section = elf.sections.find((s) => s.type !== SHT_NOBITS && s.addr > 0n && at >= s.addr && at < s.addr + s.size);
  if (!section) throw new Error(`${file}: ${what} (0x${at.toString(16)}) is in no section with contents`);
  const out = Buffer.alloc(length);
  const fh = await fs.open(file, 'r');
  try {
    const { bytesRead } = await fh.read(out, 0, length, Number(section.offset + (at - section.addr)));
    return out.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
