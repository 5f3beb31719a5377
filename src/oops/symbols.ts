/**
 * `func+0xoff/0xsize` → candidate symbols, with the rules of the kernel's scripts/faddr2line:
 *
 * - candidates are all symbols with that name (mainline; 6.1 only looked at FUNC, see `funcOnly`);
 * - a candidate's size is the kallsyms size, not `st_size`: the distance to the next symbol of
 *   the same section, skipping symbols that start inside the candidate (distance < `st_size`),
 *   symbols at the same address, and arm/riscv mapping symbols (`$x`, `$d`, `.L*`, `L0*`);
 *   the last symbol of a section extends to the end of the section;
 * - a `/size` given in the log must equal that size, and the offset may not exceed it
 *   (offset == size is accepted, as the script does);
 * - every surviving candidate is returned (duplicate static functions are common);
 * - for ET_REL objects (.ko) the address is section-relative and the section name is returned,
 *   which is what `addr2line --section` needs.
 *
 * Two deliberate differences from the script: the end of the last symbol is the section's end
 * address (the script subtracts an absolute address from a size for vmlinux), and an address
 * of 0 is not rejected (it is legitimate for the first function of a module's `.text`).
 */
import { ElfFile, ET_REL, SHN_UNDEF, STT_FILE, STT_FUNC, STT_SECTION } from './elf';
import type { ElfHeader, ElfSection, ElfSymbol } from './elf';

export interface SymbolTable {
  header: ElfHeader;
  sections: readonly ElfSection[];
  symbols: readonly ElfSymbol[];
  byName: ReadonlyMap<string, readonly ElfSymbol[]>;
  /** Per section index, symbols sorted by address (mapping symbols left out). */
  bySection: ReadonlyMap<number, readonly ElfSymbol[]>;
  buildId: string | undefined;
}

export interface SymbolMatch {
  symbol: ElfSymbol;
  section: ElfSection;
  /** kallsyms size: what the kernel prints after the `/`. */
  size: bigint;
  offset: bigint;
  /** symbol value + offset (section-relative for ET_REL). */
  address: bigint;
  /** Set for ET_REL objects: the section to hand to addr2line. */
  sectionName: string | undefined;
}

export interface SkippedCandidate {
  symbol: ElfSymbol;
  reason: string;
}

export interface LookupResult {
  matches: SymbolMatch[];
  /** Candidates rejected and why (faddr2line prints these when nothing matched). */
  skipped: SkippedCandidate[];
}

export interface LookupOptions {
  /** Only FUNC symbols, as Linux 6.1's faddr2line did. */
  funcOnly?: boolean;
}

/** Mapping symbols mark code/data runs on arm, arm64 and riscv; kallsyms ignores them. */
export function isMappingSymbol(name: string): boolean {
  return name.startsWith('$') || name.startsWith('.L') || name.startsWith('L0');
}

function inSection(s: ElfSymbol): boolean {
  return s.shndx !== SHN_UNDEF && !s.special;
}

export function buildSymbolTable(
  header: ElfHeader,
  sections: readonly ElfSection[],
  symbols: readonly ElfSymbol[],
  buildId?: string,
): SymbolTable {
  const byName = new Map<string, ElfSymbol[]>();
  const bySection = new Map<number, ElfSymbol[]>();
  for (const s of symbols) {
    if (s.name !== '') {
      const list = byName.get(s.name);
      if (list) list.push(s);
      else byName.set(s.name, [s]);
    }
    if (!inSection(s) || s.type === STT_FILE || isMappingSymbol(s.name)) continue;
    const list = bySection.get(s.shndx);
    if (list) list.push(s);
    else bySection.set(s.shndx, [s]);
  }
  for (const list of bySection.values()) list.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : a.index - b.index));
  return { header, sections, symbols, byName, bySection, buildId };
}

/** `onOpen` learns the header and sections before the symbols are read (the slow part). */
export async function loadSymbolTable(path: string, onOpen?: (header: ElfHeader, sections: readonly ElfSection[]) => void): Promise<SymbolTable> {
  const elf = await ElfFile.open(path);
  try {
    onOpen?.(elf.header, elf.sections);
    const [symbols, buildId] = await Promise.all([elf.symbols(), elf.buildId()]);
    return buildSymbolTable(elf.header, elf.sections, symbols, buildId);
  } finally {
    await elf.close();
  }
}

/** First index in `list` whose value is greater than `value` (binary search). */
function firstAfter(list: readonly ElfSymbol[], value: bigint): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].value <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The size kallsyms would report for `sym`, or undefined when it lives in no section. */
export function kallsymsSize(table: SymbolTable, sym: ElfSymbol): bigint | undefined {
  const section = table.sections[sym.shndx];
  if (!inSection(sym) || !section) return undefined;
  const list = table.bySection.get(sym.shndx) ?? [];
  for (let i = firstAfter(list, sym.value); i < list.length; i++) {
    const distance = list[i].value - sym.value;
    if (distance >= sym.size) return distance;
  }
  return section.addr + section.size - sym.value;
}

export function lookupFuncOffset(
  table: SymbolTable,
  name: string,
  offset: bigint,
  size?: bigint,
  options: LookupOptions = {},
): LookupResult {
  const result: LookupResult = { matches: [], skipped: [] };
  for (const sym of table.byName.get(name) ?? []) {
    if (options.funcOnly && sym.type !== STT_FUNC) continue;
    if (sym.type === STT_FILE || sym.type === STT_SECTION) continue;
    const section = table.sections[sym.shndx];
    const symSize = kallsymsSize(table, sym);
    if (!section || symSize === undefined) {
      result.skipped.push({ symbol: sym, reason: `not in a section (shndx ${sym.shndx})` });
      continue;
    }
    if (size !== undefined && size !== symSize) {
      result.skipped.push({ symbol: sym, reason: `size mismatch (0x${size.toString(16)} != 0x${symSize.toString(16)})` });
      continue;
    }
    if (offset > symSize) {
      result.skipped.push({ symbol: sym, reason: `offset 0x${offset.toString(16)} beyond size 0x${symSize.toString(16)}` });
      continue;
    }
    result.matches.push({
      symbol: sym,
      section,
      size: symSize,
      offset,
      address: sym.value + offset,
      sectionName: table.header.type === ET_REL ? section.name : undefined,
    });
  }
  return result;
}
