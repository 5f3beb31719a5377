/**
 * Struct layouts kept on disk per vmlinux build id, next to gdb's index cache. A layout is a fact
 * of the vmlinux's DWARF alone, and asking gdb (`ptype/o struct task_struct`) costs up to a
 * second, which the first kernel view of every session would otherwise pay.
 *
 * Symbols' link addresses are kept beside them, as the vmlinux's ELF symbol table gives them
 * (vmlinux-symbols.ts): a name asked for and not stored yet is looked up there in the background
 * and written for the next session; the session asks gdb meanwhile. The definitions the
 * vmlinux's facts are read from (linked-kernel.ts `FactsStore`) are kept there too, and answer
 * for their names. Where the kernel runs them (KASLR) is the session's business: the file holds
 * link addresses only.
 *
 * A stale or wrong layout cannot be served: the file is named after the build id of the vmlinux
 * gdb loads and says that id again inside, each entry is keyed by the struct asked for, and a
 * format number changes with the shape of what is stored. A file or an entry that does not
 * check out is ignored (and replaced at the next write). A vmlinux without a build id gets no
 * file at all.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MemberLayout, StructLayout } from '../kernel/target';
import { ElfFile } from '../oops/elf';
import { ignore } from './errors';
import type { FactsStore } from './linked-kernel';
import { linkedAddresses, type Definition } from './vmlinux-symbols';

/** How long no new symbol must be asked for before the vmlinux's table is read for them. */
const LOOK_UP_WHEN_QUIET_MS = 2000;

/** Bump when StructLayout or the ptype/o parser changes what a layout holds. */
const FORMAT = 1;

/** What a struct's layout is for a session, as far as the disk knows. */
export interface LayoutStore {
  /** The layout; null when the kernel has no such struct; undefined when not known yet. */
  get(name: string): StructLayout | null | undefined;
  /** Remembers what gdb answered (undefined: no such struct). */
  put(name: string, layout: StructLayout | undefined): void;
  /**
   * The link address of a vmlinux symbol; null when the vmlinux's symbol table lacks it;
   * undefined when not known (yet: it is looked up for next time), or held twice there.
   */
  linked?(name: string): bigint | null | undefined;
}

type StoredMember = [string, MemberLayout];
interface StoredFile {
  format: number;
  buildId: string;
  structs: Record<string, { size: number; members: StoredMember[] } | null>;
  /** Link addresses as "0x…" (null: the vmlinux's symbol table lacks the name). Absent before. */
  symbols?: Record<string, string | null>;
  /** Symbol table definitions (null: not in the table), as the vmlinux's facts are read from. */
  definitions?: Record<string, StoredDefinition | null>;
}
interface StoredDefinition {
  at: string;
  size: string;
  twice?: true;
}

interface Stored {
  layouts: Map<string, StructLayout | null>;
  symbols: Map<string, bigint | null>;
  definitions: Map<string, Definition | null>;
}

const hexWord = /^0x[0-9a-f]{1,16}$/;
const hex = (v: bigint) => `0x${v.toString(16)}`;

export class LayoutCache implements LayoutStore, FactsStore {
  private readonly known = new Map<string, StructLayout | null>();
  private readonly fresh = new Set<string>();
  private readonly symbols = new Map<string, bigint | null>();
  private readonly freshSymbols = new Set<string>();
  private readonly defined = new Map<string, Definition | null>();
  private readonly freshDefinitions = new Set<string>();
  /** Names asked for and not stored, looked up in the vmlinux once the session is quiet. */
  private wanted = new Set<string>();
  private quiet: NodeJS.Timeout | undefined;
  private looking: Promise<void> | undefined;
  private writing: Promise<void> | undefined;

  private constructor(
    readonly file: string,
    readonly buildId: string,
    /** The vmlinux whose symbol table answers `linked`; none: symbols are not kept. */
    private readonly vmlinux?: string,
  ) {}

