/**
 * arm64 VMSAv8-64 stage 1, EL1&0 regime (Arm ARM D8; the kernel's arch/arm64/include/asm/pgtable-hwdef.h).
 * 4K, 16K and 64K granules; 2 to 5 levels from the VA size; 52-bit output addresses through
 * FEAT_LPA (64K: OA[51:48] in descriptor bits 15:12) or FEAT_LPA2 (TCR.DS=1: OA[51:50] in bits 9:8).
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
  type Granule,
  type MappingSummary,
  type PagingConfig,
  type PagingHooks,
  type PagingOverride,
  type TableLevel,
  type WalkPlan,
  type WalkedEntry,
} from '../arch';

/** TCR_EL1 fields the walk uses. TG0 and TG1 encode the granule differently. */
export interface Tcr {
  readonly t0sz: number;
  readonly t1sz: number;
  /** Null for a reserved encoding. */
  readonly tg0: Granule | null;
  readonly tg1: Granule | null;
  /** Physical address size from IPS, null if reserved. */
  readonly ipsBits: number | null;
  /** A1: the ASID comes from TTBR1 rather than TTBR0. */
  readonly a1: boolean;
  readonly epd0: boolean;
  readonly epd1: boolean;
  readonly sh0: number;
  readonly sh1: number;
  readonly tbi0: boolean;
  readonly tbi1: boolean;
  readonly ha: boolean;
  readonly hd: boolean;
  readonly hpd0: boolean;
  readonly hpd1: boolean;
  readonly ds: boolean;
}

const TG0: Readonly<Record<number, Granule>> = { 0: 4096, 1: 65536, 2: 16384 };
const TG1: Readonly<Record<number, Granule>> = { 1: 16384, 2: 4096, 3: 65536 };
const IPS_BITS = [32, 36, 40, 42, 44, 48, 52];

export function decodeTcr(tcr: bigint): Tcr {
  const n = (hi: number, lo: number) => Number(field(tcr, hi, lo));
  return {
    t0sz: n(5, 0),
    t1sz: n(21, 16),
    tg0: TG0[n(15, 14)] ?? null,
    tg1: TG1[n(31, 30)] ?? null,
    ipsBits: IPS_BITS[n(34, 32)] ?? null,
    a1: bit(tcr, 22),
    epd0: bit(tcr, 7),
    epd1: bit(tcr, 23),
    sh0: n(13, 12),
    sh1: n(29, 28),
    tbi0: bit(tcr, 37),
    tbi1: bit(tcr, 38),
    ha: bit(tcr, 39),
    hd: bit(tcr, 40),
    hpd0: bit(tcr, 41),
    hpd1: bit(tcr, 42),
    ds: bit(tcr, 59),
  };
}

/** One half (outer or inner) of a Normal attribute: 0b00RW WT-transient, 0b0100 NC, 0b01RW WB-transient, 0b10RW WT, 0b11RW WB. */
function cachePolicy(nibble: number): string {
  const kind = nibble >> 2;
  const allocate = nibble & 0b11;
  if (kind === 1 && allocate === 0) return 'NC';
  if (kind <= 1 && allocate === 0) return 'reserved';
  return ['WT-transient', 'WB-transient', 'WT', 'WB'][kind];
}

const DEVICE_TYPES: Readonly<Record<number, string>> = {
  0x00: 'Device-nGnRnE',
  0x04: 'Device-nGnRE',
  0x08: 'Device-nGRE',
  0x0c: 'Device-GRE',
};

