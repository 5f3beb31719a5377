/**
 * Where the vmlinux links some of its symbols, read from its ELF symbol table in-process. gdb
 * answers `&prb` after expanding the debug info of the symbol's whole compilation unit (20 ms
 * for `prb`, once per session); the table gives the same link address, and kept per build id
 * (layout-cache.ts) it costs nothing in the next session.
 *
 * Only the names asked for are looked at, not the whole table (~120k symbols: building every
 * name costs ~200 ms). A name the table lacks is not the vmlinux's (gdb takes 150 ms to say so
 * of `pcpu_hot`); a name it defines at two addresses, as local statics of two files may be, is
 * left out: gdb's scope rules decide those.
 */
import { ElfFile, SHN_UNDEF, SHT_SYMTAB, STT_FUNC, STT_NOTYPE, STT_OBJECT } from '../oops/elf';

/** Two addresses for one name (no symbol is linked at the very top of the address space). */
const AMBIGUOUS = (1n << 64n) - 1n;

/**
 * Link addresses of `names` in the vmlinux at `path`: null for a name its symbol table lacks;
 * a name it holds at two addresses is left out, and so is every name of a file without a table.
 */
export async function linkedAddresses(path: string, names: readonly string[]): Promise<Map<string, bigint | null>> {
  const elf = await ElfFile.open(path);
  try {
    const tab = elf.sections.find((s) => s.type === SHT_SYMTAB);
    const strs = tab && elf.sections[tab.link];
    if (!tab || !strs || elf.header.class !== 64 || !elf.header.littleEndian) return new Map();
    const out = new Map<string, bigint | null>(names.map((n) => [n, null]));
    const [raw, strings] = await Promise.all([elf.readSection(tab), elf.readSection(strs)]);
    // The wanted names by their first byte: most entries are passed over after one compare.
    const byFirst = new Map<number, Buffer[]>();
    for (const n of new Set(names)) {
      const b = Buffer.from(n, 'latin1');
      if (b.length === 0) continue;
      byFirst.set(b[0], [...(byFirst.get(b[0]) ?? []), b]);
    }
    const found = new Map<string, bigint | null>();
    for (let at = 0; at + 24 <= raw.length; at += 24) {
      const start = raw.readUInt32LE(at);
      const candidates = byFirst.get(strings[start]);
      if (!candidates) continue;
      const type = raw[at + 4] & 0xf;
      if ((type !== STT_OBJECT && type !== STT_FUNC && type !== STT_NOTYPE) || raw.readUInt16LE(at + 6) === SHN_UNDEF) continue;
      for (const want of candidates) {
        if (strings[start + want.length] !== 0 || strings.compare(want, 0, want.length, start, start + want.length) !== 0) continue;
        const name = want.toString('latin1');
        const value = raw.readBigUInt64LE(at + 8);
        const had = found.get(name);
        found.set(name, had === undefined || had === value ? value : AMBIGUOUS);
      }
    }
    for (const [n, v] of found) {
      if (v === AMBIGUOUS) out.delete(n);
      else out.set(n, v);
    }
    return out;
  } finally {
    await elf.close().catch(() => undefined);
  }
}
