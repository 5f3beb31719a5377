/**
 * x86_64 4- and 5-level paging (Intel SDM vol. 3 §4.5; the kernel's arch/x86/include/asm/pgtable_types.h).
 * Entries are 8 bytes, 512 per 4 KiB table, 9 VA bits per level above the 12-bit page offset.
 */
import {
  LINUX_LEVELS,
  TranslationFault,
  accessName,
  bit,
  field,
  hex,
  maskBits,
  sizeName,
  type DecodedEntry,
  type MappingSummary,
  type PagingConfig,
  type PagingHooks,
  type PagingOverride,
  type TableLevel,
  type WalkPlan,
  type WalkedEntry,
} from '../arch';

export interface X86PagingConfig extends PagingConfig {
  readonly arch: 'x86_64';
  /** CR3 as read, or null when the target cannot give it (then a root must be passed). */
  readonly cr3: bigint | null;
  readonly la57: boolean;
  readonly pti: boolean;
  /** CR4.SMEP: the kernel cannot execute user pages. */
  readonly smep: boolean;
  readonly pat: bigint;
}

/**
 * What Linux writes to IA32_PAT at boot (arch/x86/mm/pat/memtype.c, since v4.2): entries
 * WB WC UC- UC WB WP UC- WT. The gdbstub exposes no MSRs, so this stands in unless the override
 * gives the real value (Xen guests and `nopat` differ).
 */
const LINUX_PAT = 0x0407050600070106n;

const CR4_LA57 = 12;
const CR4_SMEP = 20;

/** Physical address bits 51:12 of an entry or of CR3. */
const ADDRESS_HI = 51;
const PAGE_SHIFT = 12;

/** With PTI the PGD is an 8 KiB pair: kernel half first, user half at +PAGE_SIZE (PTI_USER_PGTABLE_BIT). */
const PTI_USER_PGTABLE_BIT = 12;

/** Single-bit flags in the order the SDM lists them; bit 7 and bit 12 depend on the level. */
const FLAG_BITS: ReadonlyArray<readonly [number, string]> = [
  [0, 'P'],
  [1, 'RW'],
  [2, 'US'],
  [3, 'PWT'],
  [4, 'PCD'],
  [5, 'A'],
  [6, 'D'],
];

const PAT_TYPES: Readonly<Record<number, string>> = { 0: 'UC', 1: 'WC', 4: 'WT', 5: 'WP', 6: 'WB', 7: 'UC-' };

function levels(la57: boolean): TableLevel[] {
  const names = LINUX_LEVELS[la57 ? 5 : 4];
  return names.map((linuxName, i) => {
    const hw = names.length - i;
    return { name: linuxName, linuxName, hw, shift: PAGE_SHIFT + 9 * (hw - 1), entries: 512, pageShift: PAGE_SHIFT };
  });
}

function wantLa57(registers: ReadonlyMap<string, bigint>, o: PagingOverride): boolean {
  if (o.la57 !== undefined) return o.la57;
  if (o.levels !== undefined) {
    if (o.levels !== 4 && o.levels !== 5) throw new TranslationFault(`x86_64 has 4 or 5 paging levels, not ${o.levels}`);
    return o.levels === 5;
  }
  if (o.vaBits !== undefined) {
    if (o.vaBits !== 48 && o.vaBits !== 57) throw new TranslationFault(`x86_64 VAs are 48 or 57 bits, not ${o.vaBits}`);
    return o.vaBits === 57;
  }
  const cr4 = registers.get('cr4');
  if (cr4 === undefined) {
    throw new TranslationFault('cr4 is not available: say whether paging is 5-level (la57) in the config');
  }
  return bit(cr4, CR4_LA57);
}

/** Bits 63…(top VA bit) must all equal the top VA bit. */
function checkCanonical(va: bigint, la57: boolean): void {
  const top = la57 ? 56 : 47;
  const high = field(va, 63, top);
  if (high !== 0n && high !== (1n << BigInt(64 - top)) - 1n) {
    throw new TranslationFault(
      `${hex(va)} is not canonical for ${la57 ? 5 : 4}-level paging (bits 63:${top} must all be equal)`,
    );
  }
}

