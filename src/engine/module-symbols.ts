/**
 * Module symbols that load themselves: every loaded module's symbols at attach, one module's
 * on insmod (before its init runs, so breakpoints in init code hit), none left behind on rmmod.
 *
 * How the kernel is followed, with breakpoints the user never sees (kernel/module/main.c):
 * - `do_init_module(mod)`: the module is COMING, its sections are placed and listed in
 *   `sect_attrs`, its init has not run. Its symbols are loaded, gdb re-binds the pending
 *   breakpoints that now resolve, and the kernel continues.
 * - Once init has returned and its memory is freed, a module loaded with its `.init.*` placed
 *   is loaded again with them parked (below), so gdb never names addresses the next module
 *   will reuse after a dead init function, nor keeps a breakpoint there. Under QEMU this
 *   waits for the next stop of any kind (the next insmod's included): a breakpoint there
 *   does not touch guest memory, and every hidden stop costs a TCG stop and resume. A stop
 *   at such a breakpoint before that (freed init memory reused by, say, a BPF program) is
 *   resumed unseen. Over a stub that writes breakpoints into memory (kgdb) it happens at
 *   once, at a hidden breakpoint in `do_free_init()`, before the memory is freed.
 * - `free_module(mod)`: rmmod (or a failed init). Its symbols go; breakpoints in it turn
 *   pending again and bind on the next insmod, wherever it lands.
 *
 * Sections: each SHF_ALLOC section of the file gets the address the kernel gave it
 * (`sect_attrs`), `.data..percpu` gets the module's per-CPU area, and every other one (freed
 * init sections, `.modinfo`, `__versions`) is parked at a non-canonical address that no
 * kernel code runs at. Left unplaced, gdb would put them at 0 onwards, where x86_64 has its
 * per-CPU offsets, and bind breakpoints there. Breakpoint locations that land in the park
 * are disabled, so nothing is ever inserted at them (kgdb would write into memory there).
 *
 * arm64 (`ArchOps.prelinkModules`): the .ko is linked at its runtime addresses first
 * (module-prelink.ts) and the resulting ET_EXEC is loaded. x86_64 `add-symbol-file FILE -s
 * SECTION ADDR …` is right as is, but without gdb's index cache: gdb 13.1 keys it by build id
 * and stores a relocatable file's addresses as placed when it was written, so a .ko whose
 * index was written at another load address (another session, other modules loaded first) has
 * functions with names but no source lines.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { GdbBackend } from '../gdb/backend';
import * as bp from '../gdb/mi/breakpoints';
import * as data from '../gdb/mi/data';
import { quoteArg, type MITuple } from '../gdb/mi/parser';
import { tuples } from '../gdb/mi/values';
import { archOps } from '../kernel/arch';
import { kernelRelease, listModules, readModule, type KernelModule } from '../kernel/module';
import { FaultError, type Arch, type Target } from '../kernel/target';
import type { Engine, StopInfo } from './engine';
import { bestEffort, errorText, ignore, UserError } from './errors';
import { dedupeFtraceLocations } from './ftrace';
import { ModuleFiles, type ModuleFile } from './module-files';
import { ModulePrelinker } from './module-prelink';
import { isInitSection, parkWindow, inPark, placeSections } from './module-sections';
import type { HexString, ModuleInfo } from './json';

export interface ModuleSymbolsOptions {
  arch: Arch;
  vmlinux: string;
  /** Folders with module .ko files (configuration `modulePaths`). */
  modulePaths?: readonly string[];
  /** Where unpacked and pre-linked modules are kept; default ~/.cache/kdap/modules. */
  cacheDir?: string;
  /** An ld that links for the target (arm64 pre-link); default: found on PATH. */
  linker?: string;
  /** The stub writes breakpoints into kernel memory (kgdb), rather than keeping them itself (QEMU). */
  breakpointsInMemory: () => boolean;
  hooks: ModuleSymbolsHooks;
}

/** A module came, went, finished its init, or got a picked symbol file. */
export interface ModulesChanged {
  name: string;
  change: 'load' | 'freeInit' | 'unload' | 'picked';
  /** Stop to resume, adapter side (0 for a pick): what the bench reads. */
  ms: number;
}

