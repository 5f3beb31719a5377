/**
 * One attached kernel: the connection, the gdb that talks to it, and everything built over the
 * pair (the kernel Target, the views, the threads, module symbols). Made in one place for every
 * front end and every kind of connection; the DAP session and the CLI hold one record each.
 */
import type { Arch } from '../kernel/arch/names';
import { kernelDataRoots, kernelLayout, registerRoots, type KernelLayout } from '../kernel/page-table-roots';
import type { Connection } from './connection';
import { debugInfoProbe } from './debug-info';
import { defaultIndexCacheDir, Engine, type EngineOptions } from './engine';
import { LayoutCache } from './layout-cache';
import { KernelViews } from './kernel-views';
import { LiveTarget } from './live-target';
import { ModuleSymbols, type ModuleSymbolsHooks } from './module-symbols';
import { TaskOverlayConnection } from './task-overlay-connection';
import { isTaskServing, TaskSelection } from './task-selection';
import { ThreadList } from './threads';
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
  ) {}

  /**
   * Starts gdb with the vmlinux (the slow part on a cold index) and the connection's settings,
   * and builds what reads the kernel; `connect()` then reaches it. Closes the connection if
   * gdb does not start.
   */
  static async start(stub: Connection, options: AttachmentOptions): Promise<Attachment> {
    const tasks = options.tasks === true ? {} : options.tasks || undefined;
    // A stub that serves tasks itself (a dump's RSP server) needs no overlay in front.
    const connection: Connection = tasks && !isTaskServing(stub) ? new TaskOverlayConnection(stub, options.arch, (): LiveTarget => target, { say: () => undefined, trace: tasks.trace }) : stub;
    let engine: Engine;
    try {
      engine = await Engine.start({ ...options, setupCommands: [...connection.gdbSettings(options.arch), ...(options.setupCommands ?? [])] });
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
      layouts: LayoutCache.open(options.indexCacheDir ?? defaultIndexCacheDir(), options.vmlinux),
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
    const attachment = new Attachment(options.arch, connection, engine, target, views, threads, modules, picked);
    attachment.forgetLayout = () => (layout = undefined);
    return attachment;
  }

  /** The task overlay between gdb and the stub, when the attachment has one. */
  get taskOverlay(): TaskOverlayConnection | undefined {
    return this.connection instanceof TaskOverlayConnection ? this.connection : undefined;
  }

  private forgetLayout = (): void => undefined;

  /**
   * The vmlinux's symbols moved by `slide` (KASLR, engine/kaslr-locate.ts): every address read
   * through them (symbols, the kernel layout, the banner's place, the task overlay's symbols) is
   * read again.
   */
  async symbolsMoved(slide: bigint): Promise<void> {
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
