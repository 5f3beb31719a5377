/**
 * A connection with kdap's task overlay (src/rsp/overlay.ts) between gdb and the stub of an
 * inner connection (QEMU's gdbstub, a kgdb line): gdb connects to the overlay, which forwards
 * everything and adds the kernel's tasks as threads whose registers are their switch frames.
 * Everything but where gdb connects and which of gdb's threads are CPUs is the inner
 * connection's.
 *
 * The overlay reads the kernel between gdb's packets, so it cannot ask gdb for symbols then:
 * what it needs (overlayProbes) is recorded while gdb is idle (engine/deferred-debug-info.ts):
 * over kgdb, whose every task is a thread from the first packet, before gdb connects; over QEMU,
 * where task threads come only when asked for, when the tasks are first asked for.
 */
import * as net from 'node:net';
import type { GdbBackend } from '../gdb/backend';
import type { Arch, Target } from '../kernel/target';
import { overlayProbes, TaskOverlay } from '../rsp/overlay';
import { decodeTaskThreadId } from '../rsp/thread-id';
import type { Capabilities, Connection, ConnectionHooks, ThreadGroup } from './connection';
import { DeferredDebugInfo } from './deferred-debug-info';
import type { Engine } from './engine';
import { bestEffort, UserError } from './errors';
import type { CpuThread } from './kernel-views';
import type { TaskServing } from './task-selection';

/** `Thread 1.10000095`, `Thread 95`, `Thread p1.2` → the RSP thread id (gdb prints it in decimal). */
export function rspThreadOf(targetId: string): number | undefined {
  const m = /^Thread (?:p?-?\d+\.)?(-?\d+)\b/.exec(targetId);
  return m ? Number(m[1]) : undefined;
}

export class TaskOverlayConnection implements Connection, TaskServing {
  private overlayPort: number | undefined;
  private opened: Promise<TaskOverlay> | undefined;
  private debugInfo: DeferredDebugInfo | undefined;

  /** `target`: the kernel's debug info as gdb knows it before connecting (link addresses), for what the overlay needs. */
  constructor(
    readonly inner: Connection,
    private readonly arch: Arch,
    private readonly target: () => Target,
    private readonly hooks?: Pick<ConnectionHooks, 'say' | 'trace'>,
  ) {}

  get name(): string {
    return this.inner.name;
  }
  get capabilities(): Capabilities {
    return this.inner.capabilities;
  }
  get kernelMemory(): Connection['kernelMemory'] {
    return this.inner.kernelMemory;
  }
  get pageTableRoots(): Connection['pageTableRoots'] {
    return this.inner.pageTableRoots;
  }
  get ownsKernel(): boolean {
    return this.inner.ownsKernel;
  }

  /** The stub lists every task itself (kgdb), or kdap numbers the exposed ones (QEMU). */
  get flavour(): 'qemu' | 'kgdb' {
    return this.inner.capabilities.threads === 'cpus+tasks' ? 'kgdb' : 'qemu';
  }

  get where(): string {
    return this.inner.where ?? this.inner.remote;
  }

  get remote(): string {
    if (this.overlayPort === undefined) throw new Error('the task overlay is not listening yet');
    return `127.0.0.1:${this.overlayPort}`;
  }

  /** The overlay, once `ready()` has opened it. */
  get overlay(): Promise<TaskOverlay> {
    if (!this.opened) return Promise.reject(new UserError('not connected to the kernel yet'));
    return this.opened;
  }

  /** The overlay, with its debug info recorded: ask from kdap's side, with gdb idle. */
  get taskServer(): Promise<TaskOverlay> {
    return this.overlay.then(async (overlay) => {
      await this.debugInfo?.ready();
      return overlay;
    });
  }

  gdbSettings(arch: Arch): string[] {
    return this.inner.gdbSettings(arch);
  }

  async ready(): Promise<void> {
    await this.inner.ready();
    this.opened ??= this.open();
    await this.opened;
  }

  private async open(): Promise<TaskOverlay> {
    const debugInfo = new DeferredDebugInfo(this.target, overlayProbes);
    this.debugInfo = debugInfo;
    if (this.flavour === 'kgdb') await debugInfo.ready();
    const [host, port] = splitRemote(this.inner.remote);
    const socket = net.connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', (e) => reject(new UserError(`No gdbstub answered at ${this.inner.remote}: ${e.message}`)));
    });
    const trace = this.hooks?.trace;
    const overlay = new TaskOverlay({
      arch: this.arch,
      flavour: this.flavour,
      stub: socket,
      debugInfo,
      trace: trace && ((side, way, text) => trace(`[tasks ${side} ${way}] ${text}`)),
    });
    overlay.on('warning', (w) => this.hooks?.trace?.(`[tasks] ${w}`));
    this.overlayPort = await overlay.listen();
    return overlay;
  }

  /** KASLR: the symbols the overlay recorded before the slide was known move with it. */
  async symbolsMoved(slide: bigint): Promise<void> {
    this.debugInfo?.relocate(slide);
    if (this.opened) (await this.opened).tasks.invalidate();
  }

  connected(engine: Engine, target: Target): Promise<void> {
    return this.inner.connected(engine, target);
  }
  beforeContinue(engine: Engine): Promise<void> {
    return this.inner.beforeContinue(engine);
  }
  beforeDetach(engine: Engine): Promise<void> {
    return this.inner.beforeDetach(engine);
  }

  /** The inner connection's CPUs, without the task threads the overlay added to gdb's list. */
  async cpuThreads(gdb: GdbBackend): Promise<CpuThread[]> {
    const all = await this.inner.cpuThreads(gdb);
    if (this.flavour === 'kgdb') return all;
    return all.filter((t) => {
      const tid = rspThreadOf(t.info.targetId);
      return tid === undefined || !decodeTaskThreadId(tid);
    });
  }

  threadGroups(target: Target, gdb: GdbBackend): ThreadGroup[] {
    return this.inner.threadGroups(target, gdb);
  }

  write(text: string): void {
    this.inner.write(text);
  }

  async close(): Promise<void> {
    if (this.opened) await bestEffort(this.opened.then((o) => o.close()), 'closing the task overlay');
    await this.inner.close();
  }
}

function splitRemote(remote: string): [string, number] {
  const i = remote.lastIndexOf(':');
  const host = remote.slice(0, i) || 'localhost';
  return [host === 'localhost' ? '127.0.0.1' : host, Number(remote.slice(i + 1))];
}