  /** The cache of `vmlinux` under `dir`; undefined without a dir or a build id. Never throws. */
  static async open(dir: string | undefined, vmlinux: string): Promise<LayoutCache | undefined> {
    if (!dir) return undefined;
    let elf: ElfFile | undefined;
    try {
      elf = await ElfFile.open(vmlinux);
      const id = await elf.buildId();
      return id ? await LayoutCache.forBuildId(dir, id, vmlinux) : undefined;
    } catch (err) {
      ignore(err, 'opening the struct layout cache');
      return undefined;
    } finally {
      await elf?.close().catch(() => undefined);
    }
  }

  /** The cache of the vmlinux with build id `id` (hex) under `dir`; its symbols from `vmlinux`. */
  static async forBuildId(dir: string, id: string, vmlinux?: string): Promise<LayoutCache | undefined> {
    if (!/^[0-9a-f]+$/.test(id)) return undefined;
    const cache = new LayoutCache(path.join(dir, 'kdap-layouts', `${id}.json`), id, vmlinux);
    const stored = await cache.load();
    for (const [name, layout] of stored.layouts) cache.known.set(name, layout);
    for (const [name, value] of stored.symbols) cache.symbols.set(name, value);
    for (const [name, d] of stored.definitions) cache.defined.set(name, d);
    return cache;
  }

  get(name: string): StructLayout | null | undefined {
    return this.known.get(name);
  }

  put(name: string, layout: StructLayout | undefined): void {
    this.known.set(name, layout ?? null);
    this.fresh.add(name);
    this.writing ??= Promise.resolve().then(() => this.write());
  }

  definitions(names: readonly string[]): ReadonlyMap<string, Definition | null> | undefined {
    const out = new Map<string, Definition | null>();
    for (const n of names) {
      const d = this.defined.get(n);
      if (d === undefined) return undefined;
      out.set(n, d);
    }
    return out;
  }

  define(found: ReadonlyMap<string, Definition | null>): void {
    for (const [name, d] of found) {
      this.defined.set(name, d);
      this.freshDefinitions.add(name);
    }
    this.writing ??= Promise.resolve().then(() => this.write());
  }

  linked(name: string): bigint | null | undefined {
    const asked = this.symbols.get(name);
    const d = this.defined.get(name);
    const value = asked !== undefined ? asked : d === null ? null : d && !d.twice ? d.value : undefined;
    if (value === undefined && this.vmlinux && !this.wanted.has(name)) {
      this.wanted.add(name);
      // Reading the table costs the process ~30 ms of CPU: not while the session's first
      // requests are being answered, but once they have been for a while.
      clearTimeout(this.quiet);
      this.quiet = setTimeout(() => this.startLookUp(), LOOK_UP_WHEN_QUIET_MS);
      this.quiet.unref();
    }
    return value;
  }

  /** Resolves when what was put, and the symbols asked for, are on disk (or failed to get there). */
  async flush(): Promise<void> {
    while (this.quiet || this.looking || this.writing || this.wanted.size > 0) {
      if (!this.looking) this.startLookUp();
      await (this.looking ?? this.writing);
    }
  }

  private startLookUp(): void {
    clearTimeout(this.quiet);
    this.quiet = undefined;
    if (!this.looking && this.wanted.size > 0) this.looking = this.lookUp();
  }

  /** Reads the link addresses of the names asked for from the vmlinux, for the next session. */
  private async lookUp(): Promise<void> {
    const names = [...this.wanted];
    this.wanted = new Set();
    try {
      for (const [name, value] of await linkedAddresses(this.vmlinux!, names)) {
        this.symbols.set(name, value);
        this.freshSymbols.add(name);
      }
      this.writing ??= this.write();
    } catch (err) {
      ignore(err, 'reading symbols from the vmlinux');
    } finally {
      // Names asked for meanwhile wait for their own quiet time.
      this.looking = undefined;
    }
  }