/** What module symbols tell their owner (the DAP session turns these into events). */
export interface ModuleSymbolsHooks {
  /** One line for the user. */
  say(text: string): void;
  /** A user breakpoint whose binding changed as a module's symbols came or went. */
  breakpointChanged(b: bp.Breakpoint): void;
  modulesChanged(change: ModulesChanged): void;
}

/** A module whose symbols gdb has. */
interface Loaded {
  module: KernelModule;
  file: ModuleFile;
  /** An address inside the objfile, for `remove-symbol-file -a`. */
  anchor: bigint;
  /** Its `.init.*` sections were placed at their (COMING-time) addresses. */
  withInit: boolean;
  /** The park window its other sections went to. */
  park: { start: bigint; end: bigint };
  /** Breakpoint locations (`N.M`) we disabled because they landed in the park. */
  parkedLocations: Set<string>;
}

type Hook = 'load' | 'freeInit' | 'unload';

/** Functions the hidden breakpoints go on. */
const HOOKS: Record<Hook, string> = { load: 'do_init_module', freeInit: 'do_free_init', unload: 'free_module' };

const hex = (v: bigint): HexString => `0x${v.toString(16)}`;

export function defaultModuleCacheDir(): string {
  return path.join(process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap'), 'modules');
}

export class ModuleSymbols {
  private readonly gdb: GdbBackend;
  private readonly loaded = new Map<bigint, Loaded>();
  /** The last full list read from the kernel, kept up to date by the hooks. */
  private known: KernelModule[] = [];
  private readonly missing = new Set<string>();
  /** Files the user picked (kdap/loadModuleSymbols), by module name: they win over any found, for this session. */
  private readonly picked = new Map<string, string>();
  private readonly hooks = new Map<number, Hook>();
  private files: Promise<ModuleFiles> | undefined;
  private readonly cacheDir: string;
  private readonly prelinker: ModulePrelinker;
  private nextPark = 0n;
  private closing = false;
  private inFlight: Promise<unknown> = Promise.resolve();
  /** The hooks are in, or going in (`follow()`). */
  private following: Promise<void> | undefined;
  /** Last binding of each breakpoint (bindingKey), to report only the ones that changed. */
  private readonly bindings = new Map<number, string>();

  constructor(private readonly engine: Engine, private readonly target: Target, private readonly options: ModuleSymbolsOptions) {
    this.gdb = engine.gdb;
    this.cacheDir = options.cacheDir ?? defaultModuleCacheDir();
    this.prelinker = new ModulePrelinker(this.cacheDir, options.linker);
  }

  /**
   * After connecting. `booted` false means the kernel is at its reset vector (launch): there
   * are no modules yet, and kernel memory cannot be read; only the hooks go in.
   */
  async start(booted: boolean): Promise<void> {
    await this.follow();
    if (booted) await this.loadPresent();
  }

  /** The symbols of the modules loaded now (an attach), before any module frame is shown. */
  async loadPresent(): Promise<void> {
    // A kernel whose module list cannot be read still gets debugged, without module symbols.
    await this.syncAll(true).catch((e: unknown) => this.say(`Module symbols: cannot read the loaded modules: ${errorText(e)}`));
  }

  /**
   * The hidden breakpoints on module load and unload, once. Only a kernel that runs can load a
   * module: an attach puts them in after its first stop is shown (`followFromResume`).
   */
  follow(): Promise<void> {
    this.following ??= this.installHooks();
    this.engine.off('running', this.followNow);
    return this.following;
  }

  /**
   * The hooks go in at the first resume: the session's own resumes call `follow()` first; a
   * resume that comes another way (a gdb command typed in the console) gets them at once, in a
   * hidden halt.
   */
  followFromResume(): void {
    if (!this.following) this.engine.on('running', this.followNow);
  }

  private readonly followNow = (): void => {
    this.engine.off('running', this.followNow);
    if (this.following || this.closing) return;
    this.following = this.engine
      .whileStopped(() => this.installHooks())
      .catch((e: unknown) => this.say(`Module symbols: cannot follow insmod and rmmod: ${errorText(e)}`));
  };

  /**
   * First look at every stop. True when the stop was a hidden one: it has been handled and the
   * kernel resumed, so nothing must be reported.
   */
  async onStop(stop: StopInfo): Promise<boolean> {
    if (this.closing) return this.hooks.has(stop.breakpointNumber ?? -1);
    const handled = this.handleStop(stop);
    this.inFlight = handled.catch(() => undefined);
    return handled;
  }

  /**
   * The session is ending: hidden stops are no longer handled or resumed, so a detach that
   * follows finds the kernel stopped. Resolves once a stop being handled now is done.
   */
  async close(): Promise<void> {
    this.closing = true;
    await this.inFlight;
  }

  private async handleStop(stop: StopInfo): Promise<boolean> {
    const hook = stop.breakpointNumber === undefined ? undefined : this.hooks.get(stop.breakpointNumber);
    if (!hook) return this.userStop(stop);
    const started = Date.now();
    let name = '?';
    try {
      if (hook === 'freeInit') {
        name = (await this.dropFinishedInits()).join(' ');
      } else {
        const mod = await this.modArgument(stop.threadId);
        if (hook === 'load') {
          await this.dropFinishedInits();
          const module = await readModule(this.target, mod);
          name = module.name;
          this.known = [module, ...this.known.filter((m) => m.address !== mod)];
          await this.load(module, 'insmod');
        } else {
          name = this.loaded.get(mod)?.module.name ?? this.known.find((m) => m.address === mod)?.name ?? name;
          this.known = this.known.filter((m) => m.address !== mod);
          await this.unload(mod);
        }
      }
    } catch (err) {
      this.say(`Module symbols: ${hook === 'load' ? 'loading' : hook === 'unload' ? 'unloading' : 'updating'} ${name} failed: ${errorText(err)}`);
    }
    // For views to refresh, and `ms` (stop to resume, adapter side) for the bench.
    this.options.hooks.modulesChanged({ name, change: hook, ms: Date.now() - started });
    // The user's own breakpoint on the same function: their stop, not ours.
    if (await this.userBreakpointAt(stop.frame?.address)) return false;
    if (this.closing) return true;
    await this.engine.continue().catch((e: unknown) => this.say(`Module symbols: could not resume the kernel: ${errorText(e)}`));
    return true;
  }

  /**
   * A stop the user may see. Init sections freed since the last stop are dropped first; a stop
   * at a breakpoint location that this removed (it was in freed init memory) is resumed.
   */
  private async userStop(stop: StopInfo): Promise<boolean> {
    if (![...this.loaded.values()].some((l) => l.withInit)) return false;
    try {
      if ((await this.dropFinishedInits()).length === 0 || stop.breakpointNumber === undefined || stop.frame?.address === undefined) return false;
      const b = (await this.breakpointViews()).get(stop.breakpointNumber);
      if (!b || b.locations.some((l) => l.enabled && l.address === stop.frame!.address)) return false;
    } catch (e) {
      this.say(`Module symbols: ${errorText(e)}`);
      return false;
    }
    if (this.closing) return true;
    await this.engine.continue().catch((e: unknown) => this.say(`Module symbols: could not resume the kernel: ${errorText(e)}`));
    return true;
  }

  /**
   * What `kdap/modules` answers: read fresh when the kernel is stopped (loading any module the
   * hooks missed), the last known list while it runs.
   */
  async list(): Promise<ModuleInfo[]> {
    if (this.engine.state === 'stopped') {
      await this.syncAll(false).catch((e: unknown) => {
        // Stopped before paging is on (launch at reset): no module can be loaded yet.
        if (!(e instanceof FaultError)) throw e;
      });
    }
    return this.known.map((m) => moduleInfo(m, this.loaded.get(m.address)?.file.path ?? null));
  }

  /**
   * `kdap/loadModuleSymbols`: the user's file becomes the symbols of the loaded module `name`,
   * now and on every later insmod of it in this session. The file is checked before the
   * module's current symbols (if any) go, so a bad pick changes nothing.
   */
  async pick(name: string, file: string): Promise<{ module: ModuleInfo; warnings: string[] }> {
    if (typeof name !== 'string' || !name || typeof file !== 'string' || !file) throw new UserError('kdap/loadModuleSymbols needs "name" (a loaded module) and "file" (its .ko).');
    if (!path.isAbsolute(file)) throw new UserError(`The symbol file must be an absolute path, not "${file}".`);
    await this.inFlight;
    if (this.engine.state !== 'stopped') throw new UserError('The kernel is running: pause it to load module symbols.');
    await this.syncAll(false).catch((e: unknown) => {
      if (!(e instanceof FaultError)) throw e;
    });
    const key = name.replace(/-/g, '_');
    const module = this.known.find((m) => m.name.replace(/-/g, '_') === key);
    if (!module) {
      const names = this.known.map((m) => m.name).sort();
      throw new UserError(`No module named ${name} is loaded${names.length ? ` (loaded: ${names.join(', ')})` : ''}.`);
    }
    const files = await this.moduleFiles();
    let chosen: ModuleFile;
    try {
      chosen = await files.open(file, moduleFacts(module));
    } catch (e) {
      throw new UserError(`Module ${module.name}: ${errorText(e)}`);
    }
    const previous = this.loaded.get(module.address)?.file;
    if (previous) await this.unload(module.address);
    try {
      await this.attach(module, chosen);
    } catch (e) {
      // Put back what it had rather than leave it without symbols.
      if (previous) await bestEffort(this.attach(module, previous), `putting back ${module.name}'s symbols`);
      throw new UserError(`Module ${module.name}: could not load ${file}: ${errorText(e)}`);
    }
    this.picked.set(module.name, file);
    this.missing.delete(module.name);
    for (const w of chosen.warnings) this.say(`Module ${module.name}: ${w}`);
    this.say(`Module ${module.name}: symbols from ${chosen.path} (picked; ${module.state} at ${hex(module.base)}).`);
    this.options.hooks.modulesChanged({ name: module.name, change: 'picked', ms: 0 });
    return { module: moduleInfo(module, chosen.path), warnings: chosen.warnings };
  }

  // ---- loading ----------------------------------------------------------------------------

  /** Reads the module list and makes gdb's symbols match it. */
  private async syncAll(announce: boolean): Promise<void> {
    const started = Date.now();
    const modules = await listModules(this.target);
    this.known = modules;
    const present = new Set(modules.map((m) => m.address));
    for (const address of [...this.loaded.keys()]) if (!present.has(address)) await this.unload(address);
    let loadedNow = 0;
    for (const m of modules) {
      const l = this.loaded.get(m.address);
      if (l && (!l.withInit || m.state === 'coming')) continue;
      if (l) await this.unload(m.address);
      if (await this.load(m, announce ? undefined : 'found')) loadedNow++;
    }
    if (!announce) return;
    const without = modules.filter((m) => !this.loaded.has(m.address)).map((m) => m.name);
    const parts = [`Module symbols: ${modules.length - without.length} of ${modules.length} loaded modules (${((Date.now() - started) / 1000).toFixed(2)} s).`];
    if (without.length > 0) parts.push(`No symbol file found for: ${without.join(', ')}; add the folders holding them to "modulePaths".`);
    if (modules.length > 0 || loadedNow > 0) this.say(parts.join(' '));
  }

  /** Loads one module's symbols; false when no file was found. */
  private async load(module: KernelModule, why?: 'insmod' | 'found' | 'init done'): Promise<boolean> {
    const files = await this.moduleFiles();
    const facts = moduleFacts(module);
    const picked = this.picked.get(module.name);
    if (picked) {
      const file = await files.open(picked, facts).catch((e: unknown) => {
        this.say(`Module ${module.name}: the picked symbol file is unusable now (${errorText(e)}); searching instead.`);
        return undefined;
      });
      if (file) {
        await this.attach(module, file);
        for (const w of file.warnings) this.say(`Module ${module.name}: ${w}`);
        if (why === 'insmod' || why === 'found') this.say(`Module ${module.name}: symbols from ${file.path} (picked; ${module.state} at ${hex(module.base)}).`);
        return true;
      }
    }
    let file = await files.find(facts);
    if (file && why === 'insmod' && module.buildId && file.buildId !== module.buildId) {
      // Edit, rebuild, insmod: the folders were indexed before the new .ko existed.
      files.rescan();
      file = await files.find(facts);
    }
    if (!file) {
      if (!this.missing.has(module.name) && why) this.say(`Module ${module.name}: no symbol file found (searched ${files.folders().join(', ') || 'no folders'}).`);
      this.missing.add(module.name);
      return false;
    }
    this.missing.delete(module.name);
    await this.attach(module, file);
    for (const w of file.warnings) this.say(`Module ${module.name}: ${w}`);
    if (why === 'insmod' || why === 'found') this.say(`Module ${module.name}: symbols from ${file.path} (${module.state} at ${hex(module.base)}).`);
    return true;
  }

  /** Gives gdb `file` as the symbols of `module`, at the live module's addresses. */
  private async attach(module: KernelModule, file: ModuleFile): Promise<void> {
    const park = parkWindow(this.nextPark++);
    const placement = placeSections(module, file, park.start);
    const anchor = placement.get('.text') ?? module.sections.values().next().value ?? module.base;
    const before = await this.breakpointViews();
    if (archOps(this.options.arch).prelinkModules) {
      const linked = await this.prelinker.link(module.name, file.elf, placement);
      await this.gdb.console(`add-symbol-file ${quoteArg(linked)}`, 120_000);
    } else {
      const args = [...placement].map(([name, at]) => `-s ${quoteArg(name)} ${hex(at)}`).join(' ');
      await this.gdb.console(`with index-cache enabled off -- add-symbol-file ${quoteArg(file.elf)} ${args}`, 120_000);
    }
    const withInit = [...module.sections.keys()].some(isInitSection);
    this.loaded.set(module.address, { module, file, anchor, withInit, park, parkedLocations: new Set() });
    await this.settleBreakpoints(before);
  }

  private async unload(address: bigint): Promise<void> {
    const l = this.loaded.get(address);
    if (!l) return;
    this.loaded.delete(address);
    // gdb carries a location's disabled state over to the next location of the same function
    // when it re-binds the breakpoint: enabled again, the init breakpoint binds live next time.
    for (const n of l.parkedLocations) await bestEffort(this.gdb.send('-break-enable', [n]), 'enabling a parked breakpoint location');
    const before = await this.breakpointViews();
    await this.gdb.console(`remove-symbol-file -a ${hex(l.anchor)}`).catch((e: unknown) => this.say(`Module ${l.module.name}: ${errorText(e)}`));
    await this.settleBreakpoints(before);
  }

  /** Modules loaded while COMING whose init has finished: load them again with init parked. */
  private async dropFinishedInits(): Promise<string[]> {
    const done: string[] = [];
    for (const l of [...this.loaded.values()]) {
      if (!l.withInit) continue;
      const now = await readModule(this.target, l.module.address);
      if (now.state === 'coming') continue;
      await this.unload(l.module.address);
      this.known = this.known.map((m) => (m.address === now.address ? now : m));
      await this.load(now, 'init done');
      done.push(now.name);
    }
    return done;
  }

  /** do_init_module's / free_module's `mod`, by name, else from the first-argument register. */
  private async modArgument(thread: number | undefined): Promise<bigint> {
    const where = { thread, frame: 0 };
    for (const expression of ['(unsigned long)mod', `(unsigned long)${archOps(this.options.arch).firstArgument}`]) {
      try {
        const text = await data.evaluate(this.gdb, expression, where);
        const m = /^\s*(0x[0-9a-f]+|\d+)/i.exec(text);
        if (m) return BigInt.asUintN(64, BigInt(m[1]));
      } catch (err) {
        // optimized out here: try the register
        ignore(err, `reading ${expression}`);
      }
    }
    throw new Error('cannot read the module argument');
  }

  /** The file finder, once the kernel's release (which names /lib/modules/RELEASE) is known. */
  private moduleFiles(): Promise<ModuleFiles> {
    this.files ??= (async () => {
      const release = await bestEffort(kernelRelease(this.target), 'reading the kernel release');
      return new ModuleFiles({ modulePaths: this.options.modulePaths, release, vmlinux: this.options.vmlinux, cacheDir: this.cacheDir });
    })();
    return this.files;
  }

  // ---- hooks ------------------------------------------------------------------------------

  private async installHooks(): Promise<void> {
    const hooks: Hook[] = this.options.breakpointsInMemory() ? ['load', 'freeInit', 'unload'] : ['load', 'unload'];
    for (const hook of hooks) {
      try {
        const b = await bp.insert(this.gdb, HOOKS[hook], {});
        await dedupeFtraceLocations(this.gdb, this.options.arch, b);
        this.hooks.set(b.number, hook);
      } catch (err) {
        if (hook !== 'freeInit') this.say(`Module symbols: cannot follow ${hook === 'load' ? 'insmod' : 'rmmod'} (no ${HOOKS[hook]}: ${errorText(err)}).`);
      }
    }
  }

  // ---- breakpoints ------------------------------------------------------------------------

  private async userBreakpointAt(pc: bigint | undefined): Promise<boolean> {
    if (pc === undefined) return false;
    const views = await bestEffort(this.breakpointViews(), 'listing breakpoints', new Map<number, bp.Breakpoint>());
    return [...views.values()].some((b) => b.locations.some((l) => l.enabled && l.address === pc));
  }

  /** The user's breakpoints (not the hidden hooks), by gdb number. */
  private async breakpointViews(): Promise<Map<number, bp.Breakpoint>> {
    const r = await this.gdb.send('-break-info');
    const table = r.results.BreakpointTable as MITuple | undefined;
    const out = new Map<number, bp.Breakpoint>();
    if (!table) return out;
    for (const t of tuples(table, 'body', 'bkpt')) {
      const b = bp.parseBreakpoint(t);
      if (!this.hooks.has(b.number)) out.set(b.number, b);
    }
    return out;
  }

  /**
   * After gdb re-bound breakpoints to a module that came or went: one stop per function on
   * arm64 (the ftrace pad), nothing inserted in the park, and `breakpointChanged` for each
   * user breakpoint whose binding changed.
   */
  private async settleBreakpoints(before: Map<number, bp.Breakpoint>): Promise<void> {
    const after = await this.breakpointViews();
    for (const b of after.values()) {
      if (archOps(this.options.arch).patchableFunctionEntry) await this.dedupeEntryPads(b);
      for (const loc of b.locations) {
        if (!loc.enabled || loc.address === undefined || !inPark(loc.address)) continue;
        // A location left enabled in the park would be inserted there (kgdb writes into memory).
        const failed = await bp.disableLocation(this.gdb, loc.number).then(() => undefined, (e: unknown) => errorText(e));
        if (failed) {
          this.say(`Module symbols: breakpoint location ${loc.number} at ${hex(loc.address)} is in a section the kernel does not have, and could not be disabled: ${failed}`);
          continue;
        }
        loc.enabled = false;
        const owner = [...this.loaded.values()].find((l) => loc.address! >= l.park.start && loc.address! < l.park.end);
        owner?.parkedLocations.add(loc.number);
      }
      const key = bindingKey(b);
      const was = this.bindings.get(b.number) ?? (before.has(b.number) ? bindingKey(before.get(b.number)!) : undefined);
      this.bindings.set(b.number, key);
      if (was !== undefined && was !== key && b.type === 'breakpoint') this.options.hooks.breakpointChanged(b);
    }
    for (const n of [...this.bindings.keys()]) if (!after.has(n)) this.bindings.delete(n);
  }

  /**
   * arm64 functions built with -fpatchable-function-entry start with NOPs for ftrace: gdb binds
   * a function breakpoint twice, at the ELF symbol (past its skipped prologue, no DWARF
   * there, no arguments) and at the DWARF entry. In vmlinux the two are 8 bytes apart; in a
   * module's init function 4 (gdb names the first after the `init_module` alias). Keep the
   * DWARF one, so the user stops once, with arguments and a line.
   */
  private async dedupeEntryPads(b: bp.Breakpoint): Promise<void> {
    if (b.locations.length < 2) return;
    const entries = b.locations.filter((l) => l.func !== undefined && l.address !== undefined);
    for (const pad of b.locations) {
      if (!pad.enabled || pad.func !== undefined || pad.address === undefined) continue;
      if (!entries.some((e) => e.address! > pad.address! && e.address! - pad.address! <= 16n)) continue;
      await bestEffort(bp.disableLocation(this.gdb, pad.number), 'disabling an ftrace pad location');
      pad.enabled = false;
    }
  }

  private say(text: string): void {
    this.options.hooks.say(text);
  }
}

/** Where a breakpoint is bound, as the user sees it: pending, or its first enabled location. */
function bindingKey(b: bp.Breakpoint): string {
  const loc = b.locations.find((l) => l.enabled) ?? b.locations[0];
  if (b.pending || !loc) return 'pending';
  return JSON.stringify([loc.line, loc.fullname ?? loc.file, loc.address?.toString(16)]);
}

/** A module as `kdap/modules` and `kdap modules --json` show it. */
export function moduleInfo(m: KernelModule, symbolFile: string | null): ModuleInfo {
  return {
    name: m.name,
    state: m.state,
    base: hex(m.base),
    size: m.size,
    sections: Object.fromEntries([...m.sections].map(([n, a]) => [n, hex(a)])),
    symbolFile,
  };
}

function moduleFacts(module: KernelModule) {
  return { name: module.name, buildId: module.buildId, srcversion: module.srcversion, sections: module.sections };
}
