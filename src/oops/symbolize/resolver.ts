/**
 * The Symbolizer for real kernels: `func+0xoff/0xsize [mod]` → source lines and inline chains.
 *
 * 1. The object: vmlinux, or the module file found by name/build id (modules-lookup.ts).
 * 2. The address, with faddr2line's rules (symbols.ts `lookupFuncOffset`): every symbol of that
 *    name whose kallsyms size matches the printed `/size` and holds the offset; all survivors
 *    are answered, as faddr2line lists them all. Unlike the 6.1 script, non-FUNC symbols count
 *    (as in mainline), which is what resolves labels such as `entry_SYSCALL_64_after_hwframe`.
 * 3. Lines: one long-lived llvm-symbolizer per linked object, one `addr2line -j <section>` per
 *    module section (relocatable objects need the section; llvm-symbolizer cannot take one).
 * 4. Paths: mapped onto the user's source tree (paths.ts).
 *
 * Return addresses. A call-trace entry is where the callee returns to, i.e. the instruction
 * after the call; its own line is often the next statement, or another function entirely when
 * the call was the last instruction (a `noreturn` callee). Like gdb's backtrace, lines for
 * return addresses are looked up at `addr - 1`, which lies inside the call instruction.
 * faddr2line and decode_stacktrace.sh do not do this and report the statement after the call.
 * The faulting pc itself (`RIP:`, `pc :`, the first arm64 trace entry, an entry right after an
 * exception boundary) is exact and looked up as is.
 */
import { ET_REL, STT_SECTION } from '../elf';
import type { Resolution, SourcePosition, SymbolizeContext, Symbolizer } from '../symbolizer';
import { loadSymbolTable, lookupFuncOffset, type SymbolMatch, type SymbolTable } from '../symbols';
import type { CodeLocation, Frame, Report, SymbolRef } from '../types';
import { Addr2Line } from './addr2line';
import type { LineProcess } from './line-process';
import { LlvmSymbolizer, type RawPosition } from './llvm-symbolizer';
import { ModuleLocator } from './modules-lookup';
import { SourcePaths, type PathMapping } from './paths';
import { archOfMachine, findBinutil, findLlvmTool, type ToolOptions } from './tools';

export interface SymbolizerConfig extends ToolOptions {
  vmlinux?: string;
  modulePaths?: readonly string[];
  sourceRoot?: string;
  pathMappings?: readonly PathMapping[];
  /** Further folders a log's own paths may point into (workspace folders). */
  roots?: readonly string[];
  /** Helper processes stop after this long without work (default 60 s; 0 = never). */
  idleMs?: number;
  /** Prefix of /usr/lib/debug and /lib/modules, for tests. */
  systemRoot?: string;
}

export interface FrameContext extends SymbolizeContext {
  /** The address is a return address: its line is looked up at `addr - 1` (see above). */
  returnAddress?: boolean;
}

export interface ResolvedPosition extends SourcePosition {
  /** The file on this machine, when found. */
  path: string | undefined;
  /** The path as the DWARF records it. */
  recordedFile: string;
  discriminator: number | undefined;
}

export interface FrameResolution extends Resolution {
  positions: ResolvedPosition[];
  /** The symbol the address was computed from and its kallsyms size. */
  symbol: string | undefined;
  offset: bigint | undefined;
  size: bigint | undefined;
  /** Section name for modules (what addr2line got as `-j`). */
  section: string | undefined;
  /** symbol + offset in the object (section-relative in a module). */
  address: bigint;
  /** The address whose line was looked up (`address - 1` for return addresses). */
  lookupAddress: bigint;
  returnAddress: boolean;
  tool: 'llvm-symbolizer' | 'addr2line' | undefined;
}

interface LoadedObject {
  path: string;
  table: SymbolTable;
  relocatable: boolean;
  /** vmlinux-like objects: one process for everything. */
  linked: LlvmSymbolizer | Addr2Line | undefined;
  /** Modules: one addr2line per section. */
  sections: Map<string, Addr2Line>;
}