  /** What the file holds for this build id; nothing when it is missing, garbage or another's. */
  private async load(): Promise<Stored> {
    const out: Stored = { layouts: new Map(), symbols: new Map(), definitions: new Map() };
    let text: string;
    try {
      text = await fs.promises.readFile(this.file, 'utf8');
    } catch {
      return out;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return out;
    }
    if (!isRecord(parsed) || parsed.format !== FORMAT || parsed.buildId !== this.buildId || !isRecord(parsed.structs)) return out;
    for (const [name, entry] of Object.entries(parsed.structs)) {
      if (entry === null) out.layouts.set(name, null);
      else {
        const layout = toLayout(name, entry);
        if (layout) out.layouts.set(name, layout);
      }
    }
    if (isRecord(parsed.symbols)) {
      for (const [name, v] of Object.entries(parsed.symbols)) {
        if (v === null) out.symbols.set(name, null);
        else if (typeof v === 'string' && hexWord.test(v)) out.symbols.set(name, BigInt(v));
      }
    }
    if (isRecord(parsed.definitions)) {
      for (const [name, d] of Object.entries(parsed.definitions)) {
        if (d === null) out.definitions.set(name, null);
        else if (isRecord(d) && typeof d.at === 'string' && hexWord.test(d.at) && typeof d.size === 'string' && hexWord.test(d.size) && (d.twice === undefined || d.twice === true)) {
          out.definitions.set(name, { value: BigInt(d.at), size: BigInt(d.size), twice: d.twice === true });
        }
      }
    }
    return out;
  }

  /** Merges what this session learnt into the file (another session may have written too). */
  private async write(): Promise<void> {
    try {
      const names = [...this.fresh];
      const symbols = [...this.freshSymbols];
      const defined = [...this.freshDefinitions];
      this.fresh.clear();
      this.freshSymbols.clear();
      this.freshDefinitions.clear();
      const merged = await this.load();
      for (const n of names) merged.layouts.set(n, this.known.get(n) ?? null);
      for (const n of symbols) merged.symbols.set(n, this.symbols.get(n) ?? null);
      for (const n of defined) merged.definitions.set(n, this.defined.get(n) ?? null);
      const stored: StoredFile = { format: FORMAT, buildId: this.buildId, structs: {}, symbols: {}, definitions: {} };
      for (const [n, l] of merged.layouts) stored.structs[n] = l ? { size: l.size, members: [...l.members] } : null;
      for (const [n, v] of merged.symbols) stored.symbols![n] = v === null ? null : hex(v);
      for (const [n, d] of merged.definitions) stored.definitions![n] = d && { at: hex(d.value), size: hex(d.size), ...(d.twice ? { twice: true as const } : {}) };
      await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
      // Written aside and renamed: a reader never sees half a file.
      const temp = `${this.file}.${process.pid}.${Date.now()}.tmp`;
      await fs.promises.writeFile(temp, JSON.stringify(stored));
      await fs.promises.rename(temp, this.file).catch(async (e) => {
        await fs.promises.rm(temp, { force: true });
        throw e;
      });
    } catch (err) {
      ignore(err, 'writing the struct layout cache');
    } finally {
      this.writing = this.fresh.size > 0 || this.freshSymbols.size > 0 || this.freshDefinitions.size > 0 ? this.write() : undefined;
    }
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function toLayout(name: string, entry: unknown): StructLayout | undefined {
  if (!isRecord(entry) || !isCount(entry.size) || !Array.isArray(entry.members)) return undefined;
  const members = new Map<string, MemberLayout>();
  for (const item of entry.members) {
    if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== 'string' || !isRecord(item[1])) return undefined;
    const m = item[1];
    if (!isCount(m.offset) || !isCount(m.size) || typeof m.type !== 'string') return undefined;
    const bits = m.bitOffset === undefined && m.bitSize === undefined ? {} : isCount(m.bitOffset) && isCount(m.bitSize) ? { bitOffset: m.bitOffset, bitSize: m.bitSize } : undefined;
    if (!bits) return undefined;
    members.set(item[0], { offset: m.offset, size: m.size, type: m.type, ...bits });
  }
  return { name, size: entry.size, members };
}
