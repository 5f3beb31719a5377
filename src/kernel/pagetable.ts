/**
 * Page-table walks as the kernel sees them (arch/x86/mm/pgtable.c, arch/arm64/mm/mmu.c;
 * `pgd_offset` … `pte_offset_kernel`), for any arch through the hooks of arch/<name>/pagetable.ts.
 *
 * Cost model: one 8-byte `readPhysical` per level and nothing else. A QEMU gdbstub round trip is
 * about 0.05 s whatever the size, but a kgdb line at 115200 baud moves ~5 KB/s of hex, so reading
 * whole 4 KiB tables would turn a 4-read walk into seconds.
 */
import { archOps } from './arch';
import {
  TranslationFault,
  hex,
  type HexString,
  type DecodedEntry,
  type LinuxLevel,
  type MappingSummary,
  type PagingOverride,
  type TableLevel,
  type WalkedEntry,
} from './arch/arch';
import { physToVirt, type DirectMap } from './memory-model';
import { FaultError, type Arch, type Target } from './target';

export type { LinuxLevel, MappingSummary, PagingOverride } from './arch/arch';

export interface WalkOptions {
  /** Read the paging registers of this CPU (0-based). Default: CPU 0, unless `config` is given. */
  cpu?: number;
  /** Physical address of the top-level table, e.g. `__pa(mm->pgd)`; replaces the register's. */
  root?: bigint;
  /** Stands in for (or corrects) the registers: needed under kgdb, which exposes none. */
  config?: PagingOverride;
  /** When known, each entry also gets its kernel virtual address through the direct map. */
  directMap?: DirectMap;
}

export interface WalkStep {
  /** The manual's name: x86 `PMD`, arm64 `L2`. */
  readonly level: string;
  /** The kernel's name for the same level in this configuration. */
  readonly linuxLevel: LinuxLevel;
  readonly index: number;
  readonly entryPhysical: bigint;
  /** Null when no direct map was given. */
  readonly entryVirtual: bigint | null;
  readonly raw: bigint;
  readonly kind: DecodedEntry['kind'];
  /** `table`, `2 MiB page`, `block`, `not present`… */
  readonly descriptor: string;
  readonly flags: readonly string[];
  /** Physical address of the next table, for table entries. */
  readonly next: bigint | null;
}

export interface Walk {
  readonly arch: Arch;
  readonly va: bigint;
  /** Physical address of the top-level table, once known. */
  readonly root: bigint | null;
  /** Where the root came from: `CR3`, `TTBR1_EL1`, `root`. */
  readonly rootName: string | null;
  readonly levels: readonly WalkStep[];
  readonly phys: bigint | null;
  /** Bytes mapped by the leaf entry. */
  readonly pageSize: bigint | null;
  readonly summary: MappingSummary | null;
  /** Why the walk stopped short; null when it reached a leaf. */
  readonly fault: string | null;
}

/**
 * Translates `va` by reading the page tables in guest-physical memory, the way the MMU would.
 * Never throws for what the MMU would refuse (non-present entry, non-canonical VA, unreadable
 * table, missing registers): that ends the walk with `fault` set. Errors of the target itself
 * (gdb gone) propagate.
 */
export async function walk(target: Target, va: bigint, options: WalkOptions = {}): Promise<Walk> {
  const hooks = archOps(target.arch).paging;
  const steps: WalkStep[] = [];
  const path: WalkedEntry[] = [];
  const result = (fields: Partial<Walk>): Walk => ({
    arch: target.arch, va, root: null, rootName: null, levels: steps,
    phys: null, pageSize: null, summary: null, fault: null, ...fields,
  });
  let planned: { root: bigint; rootName: string } | undefined;
  try {
    if (va < 0n || va >> 64n !== 0n) throw new TranslationFault(`${va} is not a 64-bit address`);
    const readRegisters = options.cpu !== undefined || options.config === undefined;
    const registers = readRegisters ? await target.registers(options.cpu ?? 0, hooks.registers) : new Map<string, bigint>();
    const config = hooks.config(registers, options.config ?? {});
    const plan = hooks.plan(va, config, options.root);
    planned = plan;
    const visited = new Set<bigint>();
    let table = plan.root;
    for (const level of plan.levels) {
      // A table met twice is corrupt (Linux never maps a table into itself); this and the
      // plan's fixed level count bound the walk whatever the memory holds.
      if (visited.has(table)) throw new TranslationFault(`${level.name} table ${hex(table)} was already walked: a loop`);
      visited.add(table);
      const index = Number((va >> BigInt(level.shift)) & BigInt(level.entries - 1));
      const entryPhysical = table + BigInt(index) * 8n;
      const raw = await readEntry(target, entryPhysical, level);
      const entry = hooks.decode(raw, level, config);
      steps.push(step(level, index, entryPhysical, entry, options.directMap));
      path.push({ level, entry });
      if (entry.kind === 'invalid') {
        throw new TranslationFault(`${level.name}[${index}] = ${hex(raw)}: ${entry.fault ?? entry.descriptor}`);
      }
      if (entry.kind === 'leaf' && entry.address !== null && entry.size !== null) {
        return result({
          root: plan.root,
          rootName: plan.rootName,
          phys: entry.address | (va & (entry.size - 1n)),
          pageSize: entry.size,
          summary: hooks.summarize(path, config, va),
        });
      }
      if (entry.address === null) throw new TranslationFault(`${level.name}[${index}] gives no next table`);
      table = entry.address;
    }
    throw new TranslationFault(`no leaf after ${plan.levels.length} levels`);
  } catch (e) {
    if (e instanceof TranslationFault || e instanceof FaultError) {
      return result({ root: planned?.root ?? null, rootName: planned?.rootName ?? null, fault: e.message });
    }
    throw e;
  }
}

