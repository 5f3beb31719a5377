/**
 * What a kgdb attach adds to the DAP session: the line and its console, the local port gdb
 * connects to, CPU threads first with tasks in a lazily read "Tasks" group, software-only
 * breakpoints, and kernel views that need no system registers.
 *
 * The session asks this module at a few points (attach, threads, a stack trace of the Tasks
 * group, console input, kernel requests, teardown); everything kgdb-specific lives here and in
 * src/kgdb, so the QEMU path is untouched.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import { describeLink, openLink, parseLinkSpec, type KgdbLink } from '../kgdb/link';
import { KgdbProxy, type BreakInMethod } from '../kgdb/proxy';
import { walk, toJson, decodeEntry, entryToJson, type WalkJson } from '../kernel/pagetable';
import { archOps } from '../kernel/arch';
import { TranslationFault } from '../kernel/arch/arch';
import { virtToPhys } from '../kernel/memory-model';
import { initMmPgd, mmPgd } from '../kernel/mm';
import { currentTask } from '../kernel/sched';
import { findProcess, readTask } from '../kernel/task';
import type { Arch } from '../kernel/target';
import { Breakpoints } from './breakpoints';
import type { AttachArguments } from './config';
import type { Engine } from '../engine/engine';
import { UserError } from '../engine/errors';
import { stepOffBreakpointMasked } from '../engine/masked-step';
import { frameId } from './handles';
import { gdbThreadIds, KgdbTarget, kgdbGdbSettings } from '../engine/kgdb-target';
import { describeTask, TaskList } from '../engine/kgdb-tasks';
import { KernelViews } from '../engine/kernel-views';
import type { CpuThread as TargetCpuThread } from '../engine/live-target';
import type { CustomRequests } from './protocol';
import { ThreadCache, type CpuThread } from '../engine/threads';

/** `"kgdb"` of an attach configuration, with the keys beyond port/baud/shareConsole. */
export interface KgdbOptions {
  /** `/dev/ttyUSB0`, `tcp:HOST:PORT` or `telnet:HOST:PORT`. */
  port: string;
  baud?: number;
  /** The line also carries the kernel console (default true). */
  shareConsole?: boolean;
  /** The console's own line when kgdboc uses another UART (kgdboc=ttyS1): shown, typed into, used for SysRq. */
  console?: string;
  consoleBaud?: number;
  /** How Pause enters kgdb: "break" (BREAK + g), "sysrq-trigger" (types echo g > /proc/sysrq-trigger), "none". */
  breakIn?: BreakInMethod;
  /** gdb's remotetimeout in seconds (default 30: a long reply on a slow line takes seconds). */
  remoteTimeout?: number;
}

/** Thread id of the Tasks group in DAP; far above gdb's thread numbers. */
export const TASKS_THREAD_ID = 99_999;

export interface KgdbHooks {
  /** Console text from the target, to show like QEMU's serial console. */
  console(text: string): void;
  /** One line for the user (Debug Console). */
  say(message: string): void;
  /** The kgdb line went away. */
  lost(why: string): void;
  trace?: (line: string) => void;
}

export function kgdbOptions(args: AttachArguments): KgdbOptions {
  const k = args.kgdb as KgdbOptions | undefined;
  if (!k || typeof k.port !== 'string' || k.port.trim() === '') throw new UserError('"kgdb.port" must name a serial device (/dev/ttyUSB0) or tcp:HOST:PORT.');
  if (k.breakIn !== undefined && !['break', 'sysrq-trigger', 'none'].includes(k.breakIn)) {
    throw new UserError(`"kgdb.breakIn" must be "break", "sysrq-trigger" or "none", not ${JSON.stringify(k.breakIn)}.`);
  }
  return k;
}

export class KgdbAttachment {
  /** Resolves once the kernel is stopped in kgdb (at once with kgdbwait, else after a SysRq-g). */
  readonly acquired: Promise<void>;
  private views: KgdbViews | undefined;
  private threadCache: KgdbThreadCache | undefined;
  private heldNoticeShown = false;

