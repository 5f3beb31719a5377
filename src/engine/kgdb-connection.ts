/**
 * A kgdb line as a Connection: the line (serial or TCP) and its console, the local port gdb
 * connects to through KgdbProxy (src/kgdb), CPU threads first with the tasks in a lazily read
 * "Tasks" group, software-only breakpoints, and kernel views from kernel data instead of
 * system registers.
 */
import type { GdbBackend } from '../gdb/backend';
import { archOps } from '../kernel/arch';
import type { Arch, Target } from '../kernel/target';
import { describeLink, openLink, parseLinkSpec, type KgdbLink } from '../kgdb/link';
import { KgdbProxy, type BreakInMethod } from '../kgdb/proxy';
import type { Capabilities, Connection, ConnectionHooks, ThreadGroup } from './connection';
import type { Engine } from './engine';
import { bestEffort, ignore, UserError } from './errors';
import { kgdbCpuThreads, kgdbGdbSettings } from './kgdb-target';
import { TasksGroup } from './kgdb-tasks';
import type { CpuThread } from './kernel-views';
import { stepOffBreakpointMasked } from './masked-step';

export const BREAK_IN_METHODS = ['break', 'sysrq-trigger', 'none'] as const satisfies readonly BreakInMethod[];

/** `"kgdb"` of an attach configuration. */
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

export function checkKgdbOptions(options: unknown): KgdbOptions {
  const k = options as KgdbOptions | undefined;
  if (!k || typeof k.port !== 'string' || k.port.trim() === '') throw new UserError('"kgdb.port" must name a serial device (/dev/ttyUSB0) or tcp:HOST:PORT.');
  if (k.breakIn !== undefined && !(BREAK_IN_METHODS as readonly string[]).includes(k.breakIn)) {
    throw new UserError(`"kgdb.breakIn" must be "break", "sysrq-trigger" or "none", not ${JSON.stringify(k.breakIn)}.`);
  }
  return k;
}

export class KgdbConnection implements Connection {
  readonly name = 'kgdb';
  readonly kernelMemory = 'direct-map';
  readonly pageTableRoots = 'kernel-data';
  readonly ownsKernel = false;
  /** A SysRq-g or a `kgdbwait` boot enters the debugger through kgdb_breakpoint(). */
  readonly stoppedIn = 'kgdb_breakpoint';
  readonly capabilities: Capabilities = {
    // kgdb's register set is the general registers only.
    systemRegisters: false,
    physicalReads: false,
    // x86 kgdb accepts Z1..Z4 but they never fire (measured under QEMU); arm64 kgdb has none.
    hardwareBreakpoints: false,
    breakpointsInMemory: true,
    stopsOnOops: true,
    pause: 'sysrq',
    writeMemory: true,
    resume: true,
    threads: 'cpus+tasks',
    repeatsBreakpointStops: false,
    dropsInterrupts: false,
  };
  /** Resolves once the kernel is stopped in kgdb (at once with kgdbwait, else after a SysRq-g). */
  private readonly acquired: Promise<void>;
  private heldNoticeShown = false;