async function readEntry(target: Target, pa: bigint, level: TableLevel): Promise<bigint> {
  let bytes: Uint8Array;
  try {
    bytes = await target.readPhysical(pa, 8);
  } catch (e) {
    if (e instanceof FaultError) throw new FaultError(pa, 8, `${level.name} entry unreadable: ${e.message}`);
    throw e;
  }
  if (bytes.length < 8) throw new FaultError(pa, 8, `${level.name} entry: short read of ${bytes.length} bytes`);
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
}

function step(level: TableLevel, index: number, entryPhysical: bigint, entry: DecodedEntry, map: DirectMap | undefined): WalkStep {
  return {
    level: level.name,
    linuxLevel: level.linuxName,
    index,
    entryPhysical,
    entryVirtual: map ? physToVirt(map, entryPhysical) : null,
    raw: entry.raw,
    kind: entry.kind,
    descriptor: entry.descriptor,
    flags: entry.flags,
    next: entry.kind === 'table' ? entry.address : null,
  };
}

export interface EntryDecode extends DecodedEntry {
  readonly level: TableLevel;
  /** For a leaf: what it allows on its own, its parents' restrictions not applied. */
  readonly summary: MappingSummary | null;
}

/**
 * Decodes one entry value, e.g. for a hover over `p/x *(long *)pte`. `level` is the manual's or
 * the kernel's name (`L3`, `PTE`, `PMD`); default the last level. With neither registers nor a VA
 * size (vaBits, levels, la57) in `config`, 48-bit VAs are assumed (52 with LPA2): that only
 * changes how many levels there are, not how an entry of a given level decodes.
 * Throws TranslationFault when `config` cannot describe the entry (arm64 without a granule).
 */
export function decodeEntry(
  arch: Arch,
  value: bigint,
  level?: string,
  config: PagingOverride = {},
  registers: ReadonlyMap<string, bigint> = new Map(),
): EntryDecode {
  const hooks = archOps(arch).paging;
  const unsized = config.vaBits === undefined && config.levels === undefined && config.la57 === undefined;
  const sized = unsized && registers.size === 0
    ? { ...config, vaBits: config.lpa2 ? 52 : 48 }
    : config;
  const paging = hooks.config(registers, sized);
  const levels = hooks.levels(paging);
  const wanted = level?.toUpperCase();
  const found = wanted === undefined
    ? levels[levels.length - 1]
    : levels.find((l) => l.name.toUpperCase() === wanted || l.linuxName === wanted);
  if (!found) {
    throw new TranslationFault(`no level ${level} here; levels are ${levels.map((l) => `${l.name}/${l.linuxName}`).join(', ')}`);
  }
  const entry = hooks.decode(value, found, paging);
  const summary = entry.kind === 'leaf' ? hooks.summarize([{ level: found, entry }], paging, undefined) : null;
  return { ...entry, level: found, summary };
}

/** The wire shape of a walk (`kdap walk --json`, `kdap/walk`): addresses as hex strings. */
export interface WalkResult {
  va: HexString;
  phys: HexString | null;
  pageSize: number | null;
  levels: WalkLevel[];
  fault: string | null;
  summary?: string;
}

export interface WalkLevel {
  level: string;
  linuxLevel: LinuxLevel;
  index: number;
  /** The entry's kernel virtual address when the direct map is known, else its physical address. */
  entryAddress: HexString;
  entryPhysical: HexString;
  raw: HexString;
  descriptor: string;
  flags: string[];
  next?: HexString;
  leaf: boolean;
}

export function toJson(w: Walk): WalkResult {
  return {
    va: hex(w.va),
    phys: w.phys === null ? null : hex(w.phys),
    // Page sizes stop at 4 TiB (2^42), well inside a double's exact range.
    pageSize: w.pageSize === null ? null : Number(w.pageSize),
    levels: w.levels.map((s) => ({
      level: s.level,
      linuxLevel: s.linuxLevel,
      index: s.index,
      entryAddress: hex(s.entryVirtual ?? s.entryPhysical),
      entryPhysical: hex(s.entryPhysical),
      raw: hex(s.raw),
      descriptor: s.descriptor,
      flags: [...s.flags],
      ...(s.next !== null ? { next: hex(s.next) } : {}),
      leaf: s.kind === 'leaf',
    })),
    fault: w.fault,
    ...(w.summary ? { summary: w.summary.text } : {}),
  };
}

/** The wire shape of one decoded entry (`kdap/decodePte`). */
export function entryToJson(d: EntryDecode): { flags: string[]; phys: HexString | null; summary: string } {
  const what = `${d.level.name}/${d.level.linuxName} ${d.descriptor}`;
  const detail = d.summary?.text ?? d.fault ?? (d.address !== null ? `next table ${hex(d.address)}` : '');
  return { flags: [...d.flags], phys: d.address === null ? null : hex(d.address), summary: `${what}: ${detail}` };
}
