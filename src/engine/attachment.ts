/**
 * One attached kernel: the connection, the gdb that talks to it, and everything built over the
 * pair (the kernel Target, the views, the threads, module symbols). Made in one place for every
 * front end and every kind of connection; the DAP session and the CLI hold one record each.
 */
import type { Arch } from '../kernel/arch/names';
import { joinTarget, type Target } from '../kernel/target';
import { bannerOfFacts } from './banner';
import { kernelDataRoots, kernelLayout, registerRoots, type KernelLayout } from '../kernel/page-table-roots';
import type { Connection } from './connection';
import { debugInfoProbe } from './debug-info';
import { defaultIndexCacheDir, Engine, type EngineOptions } from './engine';
import { LayoutCache } from './layout-cache';
import { readVmlinuxFacts, type VmlinuxFacts } from './linked-kernel';
import { KernelViews } from './kernel-views';
import { LiveTarget } from './live-target';
import { ModuleSymbols, type ModuleSymbolsHooks } from './module-symbols';
import { TaskOverlayConnection } from './task-overlay-connection';
import { isTaskServing, TaskSelection } from './task-selection';
import { ThreadList } from './threads';
import { symbolTable, type SymbolTable } from './vmlinux-symbols';
import { bestEffort } from './errors';

export interface AttachmentOptions extends EngineOptions {
  /** Folders with module .ko files (configuration `modulePaths`). */
  modulePaths?: readonly string[];
  /** Where module symbols report; nothing is reported without. */
  moduleHooks?: ModuleSymbolsHooks;
  /**
   * Put kdap's task overlay between gdb and the stub (task-overlay-connection.ts): every task
   * can then be a gdb thread with its own stack. `trace` gets its warnings and traffic. A
   * connection that serves tasks itself (a dump) gets no overlay, and has its tasks without.
   */
  tasks?: boolean | { trace?: (line: string) => void };
}

const quiet: ModuleSymbolsHooks = { say: () => undefined, breakpointChanged: () => undefined, modulesChanged: () => undefined };

/**
 * Kernel memory read by the task overlay between gdb's packets, where it pays: over QEMU a
 * long read's packets go to the stub back to back, where gdb sends each after the last answer.
 */
function overlayReads(connection: TaskOverlayConnection): ((address: bigint, length: number) => Promise<Uint8Array>) | undefined {
  if (connection.flavour !== 'qemu') return undefined;
  return async (address, length) => {
    const overlay = await connection.overlay;
    return overlay.whileStopped(() => overlay.target.readVirtual(address, length));
  };
}

export class Attachment {
  private constructor(
    readonly arch: Arch,
    readonly connection: Connection,
    readonly engine: Engine,
    readonly target: LiveTarget,
    readonly views: KernelViews<LiveTarget>,
    readonly threads: ThreadList,
    readonly modules: ModuleSymbols,
    /** The tasks shown as threads, where the stub or the task overlay in front of it serves them. */
    readonly tasks: TaskSelection | undefined,
    private readonly facts: (extra?: readonly string[]) => Promise<VmlinuxFacts>,
  ) {}

  /**
   * What the vmlinux file says (engine/linked-kernel.ts), read once per attachment (while gdb
   * loads the symbols); `extra` symbols beyond those it always looks up cost another read.
   */
  async vmlinuxFacts(extra: readonly string[] = []): Promise<VmlinuxFacts> {
    const facts = await this.facts();
    return extra.every((name) => facts.symbols.has(name)) ? facts : this.facts(extra);
  }