/** A MAIR_EL1 attribute byte as a memory type. */
export function memoryTypeName(attr: number): { name: string; cacheable: boolean | null } {
  if (attr === 0xf0) return { name: 'Normal Tagged', cacheable: true }; // FEAT_MTE2: tagged Normal WB
  // FEAT_XS: inner nibble 0 with these outer values means the XS attribute is 0.
  if (attr === 0x40) return { name: 'Normal NC (XS=0)', cacheable: false };
  if (attr === 0xa0) return { name: 'Normal WT (XS=0)', cacheable: true };
  if (attr >> 4 === 0) {
    const device = DEVICE_TYPES[attr];
    return device ? { name: device, cacheable: false } : { name: `MAIR attr 0x${attr.toString(16)}`, cacheable: null };
  }
  const outer = cachePolicy(attr >> 4);
  const inner = cachePolicy(attr & 0xf);
  const name = outer === inner ? `Normal ${outer}` : `Normal inner ${inner} outer ${outer}`;
  return { name, cacheable: !(outer === 'NC' && inner === 'NC') && outer !== 'reserved' && inner !== 'reserved' };
}

/** The translation set up for one half of the VA space. */
export interface Arm64Half {
  readonly ttbr: 'TTBR0_EL1' | 'TTBR1_EL1';
  /** Table base from the TTBR (ASID and CnP removed), or null when the target cannot give it. */
  readonly root: bigint | null;
  readonly granule: Granule;
  /** 64 − TnSZ. */
  readonly vaBits: number;
  /** TBIn: the top byte is a tag and takes no part in translation. */
  readonly tbi: boolean;
  /** EPDn: walks through this TTBR are disabled. */
  readonly disabled: boolean;
  /** HPDn: table descriptors' APTable/XNTable bits are ignored. */
  readonly hpd: boolean;
  /** SHn: shareability of every mapping when DS=1 takes the descriptor's SH bits for the address. */
  readonly sh: number;
}

export interface Arm64PagingConfig extends PagingConfig {
  readonly arch: 'arm64';
  readonly ttbr0: Arm64Half;
  readonly ttbr1: Arm64Half;
  /** From TCR.IPS. */
  readonly paBits: number;
  /** TCR.DS: LPA2 descriptors for 4K and 16K granules. */
  readonly ds: boolean;
  readonly mair: bigint | null;
  /** SCTLR_EL1.WXN: writable memory is never executable. */
  readonly wxn: boolean;
}

const SCTLR_WXN = 19;
const SH_NAMES = ['non-shareable', 'reserved shareability', 'outer shareable', 'inner shareable'];

/** Table base held in a TTBR: BADDR[47:1], with a 52-bit PA also BADDR[51:48] in TTBR[5:2]. */
function ttbrBase(ttbr: bigint, pa52: boolean): bigint {
  if (!pa52) return maskBits(ttbr, 47, 1);
  return maskBits(ttbr, 47, 6) | (field(ttbr, 5, 2) << 48n);
}

function pageShiftOf(granule: Granule): number {
  return granule === 4096 ? 12 : granule === 16384 ? 14 : 16;
}

/** 52-bit output addresses are in use: 64K with a 52-bit PA (FEAT_LPA), or DS=1 (FEAT_LPA2). */
function pa52(c: { paBits: number; ds: boolean }, granule: Granule): boolean {
  return c.ds || (granule === 65536 && c.paBits === 52);
}

/** Levels for one granule and VA size: each level resolves PAGE_SHIFT − 3 bits; the top may be short. */
function arm64Levels(granule: Granule, vaBits: number, ds: boolean): TableLevel[] {
  const pageShift = pageShiftOf(granule);
  const stride = pageShift - 3;
  if (vaBits > 48 && granule !== 65536 && !ds) {
    throw new TranslationFault(`${vaBits}-bit VAs with ${sizeName(BigInt(granule))} pages need TCR_EL1.DS (LPA2)`);
  }
  const count = Math.ceil((vaBits - pageShift) / stride);
  if (count < 2 || count > 5 || (count === 5 && granule !== 4096) || vaBits > 52) {
    throw new TranslationFault(`no arm64 translation with ${sizeName(BigInt(granule))} pages and ${vaBits}-bit VAs`);
  }
  const names = LINUX_LEVELS[count as 2 | 3 | 4 | 5];
  return names.map((linuxName, i) => {
    const hw = 4 - count + i;
    const shift = pageShift + stride * (3 - hw);
    const entries = i === 0 ? 2 ** (vaBits - shift) : 2 ** stride;
    return { name: `L${hw}`, linuxName, hw, shift, entries, pageShift };
  });
}

