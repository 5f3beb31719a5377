/**
 * The debugging engine shared by the DAP session and the CLI: one gdb with the vmlinux loaded,
 * connected to a gdbstub, plus run control. No DAP types here.
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
import { ElfFile } from '../oops/elf';
import type { KernelArch, PathMap } from './config';

export interface EngineOptions {
  vmlinux: string;
  arch: KernelArch;
  gdbPath?: string;
  /** Directory for gdb's index cache; "" turns it off. */
  indexCacheDir?: string;
  substitutePath?: PathMap[];
  sourceRoot?: string;
  setupCommands?: string[];
  onTrace?: (direction: 'send' | 'recv', line: string) => void;
  /** Told when gdb starts and ends building its DWARF index (first session per vmlinux). */
  onIndexing?: (phase: 'start' | 'end', detail: string) => void;
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
  console: [string];
}

/** gdb names its index cache files after the ELF build id. */
async function indexCached(cacheDir: string, vmlinux: string): Promise<boolean> {
  let elf: ElfFile | undefined;
  try {
    elf = await ElfFile.open(vmlinux);
    const id = await elf.buildId();
    return id !== undefined && fs.existsSync(path.join(cacheDir, `${id}.gdb-index`));
  } catch {
    return true; // unknown: do not block start-up on a guess
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

  private constructor(readonly gdb: GdbBackend, readonly options: EngineOptions) {
    super();
    gdb.on('exec', (e) => this.onExec(e.cls, e.results));
    gdb.on('console', (text) => this.emit('console', text));
    gdb.on('exit', (e) => {
      this.state = 'idle';
      this.emit('exited', e.message);
    });
    if (options.onTrace) gdb.on('trace', options.onTrace);
  }

  /** Starts gdb and loads the vmlinux symbols (the slow part on a cold index). */
  static async start(options: EngineOptions): Promise<Engine> {
    const gdbPath = selectGdb(options.arch, options.gdbPath);
    const cacheDir = options.indexCacheDir ?? defaultIndexCacheDir();
    const args: string[] = [];
    if (cacheDir) {
      fs.mkdirSync(cacheDir, { recursive: true });
      args.push('-iex', `set index-cache directory ${cacheDir}`, '-iex', 'set index-cache enabled on');
    }
    // Keep gdb from stopping to ask questions or page output: it runs headless.
    args.push('-iex', 'set pagination off', '-iex', 'set confirm off', '-iex', 'set width 0', '-iex', 'set height 0');
    args.push('-iex', 'set style enabled off', '-iex', 'set print pretty off', '-iex', 'set breakpoint pending on');
    const gdb = new GdbBackend({ gdbPath, args, timeoutMs: 60_000 });
    let t = Date.now();
    await gdb.start();
    const engine = new Engine(gdb, options);
    engine.timings.gdbStart = Date.now() - t;
    try {
      await gdb.send('-gdb-set', ['mi-async', 'on']);
      await gdb.send('-gdb-set', ['architecture', options.arch === 'arm64' ? 'aarch64' : 'i386:x86-64']);
      for (const map of options.substitutePath ?? []) await gdb.console(`set substitute-path ${map.from} ${map.to}`);
      if (options.sourceRoot) await gdb.send('-environment-directory', [options.sourceRoot]);
      t = Date.now();
      await exec.loadSymbols(gdb, options.vmlinux, 300_000);
      engine.timings.symbols = Date.now() - t;
      if (cacheDir && options.onIndexing && !(await indexCached(cacheDir, options.vmlinux))) {
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

  async connect(remote: string): Promise<void> {
    const t = Date.now();
    await exec.selectRemote(this.gdb, remote, 30_000);
    this.timings.connect = Date.now() - t;
    this.state = 'stopped';
    this.qemuStub = /sstep/.test(await this.maintPacket('qqemu.Supported').catch(() => ''));
    // Step with interrupts and timers masked, so `next` does not land in an interrupt handler.
    if (this.qemuStub) await this.maintPacket('Qqemu.sstep=0x7').catch(() => '');
  }

  /** True when the remote is QEMU's gdbstub (it answers the qqemu.* packets). */
  qemuStub = false;

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
    await exec.continueAll(this.gdb);
  }

  async interrupt(): Promise<void> {
    if (this.state !== 'running') return;
    await this.gdb.send('-exec-interrupt', ['--all']);
  }

  async stop(): Promise<void> {
    await this.gdb.stop();
  }

  private onExec(cls: string, results: MITuple): void {
    if (cls === 'running') {
      this.state = 'running';
      this.emit('running');
      return;
    }
    if (cls !== 'stopped') return;
    this.state = 'stopped';
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
    this.emit('stopped', info);
  }
}
