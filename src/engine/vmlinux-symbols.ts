/**
 * The vmlinux's ELF symbol table, read in-process: every reader of it in the engine goes through
 * here. gdb answers `&prb` after expanding the debug info of the symbol's whole compilation unit
 * (20 ms for `prb`, once per session); the table gives the same link address, and kept per build
 * id (layout-cache.ts) it costs nothing in the next session.
 *
 * Only the names asked for are looked at, not the whole table (~120k symbols: building every
 * name costs ~100 ms of a CPU that gdb, loading the same file, wants too). A name the table
 * lacks is not the vmlinux's (gdb takes 150 ms to say so of `pcpu_hot`); a name it defines at
 * two addresses, as local statics of two files may be, is marked: gdb's scope rules decide those.
 */
import { ElfFile, SHN_UNDEF, SHT_SYMTAB, STT_FUNC, STT_NOTYPE, STT_OBJECT, type ElfSection } from '../oops/elf';

/** Where the table defines a name: its first definition, in table order. */
export interface Definition {
  readonly value: bigint;
  readonly size: bigint;
  /** Defined at another address too (statics of the same name in several files). */
  readonly twice: boolean;
}

const ENTRY = 24;

/** The .symtab of a 64-bit file and its strings; undefined for a file without one. */
async function rawTable(elf: ElfFile): Promise<{ raw: Buffer; strings: Buffer; le: boolean } | undefined> {
  const tab: ElfSection | undefined = elf.sections.find((s) => s.type === SHT_SYMTAB);
  const strs = tab && elf.sections[tab.link];
  if (!tab || !strs || elf.header.class !== 64) return undefined;
  const [raw, strings] = await Promise.all([elf.readSection(tab), elf.readSection(strs)]);
  return { raw, strings, le: elf.header.littleEndian };
}

/** A data or code symbol defined in the file (not a section, file or undefined symbol). */
function defined(raw: Buffer, at: number, le: boolean): boolean {
  const type = raw[at + 4] & 0xf;
  const shndx = le ? raw.readUInt16LE(at + 6) : raw.readUInt16BE(at + 6);
  return (type === STT_OBJECT || type === STT_FUNC || type === STT_NOTYPE) && shndx !== SHN_UNDEF;
}

/**
 * The definitions of `names` in an open vmlinux: a name its table lacks (or a file without a
 * table) is absent from the answer.
 */
export async function definitions(elf: ElfFile, names: Iterable<string>): Promise<Map<string, Definition>> {
  const found = new Map<string, Definition>();
  const table = await rawTable(elf);
  if (!table) return found;
  const { raw, strings, le } = table;
  // The wanted names by their first byte: most entries are passed over after one compare.
  const byFirst = new Map<number, Buffer[]>();
  for (const n of new Set(names)) {
    const b = Buffer.from(n, 'latin1');
    if (b.length === 0) continue;
    byFirst.set(b[0], [...(byFirst.get(b[0]) ?? []), b]);
  }
  for (let at = 0; at + ENTRY <= raw.length; at += ENTRY) {
    const start = le ? raw.readUInt32LE(at) : raw.readUInt32BE(at);
    const candidates = byFirst.get(strings[start]);
    if (!candidates || !defined(raw, at, le)) continue;
    for (const want of candidates) {
      if (strings[start + want.length] !== 0 || strings.compare(want, 0, want.length, start, start + want.length) !== 0) continue;
      const name = want.toString('latin1');
      const value = le ? raw.readBigUInt64LE(at + 8) : raw.readBigUInt64BE(at + 8);
      const had = found.get(name);
      if (!had) found.set(name, { value, size: le ? raw.readBigUInt64LE(at + 16) : raw.readBigUInt64BE(at + 16), twice: false });
      else if (had.value !== value && !had.twice) found.set(name, { ...had, twice: true });
    }
  }
  return found;
}

/**
 * Link addresses of `names` in the vmlinux at `path`: null for a name its symbol table lacks;
 * a name it holds at two addresses is left out, and so is every name of a file without a table.
 */
export async function linkedAddresses(path: string, names: readonly string[]): Promise<Map<string, bigint | null>> {
  const elf = await ElfFile.open(path);
  try {
    if (!elf.sections.some((s) => s.type === SHT_SYMTAB) || elf.header.class !== 64) return new Map();
    const found = await definitions(elf, names);
    const out = new Map<string, bigint | null>();
    for (const n of names) {
      const d = found.get(n);
      if (!d) out.set(n, null);
      else if (!d.twice) out.set(n, d.value);
    }
    return out;
  } finally {
    await elf.close().catch(() => undefined);
  }
}

/** Every name a vmlinux defines, by its link address; null: defined at more than one address. */
export type SymbolTable = ReadonlyMap<string, bigint | null>;

/**
 * Every name the vmlinux at `path` defines, with its link address; null where it is defined at
 * more than one address (a static in several files: only gdb knows which one a scope means).
 * Undefined for a file without a table.
 */
export async function symbolTable(path: string): Promise<SymbolTable | undefined> {
  const elf = await ElfFile.open(path);
  try {
    const out = new Map<string, bigint | null>();
    const table = await rawTable(elf);
    if (!table) return undefined;
    const { raw, strings, le } = table;
    for (let at = 0; at + ENTRY <= raw.length; at += ENTRY) {
      if (!defined(raw, at, le)) continue;
      const start = le ? raw.readUInt32LE(at) : raw.readUInt32BE(at);
      const end = strings.indexOf(0, start);
      if (end <= start) continue;
      const name = strings.toString('latin1', start, end);
      const value = le ? raw.readBigUInt64LE(at + 8) : raw.readBigUInt64BE(at + 8);
      const had = out.get(name);
      out.set(name, had === undefined || had === value ? value : null);
    }
    return out;
  } finally {
    await elf.close().catch(() => undefined);
  }
}