  private constructor(
    readonly proxy: KgdbProxy,
    readonly localPort: number,
    private readonly options: KgdbOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    const started = Date.now();
    this.acquired = proxy.acquire().then((how) => {
      hooks.say(`kgdb: ${how === 'stopped' ? 'the kernel is waiting in kgdb' : 'stopped the kernel with SysRq-g'} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    });
    this.acquired.catch(() => undefined);
  }

  /** Opens the line(s) and the local port, and starts getting the kernel into kgdb. */
  static async open(options: KgdbOptions, hooks: ConnectionHooks): Promise<KgdbConnection> {
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
      proxy.on('closed', (why) => hooks.lost(`The kgdb line closed (${why}).`));
      const port = await proxy.listen();
      hooks.say(`kgdb: ${describeLink(link.spec)}${consoleLink ? `, console on ${describeLink(consoleLink.spec)}` : ''}; gdb connects through 127.0.0.1:${port}`);
      return new KgdbConnection(proxy, port, options, hooks);
    } catch (e) {
      for (const l of opened) await bestEffort(l.close(), 'closing a kgdb line');
      if (e instanceof Error && !(e instanceof UserError)) throw new UserError(`kgdb: ${e.message}`);
      throw e;
    }
  }

  get remote(): string {
    return `127.0.0.1:${this.localPort}`;
  }

  gdbSettings(arch: Arch): string[] {
    return kgdbGdbSettings(arch, this.options.remoteTimeout ?? 30);
  }

  ready(): Promise<void> {
    return this.acquired;
  }

  /**
   * Where breakpoints set while the kernel still boots (kgdbwait) are written with plain stores
   * (x86), kgdb cannot take them out again once mark_rodata_ro() made the text read-only ("KGDB:
   * BP remove failed"): the int3 stays behind. The kernel's own advice
   * (Documentation/dev-tools/kgdb.rst) is to run without read-only kernel text.
   */
  async connected(_engine: Engine, t: Target): Promise<void> {
    if (!archOps(t.arch).kgdb.bootBreakpointsStick) return;
    try {
      const [state, rodata] = await Promise.all([t.symbol('system_state'), t.symbol('rodata_enabled')]);
      if (state === undefined || rodata === undefined) return;
      const [s, r] = await Promise.all([t.readVirtual(state, 4), t.readVirtual(rodata, 1)]);
      // enum system_states: SYSTEM_RUNNING is 3; mark_rodata_ro() runs just before it.
      if ((s[0] ?? 3) < 3 && r[0] !== 0) {
        this.hooks.say('kgdb: attached while the kernel boots, with read-only kernel text still to come. Breakpoints inserted before mark_rodata_ro() cannot be removed afterwards on x86 (kgdb writes them with plain stores); boot with rodata=off, or set breakpoints only after boot.');
      }
    } catch (err) {
      // Only a warning: never fail the attach for it.
      ignore(err, 'checking for read-only kernel text to come');
    }
  }

  async beforeContinue(engine: Engine): Promise<void> {
    const masked = archOps(engine.options.arch).kgdb.maskedStep;
    if (masked) await stepOffBreakpointMasked(engine, masked);
  }

  /**
   * gdb can detach only from a stopped kernel, and a kernel left running with gdb's breakpoints
   * in its text would wait forever at the next one: stop it first (SysRq-g), then detach.
   * A break-in can lose the race to another stop (a breakpoint); its SysRq-g then still waits
   * in the shell and would stop the kernel after we left, with nobody attached. So it is let
   * run first: the kernel continues until the SysRq-g stops it, then gdb detaches.
   */
  async beforeDetach(engine: Engine): Promise<void> {
    if (!(await this.stopNow(engine, 30_000))) return;
    if (!this.proxy.sysrqInFlight) return;
    await bestEffort(engine.gdb.send('-break-delete', [], 5000), 'deleting breakpoints before detach');
    const stopped = engine.waitForStop(15_000);
    stopped.catch(() => undefined);
    await bestEffort(engine.continue(), 'letting the SysRq-g run');
    try {
      await stopped;
    } catch {
      this.hooks.say('kgdb: the SysRq-g sent to break in has not run yet; detaching without it');
      await this.stopNow(engine, 1000);
    }
  }

  /** The shadow CPU threads, without touching the tasks' threads (see kgdb-target.ts). */
  cpuThreads(gdb: GdbBackend): Promise<CpuThread[]> {
    return kgdbCpuThreads(gdb);
  }

  threadGroups(target: Target, gdb: GdbBackend): ThreadGroup[] {
    return [new TasksGroup(target, gdb)];
  }

  /** Keystrokes for the console; held (with a notice, once) while kgdb holds a shared line. */
  write(text: string): void {
    const ok = this.proxy.typeConsole(text);
    if (!ok && !this.heldNoticeShown) {
      this.heldNoticeShown = true;
      this.hooks.say('kgdb: the kernel is stopped and the console shares the kgdb line: what you type is sent when it continues');
    }
  }

  async close(): Promise<void> {
    await this.proxy.close();
  }

  /** Stops the kernel if it runs; true once it is stopped. */
  private async stopNow(engine: Engine, timeoutMs: number): Promise<boolean> {
    if (engine.state === 'running') {
      const stopped = engine.waitForStop(timeoutMs);
      stopped.catch(() => undefined);
      await bestEffort(engine.interrupt(), 'breaking in to detach');
      try {
        await stopped;
      } catch (e) {
        this.hooks.say(`kgdb: ${(e as Error).message}; detaching anyway`);
      }
    }
    return engine.state === 'stopped';
  }
}
