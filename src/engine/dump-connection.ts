/**
 * A crash dump as a kernel to debug: kdap's RSP server (src/rsp) serves gdb the dump's CPUs,
 * registers and memory on a port of 127.0.0.1; the kernel is stopped for good and read-only.
 *
 * Opening checks the dump against the vmlinux (format, arch, build) before gdb starts; gdb then
 * loads the vmlinux moved by the dump's KASLR offset. Just before gdb connects, the kernel's log
 * is read for why it stopped: the stop is the panicking CPU's, and `crash` says what happened.
 *
 * The server's task threads need struct layouts, which it cannot ask of the gdb it serves (gdb
 * waits for its answer). They are recorded from gdb the first time tasks are asked for: by kdap
 * (the Tasks view, `kdap core ps|bt`, through `taskServer`) while gdb is idle, or by gdb itself
 * (`monitor kdap`), which is answered "ask again" meanwhile. Recording them up front would cost
 * every open a couple of seconds (task_struct alone takes gdb about one).
 */
import { openKernelDump, type KernelDump } from '../dump/kernel-dump';
import { crashReport, type CrashReport } from '../dump/crash-report';
import type { GdbBackend } from '../gdb/backend';
import { quoteArg } from '../gdb/mi/parser';
import { DebugInfoSnapshot } from '../kernel/debug-info-snapshot';
import { DebugInfoError } from '../kernel/struct';
import { joinTarget, type Arch, type Target } from '../kernel/target';
import type { FrozenCpu, FrozenKernel } from '../rsp/backend';
import { overlayProbes } from '../rsp/overlay';
import { decodeTaskThreadId } from '../rsp/thread-id';
import { RspServer } from '../rsp/server';
import type { Capabilities, Connection, ConnectionHooks, ThreadGroup } from './connection';
import type { Engine } from './engine';
import { bestEffort, UserError } from './errors';
import type { CpuThread } from './kernel-views';
import { rspThreadOf } from './task-overlay-connection';
import type { TaskServer, TaskServing } from './task-selection';
import { everyThreadIsACpu } from './threads';

export interface DumpOptions {
  core: string;
  vmlinux: string;
  /** The vmlinux's arch (from its ELF header). */
  arch: Arch;
}

const SIGTRAP = 5;
const READ_ONLY = 'a crash dump is read-only: the kernel cannot run, step or be written';

export class DumpConnection implements Connection, TaskServing {
  readonly name = 'a read-only crash dump';
  readonly kernelMemory = 'direct-map';
  readonly pageTableRoots = 'kernel-data';
  readonly ownsKernel = true;
  /** The server numbers the tasks it shows as threads (taskThreadId()), as the task overlay does. */
  readonly flavour = 'qemu';
  readonly capabilities: Capabilities = {
    systemRegisters: false,
    physicalReads: false,
    hardwareBreakpoints: false,
    breakpointsInMemory: false,
    stopsOnOops: false,
    pause: 'none',
    writeMemory: false,
    resume: false,
    threads: 'cpus',
    repeatsBreakpointStops: false,
    dropsInterrupts: false,
  };
  /** gdbSettings() loads the vmlinux moved by the dump's own KASLR offset. */
  get knownSlide(): bigint {
    return this.kernel.kernelOffset;
  }
  /** What the kernel's log says made it stop, once gdb is about to connect; undefined if it did not crash. */
  crash: CrashReport | undefined;
  private server: RspServer | undefined;
  private served: TaskServer | undefined;
  private port = 0;
  private snapshot: DebugInfoSnapshot | undefined;
  private recording: Promise<void> | undefined;

  private constructor(
    readonly kernel: KernelDump,
    private readonly options: DumpOptions,
    private readonly hooks: ConnectionHooks,
  ) {}

  /** Opens and checks the dump; errors name the file and what is wrong with it. */
  static async open(options: DumpOptions, hooks: ConnectionHooks): Promise<DumpConnection> {
    try {
      return new DumpConnection(await openKernelDump(options.core, options.vmlinux, options.arch), options, hooks);
    } catch (e) {
      throw new UserError(e instanceof Error ? e.message : String(e));
    }
  }

