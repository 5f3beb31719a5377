/**
 * One gdb with the vmlinux loaded, connected to a kernel through a Connection, plus run
 * control: hidden halts, batched stops, steps of kdap's own. Shared by every front end.
 */
import { EventEmitter } from 'node:events';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { GdbBackend } from '../gdb/backend';
import * as exec from '../gdb/mi/exec';
import { MITuple } from '../gdb/mi/parser';
import { optInt, optStr, optTuple } from '../gdb/mi/values';
import { Frame, parseFrame } from '../gdb/mi/stack';
import { selectGdb } from '../gdb/select';
import { archOps } from '../kernel/arch';
import { ElfFile } from '../oops/elf';
import { Banner, fileBanner, targetBanner } from './banner';
import type { Arch } from '../kernel/target';
import type { Connection } from './connection';
import type { PathMap } from './sources';
import { bestEffort, ignore, UserError } from './errors';
import { mayRepeat, registerState, resumePoint, type ResumePoint } from './repeated-stops';

export interface EngineOptions {
  vmlinux: string;
  arch: Arch;
  gdbPath?: string;
  /** Directory for gdb's index cache; "" turns it off. */
  indexCacheDir?: string;
  substitutePath?: PathMap[];
  sourceRoot?: string;
  setupCommands?: string[];
  onTrace?: (direction: 'send' | 'recv', line: string) => void;
  /** Told when gdb starts and ends building its DWARF index (first session per vmlinux). */
  onIndexing?: (phase: 'start' | 'end', detail: string) => void;
  /**
   * linux_banner as the vmlinux file has it, read without gdb (engine/linked-kernel.ts) while gdb
   * loads the symbols; without it gdb reads it from the file (its first symbol lookup is slow).
   */
  fileBanner?: () => Promise<Banner | undefined>;
}

export interface StopInfo {
  reason: string;
  threadId?: number;
  breakpointNumber?: number;
  frame?: Frame;
  signal?: string;
  raw: MITuple;
}

export interface EngineEvents {
  stopped: [StopInfo];
  running: [];
  exited: [string];
  /** The connection to the gdbstub closed under gdb (stub died, network dropped). */
  lost: [string];
  console: [string];
}

/**
 * Whether gdb has the index of `vmlinux` cached, asked once gdb has loaded it; the file is read
 * before (gdb names its index cache files after the ELF build id).
 */
async function indexCheck(cacheDir: string, vmlinux: string): Promise<() => boolean> {
  let elf: ElfFile | undefined;
  try {
    elf = await ElfFile.open(vmlinux);
    const id = await elf.buildId();
    return () => id !== undefined && fs.existsSync(path.join(cacheDir, `${id}.gdb-index`));
  } catch (err) {
    ignore(err, 'looking for the index cache');
    return () => true; // unknown: do not block start-up on a guess
  } finally {
    await elf?.close();
  }
}