function granuleFromOverride(o: PagingOverride): Granule {
  if (o.granule === undefined) {
    throw new TranslationFault('TCR_EL1 is not available: give the granule (page size) and VA bits in the config');
  }
  return o.granule;
}

/** VA bits from the override: given, or the most the levels can resolve (48, or 52 with 52-bit formats). */
function vaBitsFromOverride(o: PagingOverride, granule: Granule, ds: boolean, paBits: number): number | undefined {
  const pageShift = pageShiftOf(granule);
  const most = pa52({ paBits, ds }, granule) ? 52 : 48;
  const fromLevels = o.levels === undefined ? undefined : Math.min(pageShift + o.levels * (pageShift - 3), most);
  if (o.vaBits !== undefined && fromLevels !== undefined) {
    const actual = arm64Levels(granule, o.vaBits, ds).length;
    if (actual !== o.levels) {
      throw new TranslationFault(`${o.vaBits}-bit VAs with ${sizeName(BigInt(granule))} pages take ${actual} levels, not ${o.levels}`);
    }
  }
  return o.vaBits ?? fromLevels;
}

function config(registers: ReadonlyMap<string, bigint>, o: PagingOverride): Arm64PagingConfig {
  const tcrValue = registers.get('TCR_EL1');
  const tcr = tcrValue === undefined ? undefined : decodeTcr(tcrValue);
  const ds = o.lpa2 ?? tcr?.ds ?? false;
  const paBits = o.paBits ?? (tcr ? tcr.ipsBits : ds ? 52 : 48);
  if (paBits === null) throw new TranslationFault('TCR_EL1.IPS holds a reserved physical address size');
  const mair = o.mair ?? registers.get('MAIR_EL1') ?? null;
  const sctlr = registers.get('SCTLR');
  const half = (n: 0 | 1): Arm64Half => {
    const ttbr = n === 0 ? 'TTBR0_EL1' : 'TTBR1_EL1';
    const granule = o.granule ?? (tcr ? (n === 0 ? tcr.tg0 : tcr.tg1) : granuleFromOverride(o));
    if (granule === null) throw new TranslationFault(`TCR_EL1.TG${n} holds a reserved granule encoding`);
    const vaBits =
      vaBitsFromOverride(o, granule, ds, paBits) ??
      (tcr ? 64 - (n === 0 ? tcr.t0sz : tcr.t1sz) : undefined);
    if (vaBits === undefined) throw new TranslationFault('TCR_EL1 is not available: give the VA bits or levels in the config');
    const ttbrValue = registers.get(ttbr);
    return {
      ttbr,
      root: ttbrValue === undefined ? null : ttbrBase(ttbrValue, pa52({ paBits, ds }, granule)),
      granule,
      vaBits,
      // Without TCR: Linux always sets TBI0 (user tags) and TBI1 only for KASAN tag modes.
      tbi: tcr ? (n === 0 ? tcr.tbi0 : tcr.tbi1) : n === 0,
      disabled: tcr ? (n === 0 ? tcr.epd0 : tcr.epd1) : false,
      hpd: tcr ? (n === 0 ? tcr.hpd0 : tcr.hpd1) : false,
      sh: tcr ? (n === 0 ? tcr.sh0 : tcr.sh1) : 3,
    };
  };
  return { arch: 'arm64', ttbr0: half(0), ttbr1: half(1), paBits, ds, mair, wxn: sctlr !== undefined && bit(sctlr, SCTLR_WXN) };
}