  /**
   * Starts gdb with the vmlinux (the slow part on a cold index) and the connection's settings,
   * and builds what reads the kernel; `connect()` then reaches it. Closes the connection if
   * gdb does not start.
   */
  static async start(stub: Connection, options: AttachmentOptions): Promise<Attachment> {
    const tasks = options.tasks === true ? {} : options.tasks || undefined;
    // Per vmlinux build id: struct layouts, link addresses, and what the facts are read from.
    const store = LayoutCache.open(options.indexCacheDir ?? defaultIndexCacheDir(), options.vmlinux);
    // The file's own facts (banner, link addresses) are read without gdb while gdb loads the
    // symbols, so nothing before the first stop waits for gdb's (slow) first lookups.
    let read: Promise<VmlinuxFacts> | undefined;
    const facts = (extra: readonly string[] = []): Promise<VmlinuxFacts> => {
      if (extra.length > 0) return store.then((s) => readVmlinuxFacts(options.vmlinux, extra, { store: s }));
      read ??= store.then((s) => readVmlinuxFacts(options.vmlinux, [], { store: s }));
      read.catch(() => undefined);
      return read;
    };
    // The whole symbol table only when the task overlay records its debug info (kgdb: before gdb
    // connects; QEMU: when tasks are first asked for).
    let tableRead: Promise<SymbolTable | undefined> | undefined;
    const table = (): Promise<SymbolTable | undefined> => {
      tableRead ??= symbolTable(options.vmlinux);
      tableRead.catch(() => undefined);
      return tableRead;
    };
    // gdb's vmlinux is where kdap put it: at the connection's known offset (a dump's settings
    // load it there), moved by every slide found since. A setup command of the user's that loads
    // symbols may have put it elsewhere: then gdb is asked.
    const userMoves = (options.setupCommands ?? []).some((c) => /symbol-file|^\s*file\b/.test(c));
    const placement = (): bigint | undefined => (userMoves ? undefined : BigInt.asUintN(64, (stub.knownSlide ?? 0n) + attachment.slide));
    const probeTarget = (): Target => withLinkedSymbols(target, table, () => attachment.slide);
    // A stub that serves tasks itself (a dump's RSP server) needs no overlay in front.
    const connection: Connection = tasks && !isTaskServing(stub) ? new TaskOverlayConnection(stub, options.arch, probeTarget, { say: () => undefined, trace: tasks.trace }) : stub;
    let engine: Engine;
    try {
      engine = await Engine.start({
        ...options,
        fileBanner: () => facts().then(bannerOfFacts),
        setupCommands: [...connection.gdbSettings(options.arch), ...(options.setupCommands ?? [])],
      });
    } catch (e) {
      await bestEffort(connection.close(), 'closing the connection after gdb failed to start');
      throw e;
    }
    const gdb = engine.gdb;
    // Without paging registers (kgdb, dumps) the layout comes from kernel data, read once: it
    // does not move while the kernel runs.
    let layout: Promise<KernelLayout> | undefined;
    const kernelData = (): Promise<KernelLayout> => {
      layout ??= kernelLayout(target, debugInfoProbe(gdb));
      layout.catch(() => (layout = undefined));
      return layout;
    };
    const target: LiveTarget = new LiveTarget(gdb, options.arch, {
      physical: () => (connection.kernelMemory === 'direct-map' ? 'direct-map' : connection.capabilities.physicalReads ? 'stub' : 'none'),
      directMap: async () => (await kernelData()).map,
      cpuThreads: (g) => connection.cpuThreads(g),
      preferredThread: () => engine.stopInfo?.threadId,
      layouts: store,
      placement,
      readDirect: connection instanceof TaskOverlayConnection ? overlayReads(connection) : undefined,
    });
    const roots = connection.pageTableRoots === 'registers' ? registerRoots(target) : kernelDataRoots(target, kernelData);
    const views = new KernelViews(target, { stopped: () => engine.state === 'stopped', stoppedThread: () => engine.stopInfo?.threadId }, roots);
    const picked = isTaskServing(connection) ? new TaskSelection(connection, gdb) : undefined;
    const threads = new ThreadList(() => target.threads(), () => engine.stopInfo, connection.threadGroups(target, gdb), connection.capabilities.threads === 'cpus+tasks', picked && (() => picked.threads()));
    const modules = new ModuleSymbols(engine, target, {
      arch: options.arch,
      vmlinux: options.vmlinux,
      modulePaths: options.modulePaths,
      breakpointsInMemory: () => connection.capabilities.breakpointsInMemory,
      hooks: options.moduleHooks ?? quiet,
    });
    // Both: a step is a resume and a stop, and what was read before either is stale.
    const invalidate = () => {
      target.invalidate();
      threads.invalidate();
      picked?.invalidate();
    };
    engine.on('running', invalidate);
    engine.on('stopped', invalidate);
    const attachment = new Attachment(options.arch, connection, engine, target, views, threads, modules, picked, facts);
    attachment.forgetLayout = () => (layout = undefined);
    return attachment;
  }

  /** The task overlay between gdb and the stub, when the attachment has one. */
  get taskOverlay(): TaskOverlayConnection | undefined {
    return this.connection instanceof TaskOverlayConnection ? this.connection : undefined;
  }

  private forgetLayout = (): void => undefined;
  /** How far gdb's symbols were moved from the vmlinux's link addresses (KASLR). */
  private slide = 0n;

  /**
   * The vmlinux's symbols moved by `slide` (KASLR, engine/kaslr-locate.ts): every address read
   * through them (symbols, the kernel layout, the banner's place, the task overlay's symbols) is
   * read again.
   */
  async symbolsMoved(slide: bigint): Promise<void> {
    this.slide += slide;
    if (this.engine.banner) this.engine.banner = { ...this.engine.banner, address: this.engine.banner.address + slide };
    this.target.forgetSymbols();
    this.forgetLayout();
    this.target.invalidate();
    this.threads.invalidate();
    await this.taskOverlay?.symbolsMoved(slide);
  }

  /** Reaches the kernel: waits until the connection is ready, connects gdb, lets the connection look. */
  async connect(): Promise<void> {
    await this.connection.beforeConnect?.(this.engine, this.target);
    await this.engine.connect(this.connection);
    await this.connection.connected(this.engine, this.target);
  }

  /**
   * Ends the attachment: a kernel the connection owns ends with it; any other is left running
   * as it was found (stopped first where the connection needs that, then detached).
   */
  async close(): Promise<void> {
    const { engine, connection } = this;
    if (!connection.ownsKernel && engine.gdb.running) {
      await this.modules.close();
      await connection.beforeDetach(engine);
      // Bounded wait for the stop: detaching a target that still runs fails and leaves it halted.
      await bestEffort(engine.detach(5000), 'detaching');
    }
    await bestEffort(engine.stop(), 'ending gdb');
    await connection.close();
  }
}

const KERNEL_HALF = 1n << 63n;

/**
 * `target`'s debug info at the vmlinux's link addresses, for the task overlay (which adds the
 * KASLR slide itself), with the file's symbol table answering first: a name the file defines
 * once, or not at all, needs no gdb (a failed lookup makes gdb search every symbol table, ~0.1 s).
 * The overlay's names are the vmlinux's own, so a module's symbols gdb may know are not missed.
 * A name the file defines several times (a static in several files) goes to gdb, as does every
 * name when the file's table could not be read; gdb's answer is moved back by `slide()`.
 */
function withLinkedSymbols(target: Target, symbolTable: () => Promise<SymbolTable | undefined>, slide: () => bigint): Target {
  return joinTarget(target.arch, target, {
    layout: (name) => target.layout(name),
    symbol: async (name) => {
      const table = await symbolTable().catch(() => undefined);
      const at = table?.get(name);
      if (at !== null && table) return at;
      const moved = await target.symbol(name);
      return moved !== undefined && moved >= KERNEL_HALF ? moved - slide() : moved;
    },
  });
}