const DEFAULT_IDLE_MS = 60_000;
/** arm64/riscv exception entries: the trace entry after one is the interrupted pc, not a return address. */
const EXCEPTION_ENTRY = /^(?:el[01][th]?_(?:64|32)_(?:sync|irq|fiq|error)|el[01]_(?:sync|irq|fiq|error)(?:_invalid)?|handle_exception|ret_from_exception)$/;

/**
 * Whether a frame or register location of `report` holds a return address (look up addr-1)
 * rather than the exact pc.
 */
export function isReturnAddress(report: Report | undefined, ref: Frame | CodeLocation): boolean {
  if (!('reliable' in ref)) {
    // A register: `lr :`/`LR is at`/`ra :` hold return addresses, `RIP:`/`pc :` the exact pc.
    if (report?.registerBlocks.some((b) => b.lr === ref) || report?.lr === ref) return true;
    return false;
  }
  if (ref.tag === 'P') return false;
  if (!report) return true;
  for (const section of report.sections) {
    const i = section.frames.indexOf(ref);
    if (i < 0) continue;
    // arm64 (and riscv) start a trace taken from pt_regs at the pc itself.
    if (i === 0 && report.registerBlocks.some((b) => b.pc && samePlace(b.pc, ref))) return false;
    if (i > 0 && section.frames[i - 1].symbol !== undefined && EXCEPTION_ENTRY.test(section.frames[i - 1].symbol!)) return false;
    return true;
  }
  return true;
}

function samePlace(a: SymbolRef, b: SymbolRef): boolean {
  if (a.symbol !== undefined && b.symbol !== undefined) return a.symbol === b.symbol && a.offset === b.offset && (a.module ?? '') === (b.module ?? '');
  return a.address !== undefined && a.address === b.address;
}

/** The symbol whose kallsyms range holds `address` (bare-address frames of linked objects). */
function symbolAt(table: SymbolTable, address: bigint): SymbolMatch | undefined {
  for (const section of table.sections) {
    if (section.addr === 0n || address < section.addr || address >= section.addr + section.size) continue;
    const list = table.bySection.get(section.index) ?? [];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid].value <= address) lo = mid + 1;
      else hi = mid;
    }
    const sym = lo > 0 ? list[lo - 1] : undefined;
    if (!sym) return undefined;
    return { symbol: sym, section, size: 0n, offset: address - sym.value, address, sectionName: undefined };
  }
  return undefined;
}

/**
 * The name addr2line falls back to where DWARF has no function (assembler code): the nearest
 * named symbol at or below the address in the same section.
 */
function nearestName(table: SymbolTable, sectionIndex: number, address: bigint): string | undefined {
  const list = table.bySection.get(sectionIndex) ?? [];
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].value <= address) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo - 1; i >= 0; i--) if (list[i].name !== '' && list[i].type !== STT_SECTION) return list[i].name;
  return undefined;
}

export class KernelSymbolizer implements Symbolizer {
  readonly paths: SourcePaths;
  private readonly modules: ModuleLocator;
  private readonly objects = new Map<string, Promise<LoadedObject>>();
  private readonly idleMs: number;
  private readonly notes = new Set<string>();
  private disposed = false;

  constructor(private readonly config: SymbolizerConfig) {
    this.idleMs = config.idleMs ?? DEFAULT_IDLE_MS;
    this.paths = new SourcePaths({ sourceRoot: config.sourceRoot, mappings: config.pathMappings, roots: config.roots });
    this.modules = new ModuleLocator({ modulePaths: config.modulePaths, vmlinux: config.vmlinux, systemRoot: config.systemRoot });
  }

  /** Why frames went unresolved (missing tools, modules not found, arch mismatch), once each. */
  problems(): string[] {
    return [...this.notes];
  }

  private note(text: string): void {
    if (this.notes.size < 100) this.notes.add(text);
  }