  get remote(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * gdb loads the vmlinux where the dumped kernel ran it: moved by the KASLR offset, but for
   * the sections KASLR leaves (x86_64's zero-based per-CPU area), which keep their addresses.
   */
  gdbSettings(): string[] {
    const offset = this.kernel.kernelOffset;
    if (offset === 0n) return [];
    const kept = this.kernel.unmovedSections.map((s) => ` -s ${quoteArg(s.name)} 0x${s.address.toString(16)}`).join('');
    return ['symbol-file', `add-symbol-file ${quoteArg(this.options.vmlinux)} -o 0x${offset.toString(16)}${kept}`];
  }

  /**
   * With gdb's debug info at hand (nothing connected yet): read the log for the crash, and
   * start serving the dump with the crashed CPU as the stop.
   */
  async beforeConnect(engine: Engine, debugInfo: Target): Promise<void> {
    const memory = this.kernel.target;
    // gdb read the file's banner before the vmlinux moved: the kernel has it KASLR's offset higher.
    const offset = this.kernel.kernelOffset;
    if (engine.banner && offset !== 0n) engine.banner = { ...engine.banner, address: BigInt.asUintN(64, engine.banner.address + offset) };
    const withGdbDebugInfo = joinTarget(memory.arch, memory, debugInfo);
    const dump = this.kernel.dump;
    this.crash = await bestEffort(crashReport(withGdbDebugInfo, dump.cpus.length), 'reading the log for the crash', undefined);
    const stopCpu = this.crash?.cpu ?? 0;
    const cpus: FrozenCpu[] = dump.cpus.map((c) => ({ cpu: c.cpu, registers: c.registers, ...(this.crash && c.cpu === this.crash.cpu ? { note: this.crash.kind } : {}) }));
    const frozen: FrozenKernel = {
      target: {
        ...withGdbDebugInfo,
        symbol: async (name) => this.recorded(debugInfo).symbol(name),
        layout: async (name) => this.recorded(debugInfo).layout(name),
      },
      cpus: async () => cpus,
      stop: async () => ({ cpu: stopCpu, signal: SIGTRAP }),
      frozenReason: READ_ONLY,
    };
    const server = new RspServer(frozen, { trace: this.hooks.trace ? (dir, text) => this.hooks.trace!(`${dir === 'in' ? '→' : '←'} ${text}`) : undefined });
    server.on('warning', (w) => this.hooks.trace?.(`dump server: ${w}`));
    this.port = await server.listen();
    this.server = server;
    const layouts = () => this.recordedNow(debugInfo);
    this.served = {
      tasks: server.tasks,
      target: frozen.target,
      // From kdap's side, while gdb is idle: the layouts can be recorded first.
      whileStopped: async (fn) => {
        await layouts();
        return fn();
      },
      taskList: async () => {
        await layouts();
        return server.tasks.tasks();
      },
    };
  }

  get taskServer(): Promise<TaskServer> {
    return this.served ? Promise.resolve(this.served) : Promise.reject(new UserError('the dump is not open yet'));
  }

  /**
   * The debug info the server's task threads use, once recorded. The first call starts the
   * recording and fails: gdb is waiting for the server's answer, so gdb can only be asked after
   * that answer; the recording then runs while gdb is idle.
   */
  private recorded(debugInfo: Target): DebugInfoSnapshot {
    if (this.snapshot) return this.snapshot;
    this.recording ??= DebugInfoSnapshot.record(debugInfo, ...overlayProbes).then(
      (s) => void (this.snapshot = s),
      (e: unknown) => {
        this.recording = undefined;
        this.hooks.trace?.(`dump server: reading the task layouts: ${e instanceof Error ? e.message : String(e)}`);
      },
    );
    throw new DebugInfoError('kdap is reading the task layouts from the vmlinux: ask again in a moment');
  }

  /** Records the task layouts, for a caller outside gdb's packets (gdb idle). */
  private async recordedNow(debugInfo: Target): Promise<void> {
    if (this.snapshot) return;
    this.recording ??= DebugInfoSnapshot.record(debugInfo, ...overlayProbes).then((s) => void (this.snapshot = s));
    const recording = this.recording;
    try {
      await recording;
    } catch (e) {
      if (this.recording === recording) this.recording = undefined;
      throw e;
    }
    // A recording gdb started failed (and was traced): this caller gets the error too.
    if (!this.snapshot) throw new UserError('kdap could not read the task layouts from the vmlinux (see the trace)');
  }

  async ready(): Promise<void> {
    if (!this.server) throw new Error('the dump is not served yet: beforeConnect() runs first');
  }

  async connected(): Promise<void> {
    const d = this.kernel.dump;
    const crash = this.crash ? `: ${this.crash.title}${this.crash.cpu !== undefined ? ` on CPU ${this.crash.cpu}` : ''}` : '';
    this.hooks.say(`Opened ${d.path} (${d.format}${d.dumpLevel ? `, dump level ${d.dumpLevel}` : ''}, ${d.release ?? 'unknown release'}, ${d.cpus.length} CPUs)${crash}. It is read-only.`);
  }

  async beforeContinue(): Promise<void> {
    throw new UserError(READ_ONLY);
  }

  async beforeDetach(): Promise<void> {}

  /** gdb's threads without the tasks the server shows as threads of their own. */
  async cpuThreads(gdb: GdbBackend): Promise<CpuThread[]> {
    return (await everyThreadIsACpu(gdb)).filter((t) => {
      const tid = rspThreadOf(t.info.targetId);
      return tid === undefined || !decodeTaskThreadId(tid);
    });
  }

  threadGroups(): ThreadGroup[] {
    return [];
  }

  write(): void {}

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await bestEffort(server.close(), 'closing the dump server');
    this.kernel.close();
  }
}