export function defaultIndexCacheDir(): string {
  return path.join(process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap'), 'gdb-index');
}

export class Engine extends EventEmitter<EngineEvents> {
  state: 'idle' | 'running' | 'stopped' = 'idle';
  private lastStop: StopInfo | undefined;
  private stopWaiters: Array<(s: StopInfo) => void> = [];
  /** Timings of the start-up phases in ms, for the bench and the trace. */
  readonly timings: Record<string, number> = {};
  /** linux_banner as the vmlinux file has it, read before any target is connected. */
  banner: Banner | undefined;
  /** Interrupts of our own under way: the stops they cause are not the user's. */
  private hiddenStops = 0;
  /** Stops of kdap's own steps, never emitted. */
  private unseenStops = 0;
  private haltBatch: { users: number; halted: Promise<boolean> } | undefined;
  private serialized: Promise<unknown> = Promise.resolve();
  private connected = false;
  private connection: Connection | undefined;
  private connectionWatch: NodeJS.Timeout | undefined;
  /** QEMU: the breakpoint stop the last continue left from, to tell gdb's repeat of it (repeated-stops.ts). */
  private resumedFrom: ResumePoint | undefined;

  private constructor(readonly gdb: GdbBackend, readonly options: EngineOptions) {
    super();
    gdb.on('exec', (e) => this.onExec(e.cls, e.results));
    gdb.on('console', (text) => this.emit('console', text));
    gdb.on('exit', (e) => {
      this.state = 'idle';
      this.unwatchConnection();
      this.emit('exited', e.message);
    });
    // gdb says nothing else when the stub goes away while the target runs: no *stopped follows.
    gdb.on('notify', (e) => {
      if (e.cls === 'thread-group-exited' && this.connected) this.connectionLost('Remote connection closed');
    });
    if (options.onTrace) gdb.on('trace', options.onTrace);
  }

  /** Starts gdb and loads the vmlinux symbols (the slow part on a cold index). */
  static async start(options: EngineOptions): Promise<Engine> {
    const ops = archOps(options.arch);
    const gdbPath = selectGdb(ops.gdb, options.gdbPath);
    const cacheDir = options.indexCacheDir ?? defaultIndexCacheDir();
    const args: string[] = [];
    if (cacheDir) {
      fs.mkdirSync(cacheDir, { recursive: true });
      args.push('-iex', `set index-cache directory ${cacheDir}`, '-iex', 'set index-cache enabled on');
    }
    // Keep gdb from stopping to ask questions or page output: it runs headless.
    args.push('-iex', 'set pagination off', '-iex', 'set confirm off', '-iex', 'set width 0', '-iex', 'set height 0');
    args.push('-iex', 'set style enabled off', '-iex', 'set print pretty off', '-iex', 'set breakpoint pending on');
    // An internal error ends gdb (the session reports it) without leaving a core file in the cwd.
    args.push('-iex', 'maint set internal-error quit yes', '-iex', 'maint set internal-error corefile no');
    const gdb = new GdbBackend({ gdbPath, args, timeoutMs: 60_000 });
    let t = Date.now();
    await gdb.start();
    const engine = new Engine(gdb, options);
    engine.timings.gdbStart = Date.now() - t;
    try {
      // Sent together: gdb runs them in order, and none waits for the answer to the one before.
      const settings = [
        gdb.send('-gdb-set', ['mi-async', 'on']),
        gdb.send('-gdb-set', ['architecture', ops.gdb.architecture]),
        ...(options.substitutePath ?? []).map((map) => gdb.console(`set substitute-path ${map.from} ${map.to}`)),
        ...(options.sourceRoot ? [gdb.send('-environment-directory', [options.sourceRoot])] : []),
      ];
      t = Date.now();
      const loading = Promise.all([...settings, exec.loadSymbols(gdb, options.vmlinux, 300_000)]);
      // Read here, while gdb is busy loading, not while the commands before wait to be sent.
      const banner = options.fileBanner?.();
      banner?.catch(() => undefined);
      const indexed = cacheDir && options.onIndexing ? indexCheck(cacheDir, options.vmlinux) : undefined;
      await loading;
      engine.timings.symbols = Date.now() - t;
      // No target yet: gdb reads this from the file's own .rodata.
      engine.banner = await bestEffort(banner ?? fileBanner(gdb), 'reading linux_banner from the vmlinux');
      if (indexed && options.onIndexing && !(await indexed)()) {
        // Cold cache: gdb would stall 10-40 s on the first hover or watch. Build the index now,
        // while the user is told why, instead of at a surprising moment later.
        options.onIndexing('start', `Indexing ${path.basename(options.vmlinux)} debug info (first session only)`);
        try {
          await engine.warmIndex();
        } finally {
          options.onIndexing('end', `Indexed in ${((engine.timings.index ?? 0) / 1000).toFixed(1)} s`);
        }
      }
      for (const command of options.setupCommands ?? []) await gdb.console(command, 120_000);
    } catch (err) {
      await gdb.stop();
      throw err;
    }
    return engine;
  }

  /**
   * Makes gdb read the DWARF index now, so the first type lookup of a session does not stall
   * 20-40 s on a cold cache. With a warm index cache this returns in about a second.
   */
  async warmIndex(): Promise<void> {
    const t = Date.now();
    await this.gdb.send('-data-evaluate-expression', ['sizeof(struct task_struct)'], 300_000);
    this.timings.index = Date.now() - t;
  }

  /** Connects gdb once the connection is ready; the connection's hooks apply from then on. */
  async connect(connection: Connection): Promise<void> {
    await connection.ready();
    const remote = connection.remote;
    // Messages name the stub the user pointed at, not kdap's own layer in front of it.
    const where = connection.where ?? remote;
    const t = Date.now();
    let warnings = '';
    const collect = (text: string) => (warnings += text);
    this.gdb.on('log', collect);
    try {
      await exec.selectRemote(this.gdb, remote, 30_000);
    } catch (err) {
      const mismatch = archMismatch(warnings, this.options, where);
      if (mismatch) await this.releaseStub(remote, false);
      if (mismatch) throw mismatch;
      // gdb's own words ("Remote replied unexpectedly to 'vMustReplyEmpty'") do not say where.
      const why = err instanceof Error ? err.message : String(err);
      throw new UserError(why.includes(where) ? why : `No gdbstub answered at ${where}: ${why.replaceAll(remote, where)}`);
    } finally {
      this.gdb.off('log', collect);
    }
    // gdb may still connect with the wrong register layout; nothing it shows would be right.
    const mismatch = archMismatch(warnings, this.options, where);
    if (mismatch) {
      await this.releaseStub(remote, true);
      throw mismatch;
    }
    this.timings.connect = Date.now() - t;
    this.connection = connection;
    this.connected = true;
    this.watchConnection();
    this.state = 'stopped';
  }

  /**
   * QEMU's stub halts the VM when gdb connects and restarts it only on a detach packet, not
   * when the connection closes. With the wrong architecture our gdb cannot hold the connection
   * (and gdb 13 aborts if told to pick another one now), so a gdb of its own, with no file,
   * takes the stub's architecture, connects and detaches.
   */
  private async releaseStub(remote: string, connected: boolean): Promise<void> {
    if (connected) {
      await bestEffort(this.gdb.send('-target-detach', [], 5000), 'releasing the stub');
      return;
    }
    const helper = new GdbBackend({ gdbPath: selectGdb(archOps(this.options.arch).gdb, this.options.gdbPath), args: ['-iex', 'set confirm off'], timeoutMs: 10_000 });
    try {
      await helper.start();
      await exec.selectRemote(helper, remote, 10_000);
      await helper.send('-target-detach', [], 5000);
    } catch (err) {
      // Best effort: the mismatch is what the user must hear about.
      ignore(err, 'releasing the stub through a gdb of its own');
    } finally {
      await bestEffort(helper.stop(), 'ending the helper gdb');
    }
  }

  /** Sends a raw RSP packet through gdb and returns the reply text. */
  async maintPacket(packet: string): Promise<string> {
    const text = await this.gdb.console(`maint packet ${packet}`);
    const m = /received: "(.*)"/.exec(text);
    return m ? m[1] : '';
  }

  /** Waits for the next `*stopped`, or returns the current stop if already stopped and `already` is set. */
  waitForStop(timeoutMs = 120_000): Promise<StopInfo> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stopWaiters = this.stopWaiters.filter((w) => w !== waiter);
        reject(new Error(`the target did not stop within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const waiter = (s: StopInfo) => {
        clearTimeout(timer);
        resolve(s);
      };
      this.stopWaiters.push(waiter);
    });
  }

  get stopInfo(): StopInfo | undefined {
    return this.lastStop;
  }

  async continue(): Promise<void> {
    // The connection's turn first (arm64 kgdb steps off a breakpoint with IRQs masked).
    if (this.connection && this.state === 'stopped') await bestEffort(this.connection.beforeContinue(this), 'before continue');
    const previous = this.resumedFrom;
    this.resumedFrom =
      this.connection?.capabilities.repeatsBreakpointStops && this.state === 'stopped'
        ? await resumePoint(this.gdb, this.options.arch, this.lastStop, previous)
        : undefined;
    await exec.continueAll(this.gdb);
  }

  /** A stop that may be gdb's repeat of the one the last continue left from (repeated-stops.ts). */
  private async resumeIfRepeat(info: StopInfo, from: ResumePoint): Promise<void> {
    const now = await bestEffort(registerState(this.gdb, this.options.arch, from.thread), 'reading registers after a possible repeat stop');
    if (now !== from.registers || this.state !== 'stopped') {
      this.emit('stopped', info);
      return;
    }
    this.resumedFrom = { ...from, repeats: from.repeats + 1 };
    await exec.continueAll(this.gdb).catch(() => this.emit('stopped', info));
  }

  /** One instruction on `thread` for kdap's own use: the stop is not emitted. */
  async stepInstructionUnseen(thread: number, timeoutMs = 30_000): Promise<StopInfo> {
    const stop = this.waitForStop(timeoutMs);
    stop.catch(() => undefined);
    this.unseenStops++;
    try {
      await exec.step(this.gdb, thread, true);
      return await stop;
    } finally {
      this.unseenStops--;
    }
  }

  async interrupt(): Promise<void> {
    if (this.state !== 'running') return;
    const stopped = this.waitForStop(10_000);
    stopped.catch(() => undefined);
    await this.gdb.send('-exec-interrupt', ['--all']);
    if (this.connection?.capabilities.dropsInterrupts) void this.interruptAgainUnlessStopped(stopped);
  }

  /**
   * An interrupt that lands in the first moment of a continue from a breakpoint, while gdb steps
   * one vCPU over it, can be lost: QEMU's gdbstub reports the step and drops the Ctrl-C, gdb then
   * resumes every vCPU, and no stop ever comes (the e2e do_init_module test, arm64: Pause right
   * after Continue did nothing). Asked again, QEMU stops. QEMU only: on a kgdb line each
   * interrupt is a SysRq-g.
   */
  private async interruptAgainUnlessStopped(stopped: Promise<StopInfo>): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const done = await Promise.race([stopped.then(() => true, () => true), new Promise<boolean>((r) => setTimeout(() => r(false), 1000))]);
      if (done || this.state !== 'running') return;
      await bestEffort(this.gdb.send('-exec-interrupt', ['--all']), 'interrupting again');
    }
  }

  /**
   * Stops the target for kdap's own use and waits for the stop: `-exec-interrupt`
   * answers before the `*stopped` record comes. The stop is not emitted as 'stopped'.
   * True when it was our interrupt that stopped it; false when it was already stopped or a
   * real stop (breakpoint, fault) won the race, which is then reported as usual.
   */
  async halt(timeoutMs = 2000): Promise<boolean> {
    if (this.state !== 'running') return false;
    const stop = this.waitForStop(timeoutMs);
    stop.catch(() => undefined);
    this.hiddenStops++;
    try {
      await this.gdb.send('-exec-interrupt', ['--all'], timeoutMs);
      return interruptStop(await stop);
    } finally {
      this.hiddenStops--;
    }
  }

  /**
   * Runs `body` (gdb commands that need a stopped target) with the target stopped. If it runs,
   * it is halted, and resumed once `body` and every other body that arrived meanwhile are
   * done: a burst of requests costs one halt and one resume. Bodies run one at a time.
   */
  async whileStopped<T>(body: () => Promise<T>): Promise<T> {
    if (!this.haltBatch && this.state !== 'running') return this.oneAtATime(body);
    let batch = this.haltBatch;
    if (!batch) {
      batch = { users: 0, halted: this.halt(5000) };
      this.haltBatch = batch;
    }
    batch.users++;
    try {
      await batch.halted;
      return await this.oneAtATime(body);
    } finally {
      batch.users--;
      // Requests sent together arrive a few ms apart: let those already read join this halt.
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (batch.users === 0 && this.haltBatch === batch) {
        this.haltBatch = undefined;
        const ours = await bestEffort(batch.halted, 'halting for a request', false);
        if (ours && this.state === 'stopped') await bestEffort(this.continue(), 'resuming after a request');
      }
    }
  }

  private oneAtATime<T>(body: () => Promise<T>): Promise<T> {
    const run = this.serialized.then(() => body());
    this.serialized = run.catch(() => undefined);
    return run;
  }

  /** Detaches (the stub resumes the target) after a bounded halt; errors are the caller's. */
  async detach(timeoutMs = 5000): Promise<void> {
    await bestEffort(this.halt(Math.min(timeoutMs, 2000)), 'halting before detach');
    this.connected = false;
    this.unwatchConnection();
    await this.gdb.send('-target-detach', [], timeoutMs);
  }

  /** linux_banner in target memory against the file's; 'unreadable' before paging is up. */
  async checkBanner(): Promise<{ status: 'match' | 'unreadable' | 'unknown' } | { status: 'mismatch'; file: string; target: string }> {
    if (!this.banner) return { status: 'unknown' };
    const target = await bestEffort(targetBanner(this.gdb, this.banner), 'reading linux_banner from the kernel');
    if (target === undefined) return { status: 'unreadable' };
    return target === this.banner.text ? { status: 'match' } : { status: 'mismatch', file: this.banner.text, target };
  }

  async stop(): Promise<void> {
    this.connected = false;
    this.unwatchConnection();
    await this.gdb.stop();
  }

  private connectionLost(why: string): void {
    if (!this.connected) return;
    this.connected = false;
    this.unwatchConnection();
    this.state = 'idle';
    this.emit('lost', why);
  }

  /**
   * While the target is stopped gdb does not read the socket, so a stub that went away is only
   * noticed at the next command. The kernel knows at once: gdb's socket turns CLOSE_WAIT.
   */
  private watchConnection(): void {
    const pid = this.gdb.pid;
    if (process.platform !== 'linux' || pid === undefined) return;
    this.unwatchConnection();
    this.connectionWatch = setInterval(() => {
      if (peerClosed(pid)) this.connectionLost('the gdbstub closed the connection');
    }, 250);
    this.connectionWatch.unref();
  }

  private unwatchConnection(): void {
    if (this.connectionWatch) clearInterval(this.connectionWatch);
    this.connectionWatch = undefined;
  }

  private onExec(cls: string, results: MITuple): void {
    if (cls === 'running') {
      this.state = 'running';
      this.emit('running');
      return;
    }
    if (cls !== 'stopped') return;
    this.state = 'stopped';
    const hidden = this.hiddenStops > 0;
    const frame = optTuple(results, 'frame');
    const info: StopInfo = {
      reason: optStr(results, 'reason') ?? 'none',
      threadId: optInt(results, 'thread-id'),
      breakpointNumber: optInt(results, 'bkptno'),
      frame: frame ? parseFrame(frame) : undefined,
      signal: optStr(results, 'signal-name'),
      raw: results,
    };
    this.lastStop = info;
    const waiters = this.stopWaiters;
    this.stopWaiters = [];
    for (const w of waiters) w(info);
    if (this.unseenStops > 0) return;
    if (hidden && interruptStop(info)) return;
    const from = this.resumedFrom;
    this.resumedFrom = undefined;
    if (mayRepeat(info, from)) {
      void this.resumeIfRepeat(info, from);
      return;
    }
    this.emit('stopped', info);
  }
}

/** The stop an interrupt produces (QEMU reports SIGINT, some stubs SIGTRAP or signal 0). */
function interruptStop(s: StopInfo): boolean {
  if (s.reason === 'none') return true;
  return s.reason === 'signal-received' && (s.signal === 'SIGINT' || s.signal === 'SIGTRAP' || s.signal === '0');
}

/** gdb's own warning when the stub's architecture is not the one we set from the vmlinux. */
function archMismatch(warnings: string, options: EngineOptions, remote: string): UserError | undefined {
  const m = /Selected architecture (\S+) is not compatible with reported target architecture (\S+)/.exec(warnings);
  if (!m) return undefined;
  return new UserError(
    `The kernel at ${remote} is ${m[2]}, but ${path.basename(options.vmlinux)} is ${options.arch} (${m[1]}): ` +
      `set "vmlinux" to the ELF of the running kernel.`,
  );
}

/** Whether a TCP socket of process `pid` has been closed by its peer (state CLOSE_WAIT). */
function peerClosed(pid: number): boolean {
  let inodes: Set<string>;
  try {
    inodes = new Set(
      fs
        .readdirSync(`/proc/${pid}/fd`)
        .map((fd) => {
          try {
            return /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
          } catch {
            return undefined;
          }
        })
        .filter((i): i is string => i !== undefined),
    );
  } catch {
    return false;
  }
  if (inodes.size === 0) return false;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '08' && inodes.has(f[9])) return true;
    }
  }
  return false;
}