/** VA[55] picks the TTBR; the bits above the VA size (below the tag, with TBI) must copy it. */
function plan(va: bigint, c: Arm64PagingConfig, root: bigint | undefined): WalkPlan {
  const upper = bit(va, 55);
  const half = upper ? c.ttbr1 : c.ttbr0;
  const top = half.tbi ? 55 : 63;
  const high = field(va, top, half.vaBits);
  if (high !== (upper ? (1n << BigInt(top - half.vaBits + 1)) - 1n : 0n)) {
    const lowEnd = (1n << BigInt(c.ttbr0.vaBits)) - 1n;
    const highStart = ((1n << 64n) - 1n) ^ ((1n << BigInt(c.ttbr1.vaBits)) - 1n);
    throw new TranslationFault(
      `${hex(va)} is in neither TTBR0_EL1 (0x0–${hex(lowEnd)}) nor TTBR1_EL1 (${hex(highStart)}–0xffffffffffffffff)`,
    );
  }
  const levels = arm64Levels(half.granule, half.vaBits, c.ds);
  // An explicit root (say a task's mm->pgd) is walked whatever the CPU's TCR allows right now.
  if (root !== undefined) return { root, rootName: 'root', levels };
  if (half.disabled) throw new TranslationFault(`walks through ${half.ttbr} are disabled (TCR_EL1.EPD${upper ? 1 : 0})`);
  if (half.root === null) throw new TranslationFault(`${half.ttbr} is not available: pass the root table`);
  return { root: half.root, rootName: half.ttbr, levels };
}

/** Blocks exist at L2 always, at L1 with 4K (or any granule with 52-bit formats), at L0 only for 4K with DS. */
function blockAllowed(level: TableLevel, c: Arm64PagingConfig): boolean {
  const granule4k = level.pageShift === 12;
  if (level.hw === 2) return true;
  if (level.hw === 1) return granule4k || c.ds || (level.pageShift === 16 && c.paBits === 52);
  if (level.hw === 0) return granule4k && c.ds;
  return false;
}

/** Output address of a block/page (aligned to `lowBit`) or of the next table (`lowBit` = PAGE_SHIFT). */
function outputAddress(raw: bigint, lowBit: number, pageShift: number, ds: boolean): bigint {
  if (pageShift === 16) return maskBits(raw, 47, lowBit) | (field(raw, 15, 12) << 48n);
  if (ds) return maskBits(raw, 49, lowBit) | (field(raw, 9, 8) << 50n);
  return maskBits(raw, 47, lowBit);
}

/** Entries in a contiguous run (the CONT bit's meaning), by granule and level. */
function contiguousRun(level: TableLevel): bigint {
  if (level.pageShift === 12) return 16n;
  if (level.pageShift === 14) return level.hw === 3 ? 128n : 32n;
  return 32n;
}

function leafFlags(raw: bigint, c: Arm64PagingConfig): string[] {
  const flags = [`AttrIndx=${field(raw, 4, 2)}`];
  if (bit(raw, 5)) flags.push('NS');
  flags.push(`AP=${field(raw, 7, 6)}`);
  if (!c.ds) flags.push(`SH=${field(raw, 9, 8)}`);
  const named: ReadonlyArray<readonly [number, string]> = [
    [10, 'AF'], [11, 'nG'], [50, 'GP'], [51, 'DBM'], [52, 'CONT'], [53, 'PXN'], [54, 'UXN'],
    // Software bits the kernel owns (pgtable-prot.h).
    [55, 'PTE_DIRTY'], [56, 'PTE_SPECIAL'],
  ];
  return flags.concat(named.filter(([n]) => bit(raw, n)).map(([, name]) => name));
}

function tableFlags(raw: bigint): string[] {
  const flags: string[] = [];
  if (bit(raw, 59)) flags.push('PXNTable');
  if (bit(raw, 60)) flags.push('UXNTable');
  const apTable = field(raw, 62, 61);
  if (apTable !== 0n) flags.push(`APTable=${apTable}`);
  if (bit(raw, 63)) flags.push('NSTable');
  return flags;
}