  private constructor(
    readonly proxy: KgdbProxy,
    readonly localPort: number,
    private readonly options: KgdbOptions,
    private readonly hooks: KgdbHooks,
  ) {
    const started = Date.now();
    this.acquired = proxy.acquire().then((how) => {
      hooks.say(`kgdb: ${how === 'stopped' ? 'the kernel is waiting in kgdb' : 'stopped the kernel with SysRq-g'} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    });
    this.acquired.catch(() => undefined);
  }

  /** Opens the line(s) and the local port, and starts getting the kernel into kgdb. */
  static async open(options: KgdbOptions, hooks: KgdbHooks): Promise<KgdbAttachment> {
    const opened: KgdbLink[] = [];
    try {
      const link = await openLink(parseLinkSpec(options.port, options.baud ?? 115200));
      opened.push(link);
      const consoleLink = options.console ? await openLink(parseLinkSpec(options.console, options.consoleBaud ?? options.baud ?? 115200)) : undefined;
      if (consoleLink) opened.push(consoleLink);
      const proxy = new KgdbProxy({
        link,
        consoleLink,
        shareConsole: options.shareConsole ?? !consoleLink,
        breakIn: options.breakIn,
        onTrace: hooks.trace ? (dir, text) => hooks.trace!(`kgdb ${dir} ${text}`) : undefined,
      });
      const decoder = new TextDecoder('utf-8');
      proxy.on('console', (bytes) => hooks.console(decoder.decode(bytes, { stream: true })));
      proxy.on('notice', (m) => hooks.say(`kgdb: ${m}`));
      proxy.on('closed', (why) => hooks.lost(why));
      const port = await proxy.listen();
      hooks.say(`kgdb: ${describeLink(link.spec)}${consoleLink ? `, console on ${describeLink(consoleLink.spec)}` : ''}; gdb connects through 127.0.0.1:${port}`);
      return new KgdbAttachment(proxy, port, options, hooks);
    } catch (e) {
      for (const l of opened) await l.close().catch(() => undefined);
      if (e instanceof Error && !(e instanceof UserError)) throw new UserError(`kgdb: ${e.message}`);
      throw e;
    }
  }

  /** `target remote` address for gdb. */
  get remote(): string {
    return `127.0.0.1:${this.localPort}`;
  }

  /** setupCommands for Engine.start: the user's, after kdap's kgdb settings. */
  setupCommands(arch: Arch, user: readonly string[] | undefined): string[] {
    return [...kgdbGdbSettings(arch, this.options.remoteTimeout ?? 30), ...(user ?? [])];
  }

  /** Wires the engine: call once, after Engine.start and before connect. */
  adopt(engine: Engine, arch: Arch): { threads: ThreadCache; breakpoints: Breakpoints; target: KgdbTarget } {
    this.views = new KgdbViews(engine, arch);
    this.threadCache = new KgdbThreadCache(engine, this.views.kgdbTarget);
    const masked = archOps(arch).kgdb.maskedStep;
    if (masked) engine.beforeContinue = (e) => stepOffBreakpointMasked(e, masked);
    engine.on('running', () => this.threadCache?.invalidate());
    engine.on('stopped', () => this.threadCache?.invalidate());
    return { threads: this.threadCache, breakpoints: new KgdbBreakpoints(engine, arch), target: this.views.kgdbTarget };
  }

  /** Keystrokes for the console; false (and a notice) while kgdb holds a shared line. */
  write(text: string): boolean {
    const ok = this.proxy.typeConsole(text);
    if (!ok && !this.heldNoticeShown) {
      this.heldNoticeShown = true;
      this.hooks.say('kgdb: the kernel is stopped and the console shares the kgdb line: what you type is sent when it continues');
    }
    return ok;
  }

  isTasksThread(threadId: number): boolean {
    return threadId === TASKS_THREAD_ID;
  }

  /** The Tasks group's "frames": one per task, read from kernel memory a page at a time. */
  async tasksStackTrace(args: DebugProtocol.StackTraceArguments): Promise<DebugProtocol.StackTraceResponse['body']> {
    const cache = this.threadCache;
    if (!cache) throw new UserError('No kernel is attached.');
    const start = args.startFrame ?? 0;
    const { rows, complete } = await cache.tasks.page(start, args.levels || 20);
    return {
      stackFrames: rows.map((row, i) => ({
        id: frameId(TASKS_THREAD_ID, start + i),
        name: describeTask(row),
        line: 0,
        column: 0,
        instructionPointerReference: undefined,
        presentationHint: 'label',
      })),
      totalFrames: complete ? start + rows.length : await cache.taskCount(),
    };
  }

  /** kdap/cpus, kdap/walk and kdap/decodePte without system registers or physical reads. */
  kernelRequest(command: 'kdap/cpus' | 'kdap/walk' | 'kdap/decodePte' | 'kdap/dmesg', args: unknown): Promise<unknown> {
    if (!this.views) throw new UserError('No kernel is attached.');
    return this.views.request(command, args);
  }

  /**
   * After gdb connected: on x86_64, breakpoints set while the kernel still boots (kgdbwait) are
   * written with plain stores, and kgdb cannot take them out again once mark_rodata_ro() made
   * the text read-only ("KGDB: BP remove failed"): the int3 stays behind. The kernel's own
   * advice (Documentation/dev-tools/kgdb.rst) is to run without read-only kernel text.
   */
  async checkEarlyBoot(arch: Arch): Promise<void> {
    if (!archOps(arch).kgdb.bootBreakpointsStick || !this.views) return;
    const t = this.views.kgdbTarget;
    try {
      const [state, rodata] = await Promise.all([t.symbol('system_state'), t.symbol('rodata_enabled')]);
      if (state === undefined || rodata === undefined) return;
      const [s, r] = await Promise.all([t.readVirtual(state, 4), t.readVirtual(rodata, 1)]);
      // enum system_states: SYSTEM_RUNNING is 3; mark_rodata_ro() runs just before it.
      if ((s[0] ?? 3) < 3 && r[0] !== 0) {
        this.hooks.say('kgdb: attached while the kernel boots, with read-only kernel text still to come. Breakpoints inserted before mark_rodata_ro() cannot be removed afterwards on x86 (kgdb writes them with plain stores); boot with rodata=off, or set breakpoints only after boot.');
      }
    } catch {
      // Only a warning: never fail the attach for it.
    }
  }

  /**
   * gdb can detach only from a stopped kernel, and a kernel left running with gdb's breakpoints
   * in its text would wait forever at the next one: stop it first (SysRq-g), then detach.
   * A break-in can lose the race to another stop (a breakpoint); its SysRq-g then still waits
   * in the shell and would stop the kernel after we left, with nobody attached. So it is let
   * run first: the kernel continues until the SysRq-g stops it, then gdb detaches.
   */
  async stopForDetach(engine: Engine): Promise<void> {
    if (!(await this.stopNow(engine, 30_000))) return;
    if (!this.proxy.sysrqInFlight) return;
    await engine.gdb.send('-break-delete', [], 5000).catch(() => undefined);
    const stopped = engine.waitForStop(15_000);
    stopped.catch(() => undefined);
    await engine.continue().catch(() => undefined);
    try {
      await stopped;
    } catch {
      this.hooks.say('kgdb: the SysRq-g sent to break in has not run yet; detaching without it');
      await this.stopNow(engine, 1000);
    }
  }

  /** Stops the kernel if it runs; true once it is stopped. */
  private async stopNow(engine: Engine, timeoutMs: number): Promise<boolean> {
    if (engine.state === 'running') {
      const stopped = engine.waitForStop(timeoutMs);
      stopped.catch(() => undefined);
      await engine.interrupt().catch(() => undefined);
      try {
        await stopped;
      } catch (e) {
        this.hooks.say(`kgdb: ${(e as Error).message}; detaching anyway`);
      }
    }
    return engine.state === 'stopped';
  }

  async close(): Promise<void> {
    await this.proxy.close();
  }
}

/**
 * DAP threads on kgdb: the CPUs (shadow threads) by CPU number, then the Tasks group. Nothing
 * here makes gdb fetch a task's registers.
 */
class KgdbThreadCache extends ThreadCache {
  readonly tasks: TaskList;
  private cpuList: Promise<CpuThread[]> | undefined;
  private readonly names = new Map<number, string>();

  constructor(private readonly engine: Engine, private readonly target: KgdbTarget) {
    super(engine.gdb);
    this.tasks = new TaskList(target);
  }

  override invalidate(): void {
    super.invalidate();
    this.cpuList = undefined;
    this.names.clear();
    this.tasks.invalidate();
  }

  override setTaskName(cpu: number, name: string): void {
    this.names.set(cpu, name);
  }

  override async list(): Promise<CpuThread[]> {
    this.cpuList ??= (async () => {
      const cpus = await this.target.threads();
      const list: CpuThread[] = cpus.map((t: TargetCpuThread) => ({ id: t.threadId, cpu: t.cpu, name: `CPU ${t.cpu}`, info: t.info }));
      this.showStoppedTask(list);
      list.push({ id: TASKS_THREAD_ID, cpu: -1, name: 'Tasks', info: { id: TASKS_THREAD_ID, targetId: 'Tasks', state: 'stopped' } });
      return list;
    })();
    this.cpuList.catch(() => (this.cpuList = undefined));
    const list = await this.cpuList;
    return list.map((t) => (this.names.has(t.cpu) ? { ...t, name: `CPU ${t.cpu} · ${this.names.get(t.cpu)}` } : t));
  }

  /**
   * kgdb names the task that entered the debugger as the stop's thread (its pid), not the CPU's
   * shadow thread, and the two have the same registers. The stopped event names the task's
   * thread, so it stands in for its CPU's entry: the user sees the stop on "CPU n".
   */
  private showStoppedTask(list: CpuThread[]): void {
    const stop = this.engine.stopInfo;
    if (stop?.threadId === undefined || list.some((t) => t.id === stop.threadId)) return;
    const pc = stop.frame?.address;
    const cpu = pc === undefined ? undefined : list.find((t) => t.info.frame?.address === pc);
    if (cpu) {
      cpu.id = stop.threadId;
      return;
    }
    list.unshift({ id: stop.threadId, cpu: -1, name: 'Stopped task', info: { id: stop.threadId, targetId: `Thread ${stop.threadId}`, state: 'stopped', frame: stop.frame } });
  }

  /** Tasks gdb knows (its thread list minus the CPUs), for the group's size before it is read. */
  async taskCount(): Promise<number | undefined> {
    const ids = await gdbThreadIds(this.engine.gdb);
    return ids ? ids.filter((t) => t.tid >= 0 && t.tid < 0x80000000).length : undefined;
  }
}

/**
 * Breakpoints on kgdb are software only. x86 kgdb accepts Z1 (hardware) but such breakpoints
 * never fired under QEMU, set at kgdbwait or later (notes §8b; the perf-backed slots of
 * kgdb_arch_late() are set up, the stop never comes); arm64 kgdb has no hardware breakpoints.
 * A hardware request becomes a software breakpoint and says so; watchpoints are refused.
 */
const HARDWARE_NOTE = 'kgdb: set as a software breakpoint (hardware breakpoints do not fire through kgdb here)';

class KgdbBreakpoints extends Breakpoints {
  constructor(engine: Engine, arch: Arch) {
    super(engine.gdb, arch);
  }

  override async setSource(file: string, requested: readonly DebugProtocol.SourceBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    return noted(requested, await super.setSource(file, requested.map(software)));
  }

  override async setFunctions(requested: readonly DebugProtocol.FunctionBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    return noted(requested, await super.setFunctions(requested.map(software)));
  }

  override async setInstructions(requested: readonly DebugProtocol.InstructionBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    return noted(requested, await super.setInstructions(requested.map(software)));
  }

  /**
   * kgdb enters the debugger by itself when the kernel dies (its die notifier, with the
   * faulting registers: the stop's top frame is the faulting code), and x86 kgdb refuses a
   * breakpoint on __die (NOKPROBE, kgdb's blocklist), which would make every continue fail.
   */
  override async setExceptions(filters: readonly string[]): Promise<void> {
    await super.setExceptions(filters.filter((f) => f !== 'oops'));
  }

  override async setData(requested: readonly DebugProtocol.DataBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    await super.setData([]);
    return requested.map(() => ({ verified: false, message: 'kgdb: data breakpoints need hardware watchpoints, which do not fire through kgdb here; use a QEMU session' }));
  }
}

/** DAP 1.65 breakpoint modes; function breakpoints carry one too, untyped in @vscode/debugprotocol. */
const modeOf = (b: object): unknown => (b as { mode?: unknown }).mode;

function software<T extends object>(b: T): T {
  return modeOf(b) === 'hardware' ? { ...b, mode: undefined } : b;
}

function noted(requested: readonly object[], result: DebugProtocol.Breakpoint[]): DebugProtocol.Breakpoint[] {
  return result.map((b, i) => (requested[i] && modeOf(requested[i]) === 'hardware' && b.verified ? { ...b, message: HARDWARE_NOTE } : b));
}

/**
 * KernelViews over a KgdbTarget, with walks rooted in kernel data instead of CR3/TTBR1:
 * `init_mm.pgd` for kernel addresses, the CPU's current task's `mm->pgd` for user ones.
 */
class KgdbViews extends KernelViews {
  readonly kgdbTarget: KgdbTarget;

  constructor(private readonly kgdbEngine: Engine, arch: Arch) {
    super(kgdbEngine, arch);
    this.kgdbTarget = new KgdbTarget(kgdbEngine.gdb, arch, () => kgdbEngine.stopInfo?.threadId);
    // KernelViews reads through `this.target` and invalidates it on every resume and stop.
    Object.defineProperty(this, 'target', { value: this.kgdbTarget });
  }

  async request(command: 'kdap/cpus' | 'kdap/walk' | 'kdap/decodePte' | 'kdap/dmesg', args: unknown): Promise<unknown> {
    if (this.kgdbEngine.state !== 'stopped') throw new UserError('The target is running: pause it to see kernel data.');
    switch (command) {
      case 'kdap/cpus':
        return { cpus: await this.cpus() };
      case 'kdap/walk':
        return this.kgdbWalk((args ?? {}) as CustomRequests['kdap/walk']['args']);
      case 'kdap/dmesg':
        return this.dmesg((args ?? {}) as CustomRequests['kdap/dmesg']['args']);
      case 'kdap/decodePte':
        return this.kgdbDecode((args ?? {}) as CustomRequests['kdap/decodePte']['args']);
    }
  }

  private async kgdbWalk(args: CustomRequests['kdap/walk']['args']): Promise<WalkJson> {
    const t = this.kgdbTarget;
    if (typeof args?.va !== 'string' || args.va.trim() === '') throw new UserError('kdap/walk needs "va": an address or a C expression.');
    const text = args.va.trim();
    const va = /^(0x[0-9a-fA-F]+|\d+)$/.test(text) ? BigInt(text) : await t.evaluateAddress(text).catch((e: Error) => {
      throw new UserError(`Cannot evaluate '${text}': ${e.message}`);
    });
    const memory = await t.kernelMemory();
    // Tables of user mms are in the direct map; init_mm's is in the kernel image.
    const toPhys = (pgd: bigint): bigint => {
      const pa = virtToPhys(memory.map, pgd);
      if (pa === undefined) throw new UserError(`The page table at 0x${pgd.toString(16)} is neither in the direct map nor in the kernel image.`);
      return pa;
    };
    const mm = args.mm ?? 'cpu';
    let pgd: bigint;
    if (mm === 'kernel' || (mm === 'cpu' && va >> 63n === 1n)) {
      pgd = await initMmPgd(t);
    } else if (mm === 'cpu' || mm.startsWith('pid:')) {
      let task: bigint | undefined;
      if (mm === 'cpu') {
        const threads = await t.threads();
        const cpu = args.cpu ?? threads.find((x) => x.threadId === this.kgdbEngine.stopInfo?.threadId)?.cpu ?? threads[0]?.cpu ?? 0;
        task = await currentTask(t, cpu);
      } else {
        const pid = Number(mm.slice(4));
        if (!Number.isSafeInteger(pid) || pid <= 0) throw new UserError(`"mm" must be kernel, cpu or pid:N, not ${JSON.stringify(mm)}.`);
        task = await findProcess(t, pid);
        if (task === undefined) throw new UserError(`No process with pid ${pid}.`);
      }
      const info = await readTask(t, task);
      if (info.mm === 0n) throw new UserError(`${info.comm} [${info.pid}] is a kernel thread: it has no user address space (kgdb has no CR3/TTBR0 to read one from).`);
      pgd = await mmPgd(t, info.mm);
    } else {
      throw new UserError(`"mm" must be kernel, cpu or pid:N, not ${JSON.stringify(mm)}.`);
    }
    return toJson(await walk(t, va, { root: toPhys(pgd), config: memory.paging, directMap: memory.map }));
  }

  private async kgdbDecode(args: CustomRequests['kdap/decodePte']['args']): Promise<CustomRequests['kdap/decodePte']['result']> {
    let value: bigint;
    try {
      value = BigInt(String(args?.value ?? '').trim());
    } catch {
      throw new UserError(`"value" must be a number such as 0x8000000002a001e3, not ${JSON.stringify(args?.value)}.`);
    }
    const memory = await this.kgdbTarget.kernelMemory();
    try {
      return entryToJson(decodeEntry(this.arch, BigInt.asUintN(64, value), args.level, memory.paging));
    } catch (e) {
      if (e instanceof TranslationFault) throw new UserError(e.message);
      throw e;
    }
  }
}