  /** The object a reference is resolved in, or undefined (with a note). */
  async objectFor(ref: SymbolRef, context: SymbolizeContext): Promise<string | undefined> {
    if (ref.module) {
      const found = await this.modules.find(ref.module, ref.buildId, context.release);
      if (!found) {
        const where = this.modules.folders(context.release);
        this.note(`module ${ref.module}: no ${ref.module}.ko in ${where.length ? where.join(', ') : 'any module folder (set kdap.modulePaths)'}`);
        return undefined;
      }
      if (!found.debugInfo) this.note(`module ${ref.module}: ${found.path} has no debug info`);
      return found.path;
    }
    if (!this.config.vmlinux) {
      this.note('no vmlinux configured (kdap.vmlinux / --vmlinux)');
      return undefined;
    }
    return this.config.vmlinux;
  }

  private load(file: string): Promise<LoadedObject> {
    let obj = this.objects.get(file);
    if (!obj) {
      obj = this.open(file);
      this.objects.set(file, obj);
      obj.catch(() => this.objects.delete(file));
    }
    return obj;
  }

  private async open(file: string): Promise<LoadedObject> {
    let linked: LlvmSymbolizer | Addr2Line | undefined;
    // The line tool of a linked object starts while its symbol table is read: on a cold page
    // cache both wait for the disk, and the tool's first answer was the slower half.
    let table: SymbolTable;
    try {
      table = await loadSymbolTable(file, (header, sections) => {
        if (header.type === ET_REL) return;
        linked = this.lineTool(file, header.machine);
        const text = sections.find((x) => x.name === '.text');
        if (linked && text && text.addr !== 0n) linked.lookup(text.addr).catch(() => undefined);
      });
    } catch (err) {
      // No table, no object: the tool started for it goes too.
      await (linked as LlvmSymbolizer | Addr2Line | undefined)?.dispose();
      throw err;
    }
    const relocatable = table.header.type === ET_REL;
    const obj: LoadedObject = { path: file, table, relocatable, linked, sections: new Map() };
    if (!relocatable) await this.learnPrefix(obj);
    return obj;
  }

  private lineTool(file: string, machine: number): LlvmSymbolizer | Addr2Line | undefined {
    const llvm = findLlvmTool('llvm-symbolizer', this.config);
    const a2l = llvm ? undefined : findBinutil('addr2line', archOfMachine(machine), this.config);
    if (llvm) return new LlvmSymbolizer(file, llvm, this.idleMs);
    if (a2l) return new Addr2Line(file, undefined, a2l, this.idleMs);
    this.note('neither llvm-symbolizer nor addr2line found (set kdap.llvmPath or kdap.toolchainPrefix)');
    return undefined;
  }

  /**
   * faddr2line's rule for the source prefix: whatever stands in front of `init/main.c` in the
   * path recorded for start_kernel is the build directory.
   */
  private async learnPrefix(obj: LoadedObject): Promise<void> {
    const start = obj.table.byName.get('start_kernel')?.[0];
    if (!start || !obj.linked) return;
    try {
      const chain = await obj.linked.lookup(start.value);
      const file = chain[chain.length - 1]?.file;
      if (file?.endsWith('/init/main.c')) this.paths.learnBuildPrefix(file.slice(0, -'/init/main.c'.length));
    } catch {
      // The lookups that follow report the tool's problem.
    }
  }

  private moduleSection(obj: LoadedObject, section: string): Addr2Line | undefined {
    let a = obj.sections.get(section);
    if (!a) {
      const program = findBinutil('addr2line', archOfMachine(obj.table.header.machine), this.config);
      if (!program) {
        this.note('addr2line not found: module frames need binutils (set kdap.toolchainPrefix)');
        return undefined;
      }
      a = new Addr2Line(obj.path, section, program, this.idleMs);
      obj.sections.set(section, a);
    }
    return a;
  }