function decode(raw: bigint, level: TableLevel, c: Arm64PagingConfig): DecodedEntry {
  const invalid = (descriptor: string, fault: string): DecodedEntry => ({
    raw, kind: 'invalid', descriptor, address: null, size: null, flags: [], fault,
  });
  if (!bit(raw, 0)) return invalid('invalid', `${level.name} descriptor invalid (bit 0 clear)`);
  const last = level.hw === 3;
  const isTable = bit(raw, 1) && !last;
  if (!bit(raw, 1) && last) return invalid('reserved', 'descriptor type 0b01 is reserved at L3');
  if (!bit(raw, 1) && !blockAllowed(level, c)) {
    return invalid('reserved', `no block descriptors at ${level.name} with ${sizeName(1n << BigInt(level.pageShift))} pages`);
  }
  const low = isTable ? level.pageShift : level.shift;
  const address = outputAddress(raw, low, level.pageShift, c.ds);
  if (address >> BigInt(c.paBits) !== 0n) {
    return invalid('address size', `${hex(address)} is beyond the ${c.paBits}-bit physical address size (TCR_EL1.IPS)`);
  }
  if (isTable) {
    return { raw, kind: 'table', descriptor: 'table', address, size: null, flags: tableFlags(raw), fault: null };
  }
  const size = 1n << BigInt(level.shift);
  const descriptor = last ? 'page' : `${sizeName(size)} block`;
  return { raw, kind: 'leaf', descriptor, address, size, flags: leafFlags(raw, c), fault: null };
}

function summarize(path: readonly WalkedEntry[], c: Arm64PagingConfig, va: bigint | undefined): MappingSummary {
  const leaf = path[path.length - 1];
  const raw = leaf.entry.raw;
  const half = va === undefined || bit(va, 55) ? c.ttbr1 : c.ttbr0;
  const tables = half.hpd ? [] : path.slice(0, -1).map((p) => p.entry.raw);
  const fromTables = (n: number) => tables.some((t) => bit(t, n));
  // AP[2] (bit 7) = read-only, AP[1] (bit 6) = EL0 access; APTable[1] (62) and [0] (61) take them away below.
  const readOnly = bit(raw, 7) || fromTables(62);
  const el0 = bit(raw, 6) && !fromTables(61);
  const el0Write = el0 && !readOnly;
  const wxn = c.wxn && !readOnly;
  const kernel = {
    read: true,
    write: !readOnly,
    // Memory writable at EL0 is always privileged execute-never.
    exec: !bit(raw, 53) && !fromTables(59) && !el0Write && !wxn,
  };
  const user = { read: el0, write: el0Write, exec: !bit(raw, 54) && !fromTables(60) && !wxn };
  const attrIndx = Number(field(raw, 4, 2));
  const type = c.mair === null ? null : memoryTypeName(Number(field(c.mair, attrIndx * 8 + 7, attrIndx * 8)));
  const memoryType = type?.name ?? `AttrIndx=${attrIndx}`;
  const sh = c.ds ? half.sh : Number(field(raw, 9, 8));
  const global = !bit(raw, 11);
  const accessed = bit(raw, 10);
  // pte_dirty(): the software bit, or hardware DBM with AP[2] clear (the CPU clears AP[2] on write).
  const dirty = bit(raw, 55) || (bit(raw, 51) && !bit(raw, 7));
  const contiguous = bit(raw, 52) ? (leaf.entry.size ?? 0n) * contiguousRun(leaf.level) : null;
  const text = [
    `kernel ${accessName(kernel)}`,
    `user ${accessName(user)}`,
    memoryType,
    SH_NAMES[sh],
    ...(global ? ['global'] : []),
    ...(dirty ? ['dirty'] : []),
    ...(!accessed ? ['not accessed (AF=0)'] : []),
    ...(contiguous !== null ? [`contiguous ${sizeName(contiguous)}`] : []),
  ].join(', ');
  return {
    kernel, user, memoryType, cacheable: type?.cacheable ?? null, global, accessed, dirty, contiguous, text,
  };
}

export const arm64Paging: PagingHooks<Arm64PagingConfig> = {
  registers: ['TTBR0_EL1', 'TTBR1_EL1', 'TCR_EL1', 'MAIR_EL1', 'SCTLR'],
  config,
  plan,
  levels: (c) => arm64Levels(c.ttbr1.granule, c.ttbr1.vaBits, c.ds),
  decode,
  summarize,
};