function decode(raw: bigint, level: TableLevel): DecodedEntry {
  const flags = FLAG_BITS.filter(([n]) => bit(raw, n)).map(([, name]) => name);
  const ps = bit(raw, 7);
  if (ps) flags.push(level.hw === 1 ? 'PAT' : 'PS');
  if (bit(raw, 8)) flags.push('G');
  const leaf = level.hw === 1 || ps;
  const large = leaf && level.hw > 1;
  if (large && bit(raw, 12)) flags.push('PAT');
  const pkey = field(raw, 62, 59);
  if (leaf && pkey !== 0n) flags.push(`PKEY=${pkey}`);
  if (bit(raw, 63)) flags.push('NX');

  const invalid = (descriptor: string, fault: string): DecodedEntry => ({
    raw, kind: 'invalid', descriptor, address: null, size: null, flags, fault,
  });
  if (!bit(raw, 0)) return invalid('not present', `${level.name} entry not present (P=0)`);
  if (ps && level.hw >= 4) {
    return invalid('reserved', `PS is reserved in a ${level.name} entry (no pages larger than 1 GiB)`);
  }
  if (!leaf) {
    return { raw, kind: 'table', descriptor: 'table', address: maskBits(raw, ADDRESS_HI, PAGE_SHIFT), size: null, flags, fault: null };
  }
  const size = 1n << BigInt(level.shift);
  // A large page's address starts at its own alignment; the bits between 13 and it are reserved.
  if (large && field(raw, level.shift - 1, 13) !== 0n) {
    return invalid('reserved', `reserved bits ${level.shift - 1}:13 set in a ${sizeName(size)} page entry`);
  }
  return {
    raw,
    kind: 'leaf',
    descriptor: large ? `${sizeName(size)} page` : 'page',
    address: maskBits(raw, ADDRESS_HI, level.shift),
    size,
    flags,
    fault: null,
  };
}

function summarize(path: readonly WalkedEntry[], config: X86PagingConfig): MappingSummary {
  const leaf = path[path.length - 1];
  const everywhere = (n: number) => path.every((p) => bit(p.entry.raw, n));
  // RW and US must be set at every level, NX at any level forbids execution (CR0.WP and EFER.NXE
  // are always on in Linux x86_64).
  const writable = everywhere(1);
  const user = everywhere(2);
  const noExec = path.some((p) => bit(p.entry.raw, 63));
  const raw = leaf.entry.raw;
  const patBit = leaf.level.hw === 1 ? bit(raw, 7) : bit(raw, 12);
  const patIndex = (patBit ? 4 : 0) | (bit(raw, 4) ? 2 : 0) | (bit(raw, 3) ? 1 : 0);
  const patType = Number(field(config.pat, patIndex * 8 + 2, patIndex * 8));
  const memoryType = PAT_TYPES[patType] ?? `PAT${patIndex}=reserved`;
  const kernel = { read: true, write: writable, exec: !noExec && !(user && config.smep) };
  const userAccess = { read: user, write: user && writable, exec: user && !noExec };
  const global = bit(raw, 8);
  const accessed = bit(raw, 5);
  const dirty = bit(raw, 6);
  const text = [
    `kernel ${accessName(kernel)}`,
    `user ${accessName(userAccess)}`,
    memoryType,
    ...(global ? ['global'] : []),
    ...(dirty ? ['dirty'] : []),
    ...(!accessed ? ['not accessed'] : []),
  ].join(', ');
  return {
    kernel,
    user: userAccess,
    memoryType,
    cacheable: memoryType === 'WB' || memoryType === 'WT' || memoryType === 'WP',
    global,
    accessed,
    dirty,
    contiguous: null,
    text,
  };
}

export const x86_64Paging: PagingHooks<X86PagingConfig> = {
  registers: ['cr3', 'cr4'],

  config(registers, override) {
    const cr4 = registers.get('cr4');
    return {
      arch: 'x86_64',
      cr3: registers.get('cr3') ?? null,
      la57: wantLa57(registers, override),
      pti: override.pti ?? false,
      smep: cr4 !== undefined && bit(cr4, CR4_SMEP),
      pat: override.pat ?? LINUX_PAT,
    };
  },

  plan(va, config, root): WalkPlan {
    checkCanonical(va, config.la57);
    if (root !== undefined) return { root, rootName: 'root', levels: levels(config.la57) };
    if (config.cr3 === null) throw new TranslationFault('cr3 is not available: pass the root table');
    // Bits 11:0 hold the PCID (or PWT/PCD); with PTI the kernel PGD is the even page of the pair.
    let base = maskBits(config.cr3, ADDRESS_HI, PAGE_SHIFT);
    if (config.pti) base &= ~(1n << BigInt(PTI_USER_PGTABLE_BIT));
    return { root: base, rootName: config.pti ? 'CR3 (kernel PGD)' : 'CR3', levels: levels(config.la57) };
  },

  levels: (config) => levels(config.la57),
  decode,
  summarize,
};