  async resolve(ref: SymbolRef, context: FrameContext): Promise<FrameResolution[] | undefined> {
    if (this.disposed) return undefined;
    if ('inlined' in ref && (ref as Frame).inlined) return undefined;
    const file = await this.objectFor(ref, context);
    if (!file) return undefined;
    let obj: LoadedObject;
    try {
      obj = await this.load(file);
    } catch (err) {
      this.note(`${file}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
    const objArch = archOfMachine(obj.table.header.machine);
    if (context.arch !== 'unknown' && objArch !== 'unknown' && objArch !== context.arch && !(objArch === 'x86_64' && context.arch === 'i386')) {
      this.note(`${file} is ${objArch} but the log is ${context.arch}`);
      return undefined;
    }
    let matches: SymbolMatch[];
    if (ref.symbol !== undefined) {
      matches = lookupFuncOffset(obj.table, ref.symbol, ref.offset ?? 0n, ref.size).matches;
    } else if (ref.address !== undefined && !obj.relocatable) {
      const m = symbolAt(obj.table, ref.address);
      matches = m ? [m] : [];
    } else {
      matches = [];
    }
    if (matches.length === 0) return undefined;
    const returnAddress = context.returnAddress === true;
    return Promise.all(matches.map((m) => this.lines(obj, m, returnAddress)));
  }

  private async lines(obj: LoadedObject, m: SymbolMatch, returnAddress: boolean): Promise<FrameResolution> {
    const lowest = obj.relocatable ? 0n : m.section.addr;
    const lookupAddress = returnAddress && m.address > lowest ? m.address - 1n : m.address;
    const tool = obj.relocatable ? (m.sectionName ? this.moduleSection(obj, m.sectionName) : undefined) : obj.linked;
    let raw: RawPosition[] = [];
    if (tool) raw = await tool.lookup(lookupAddress);
    const positions = this.mapChain(raw);
    const outer = positions[positions.length - 1];
    if (outer && outer.function === undefined) outer.function = nearestName(obj.table, m.section.index, lookupAddress);
    return {
      object: obj.path,
      positions,
      symbol: m.symbol.name,
      offset: m.offset,
      size: m.size === 0n ? undefined : m.size,
      section: m.sectionName,
      address: m.address,
      lookupAddress,
      returnAddress: lookupAddress !== m.address,
      tool: tool instanceof LlvmSymbolizer ? 'llvm-symbolizer' : tool ? 'addr2line' : undefined,
    };
  }

  private mapChain(raw: readonly RawPosition[]): ResolvedPosition[] {
    const known = raw.filter((r) => r.file !== undefined);
    return known.map((r, i) => {
      const mapped = this.paths.map(r.file!);
      return {
        function: r.function,
        file: mapped.display,
        line: r.line,
        column: r.column,
        inlined: i < known.length - 1,
        path: mapped.path,
        recordedFile: r.file!,
        discriminator: r.discriminator,
      };
    });
  }

  /** The helper processes currently alive (tests check they all go away). */
  async processes(): Promise<LineProcess[]> {
    const out: LineProcess[] = [];
    for (const p of this.objects.values()) {
      const obj = await p.catch(() => undefined);
      if (!obj) continue;
      if (obj.linked) out.push(obj.linked.processInfo);
      for (const a of obj.sections.values()) out.push(a.processInfo);
    }
    return out;
  }

  /** Stops every helper process and waits until they are reaped. */
  async close(): Promise<void> {
    this.disposed = true;
    const objs = await Promise.all([...this.objects.values()].map((p) => p.catch(() => undefined)));
    this.objects.clear();
    const stops: Promise<void>[] = [];
    for (const obj of objs) {
      if (!obj) continue;
      if (obj.linked) stops.push(obj.linked.dispose());
      for (const a of obj.sections.values()) stops.push(a.dispose());
    }
    await Promise.all(stops);
  }

  dispose(): void {
    void this.close();
  }
}
