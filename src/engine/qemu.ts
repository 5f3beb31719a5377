/**
 * QEMU for kernel debugging: the command line for a launch configuration, and a process handle
 * that exposes the guest's serial console and never outlives its owner.
 *
 * The serial console is QEMU's stdio (`-serial stdio`, monitor off so every byte reaches the
 * guest); the gdbstub listens on a free port of 127.0.0.1, never a fixed one.
 * No vscode import: the debug adapter, the CLI and the tests all use this module.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { archOfBootImage, archOfElfMachine, archOps } from '../kernel/arch';
import { ARCH_NAMES, isArch, type Arch } from '../kernel/arch/names';
import { which } from '../gdb/select';
import { elfMachine } from './elf-arch';

/** The QEMU part of a kdap launch configuration (names as in package.json). */
export interface QemuLaunchConfig {
  /** Kernel image for -kernel: bzImage on x86_64, Image on arm64. */
  kernel: string;
  initrd?: string;
  /** Kernel command line, passed as given (nothing is added). */
  append?: string;
  /** Default: read from the kernel image's header. */
  arch?: Arch;
  /** -M; default q35 (x86_64) or virt (arm64). */
  machine?: string;
  /** -cpu; default qemu64 (x86_64) or cortex-a57 (arm64: no pointer authentication). */
  cpu?: string;
  /** -smp; default 2. */
  smp?: number;
  /** -m; default 512M. */
  memory?: string;
  /** QEMU executable, or a folder holding qemu-system-*. Default: qemu-system-<arch> on PATH. */
  qemuPath?: string;
  /** Appended after kdap's own arguments. An accelerator given here replaces `-accel tcg`. */
  qemuArgs?: string[];
  /** Open a gdbstub (default true). */
  gdb?: boolean;
  /** gdbstub port; default: a free port chosen now. */
  gdbPort?: number;
  /** -S: vCPUs wait at the reset vector until the debugger continues them. */
  startPaused?: boolean;
}

export interface QemuCommand {
  program: string;
  args: string[];
  arch: Arch;
  /** Port of the gdbstub on 127.0.0.1, when one was asked for. */
  gdbPort: number | undefined;
}

const GDB_HOST = '127.0.0.1';

/** Ports handed out recently by findFreePort, so two quick calls never return the same one. */
const recentPorts = new Set<number>();

/** A TCP port on `host` that nothing listens on right now. */
export function findFreePort(host = GDB_HOST): Promise<number> {
  const attempt = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.once('error', reject);
      server.listen({ host, port: 0, exclusive: true }, () => {
        const address = server.address();
        const port = typeof address === 'object' && address ? address.port : 0;
        server.close(() => resolve(port));
      });
    });
  return (async () => {
    for (let i = 0; i < 20; i++) {
      const port = await attempt();
      if (port > 0 && !recentPorts.has(port)) {
        recentPorts.add(port);
        if (recentPorts.size > 256) recentPorts.delete(recentPorts.values().next().value as number);
        return port;
      }
    }
    throw new Error(`no free TCP port found on ${host}`);
  })();
}

/**
 * Architecture of a kernel image from its header: a boot image format (`ArchOps.isBootImage`:
 * bzImage, arm64 Image) or an ELF e_machine.
 */
export function kernelImageArch(file: string): Arch | undefined {
  const header = Buffer.alloc(0x210);
  const fd = fs.openSync(file, 'r');
  let n: number;
  try {
    n = fs.readSync(fd, header, 0, header.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  const read = header.subarray(0, n);
  const machine = elfMachine(read);
  return archOfBootImage(read) ?? (machine === undefined ? undefined : archOfElfMachine(machine));
}

function requireFile(what: string, file: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new Error(`${what} not found: ${file}`);
  }
  if (!stat.isFile()) throw new Error(`${what} is not a file: ${file}`);
}

function hasAccelerator(args: readonly string[], machine: string): boolean {
  if (/(^|,)accel=/.test(machine)) return true;
  return args.some((a, i) => {
    if (a === '-accel' || a === '--accel' || a === '-enable-kvm' || a.startsWith('-accel=')) return true;
    const prev = args[i - 1];
    return (prev === '-M' || prev === '-machine') && /(^|,)accel=/.test(a);
  });
}

function programFor(config: QemuLaunchConfig, arch: Arch): string {
  const name = archOps(arch).qemu.program;
  if (!config.qemuPath) return name;
  try {
    if (fs.statSync(config.qemuPath).isDirectory()) return path.join(config.qemuPath, name);
  } catch {
    // Not an existing path: a program name to look up on PATH, or spawn reports it missing.
  }
  return config.qemuPath;
}

/** The QEMU command line for a launch configuration. Throws on unusable settings. */
export async function buildQemuCommand(config: QemuLaunchConfig): Promise<QemuCommand> {
  if (!config.kernel) throw new Error('no kernel image given ("kernel")');
  requireFile('kernel image', config.kernel);
  if (config.initrd) requireFile('initrd', config.initrd);
  const arch = config.arch ?? kernelImageArch(config.kernel);
  const names = ARCH_NAMES.map((a) => JSON.stringify(a));
  if (!arch) throw new Error(`cannot tell the architecture of ${config.kernel}; set "arch" to ${names.join(' or ')}`);
  if (!isArch(arch)) throw new Error(`unsupported arch ${JSON.stringify(arch)}; kdap boots ${names.join(' and ')}`);
  const smp = config.smp ?? 2;
  if (!Number.isInteger(smp) || smp < 1) throw new Error(`"smp" must be a whole number of at least 1, not ${smp}`);
  const memory = config.memory ?? '512M';
  if (!/^\d+[KMGT]?$/i.test(memory)) throw new Error(`"memory" must look like "512M" or "2G", not ${JSON.stringify(memory)}`);
  const extra = config.qemuArgs ?? [];
  if (!Array.isArray(extra) || extra.some((a) => typeof a !== 'string')) throw new Error('"qemuArgs" must be an array of strings');

  const d = archOps(arch).qemu;
  const machine = config.machine ?? d.machine;
  const args: string[] = ['-M', machine, '-cpu', config.cpu ?? d.cpu];
  if (!hasAccelerator(extra, machine)) args.push('-accel', 'tcg');
  args.push('-smp', String(smp), '-m', memory);
  // -nographic would multiplex the monitor onto stdio (Ctrl-A escapes); keep the console raw.
  args.push('-nographic', '-monitor', 'none', '-serial', 'stdio', '-no-reboot');
  args.push('-kernel', config.kernel);
  if (config.initrd) args.push('-initrd', config.initrd);
  if (config.append !== undefined) args.push('-append', config.append);

  let gdbPort: number | undefined;
  if (config.gdb !== false) {
    gdbPort = config.gdbPort ?? (await findFreePort());
    if (!Number.isInteger(gdbPort) || gdbPort < 1 || gdbPort > 65535) throw new Error(`bad gdb port ${gdbPort}`);
    args.push('-gdb', `tcp:${GDB_HOST}:${gdbPort}`);
  }
  if (config.startPaused) args.push('-S');
  args.push(...extra);
  return { program: programFor(config, arch), args, arch, gdbPort };
}

export interface QemuExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface QemuEvents {
  /** Serial console output, decoded as UTF-8, in arrival order. */
  console: [string];
  /** QEMU's own messages (errors, warnings). */
  stderr: [string];
  exit: [QemuExit];
}

export interface QemuSpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Also append the raw console output to this file. */
  consoleLog?: string;
  /** How long start() waits for the gdbstub to listen (default 15 s). */
  gdbStubTimeoutMs?: number;
  /**
   * Have the kernel kill QEMU when this process dies, even by SIGKILL (Linux, through
   * util-linux setpriv --pdeathsig). Default true.
   */
  dieWithParent?: boolean;
}

/** Console bytes kept in memory for consoleText (the newest ones). */
const CONSOLE_KEEP = 4 * 1024 * 1024;

const live = new Set<QemuProcess>();
let cleanupInstalled = false;

function killGroupNow(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Kills every QEMU this process started, when it exits or is told to stop by a signal. */
function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', () => {
    for (const q of live) if (q.pid !== undefined) killGroupNow(q.pid);
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      for (const q of live) if (q.pid !== undefined) killGroupNow(q.pid);
      // Alone on this signal: restore the default action and re-raise it, so the process still
      // ends the way it would have without us.
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

/** Full path of `program` (as given when it has a slash, else looked up on PATH). */
export const resolveProgram = which;

let setprivPath: string | null | undefined;
function setpriv(): string | undefined {
  if (setprivPath === undefined) {
    setprivPath = process.platform === 'linux' ? (['/usr/bin/setpriv', '/bin/setpriv'].find((f) => fs.existsSync(f)) ?? null) : null;
  }
  return setprivPath ?? undefined;
}

/** Whether something listens on 127.0.0.1:port (from /proc/net/tcp; undefined if unreadable). */
function listeningOnLoopback(port: number): boolean | undefined {
  let text: string;
  try {
    text = fs.readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return undefined;
  }
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return text.split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    return f[1] === want && f[3] === '0A';
  });
}

/**
 * One running QEMU. It is the leader of its own process group; kill() and the process-exit
 * hook kill the whole group, so nothing it started survives it.
 */
export class QemuProcess extends EventEmitter<QemuEvents> {
  private child: ChildProcess | undefined;
  private consoleBuf = '';
  private stderrBuf = '';
  private exitInfo: QemuExit | undefined;
  private logFd: number | undefined;
  /** Resolves when QEMU has exited (never rejects). */
  readonly exited: Promise<QemuExit>;
  private resolveExited!: (e: QemuExit) => void;

  private constructor(readonly command: QemuCommand) {
    super();
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
  }

  /** Builds the command for a launch configuration and starts it. */
  static async start(config: QemuLaunchConfig, options: QemuSpawnOptions = {}): Promise<QemuProcess> {
    return QemuProcess.spawn(await buildQemuCommand(config), options);
  }

  /**
   * Starts a built command. Resolves once QEMU runs and, with a gdbstub, once the stub listens
   * (so a debugger can connect at once); rejects with QEMU's stderr if it exits before that.
   */
  static async spawn(command: QemuCommand, options: QemuSpawnOptions = {}): Promise<QemuProcess> {
    const q = new QemuProcess(command);
    await q.launch(options);
    if (command.gdbPort !== undefined) await q.waitForGdbStub(options.gdbStubTimeoutMs ?? 15_000);
    return q;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get gdbPort(): number | undefined {
    return this.command.gdbPort;
  }

  /** "127.0.0.1:PORT" for gdb's `target remote`, when there is a gdbstub. */
  get gdbAddress(): string | undefined {
    return this.command.gdbPort === undefined ? undefined : `${GDB_HOST}:${this.command.gdbPort}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.exitInfo === undefined;
  }

  get exitStatus(): QemuExit | undefined {
    return this.exitInfo;
  }

  /** Console output so far (the newest 4 MiB), raw as the guest sent it. */
  get consoleText(): string {
    return this.consoleBuf;
  }

  get stderrText(): string {
    return this.stderrBuf;
  }

  /** The console as a stream, for consumers that pipe it somewhere. */
  get consoleStream(): NodeJS.ReadableStream | undefined {
    return this.child?.stdout ?? undefined;
  }

  /** Types into the guest's serial console. Returns false once QEMU is gone. */
  write(data: string | Uint8Array): boolean {
    const stdin = this.child?.stdin;
    if (!stdin || !this.running || stdin.destroyed) return false;
    stdin.write(data);
    return true;
  }

  private launch(options: QemuSpawnOptions): Promise<void> {
    installCleanup();
    const env = options.env ?? process.env;
    const program = resolveProgram(this.command.program, env.PATH ?? '');
    if (!program) {
      return Promise.reject(new Error(`cannot start QEMU: ${this.command.program} not found (install QEMU or set "qemuPath")`));
    }
    let file = program;
    let args = this.command.args;
    const wrapper = options.dieWithParent === false ? undefined : setpriv();
    if (wrapper) {
      // setpriv sets PR_SET_PDEATHSIG and then execs QEMU: same pid, killed with its parent.
      args = ['--pdeathsig', 'KILL', '--', program, ...args];
      file = wrapper;
    }
    if (options.consoleLog) this.logFd = fs.openSync(options.consoleLog, 'a');
    const child = spawn(file, args, {
      cwd: options.cwd,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.child = child;
    const out = new StringDecoder('utf8');
    const err = new StringDecoder('utf8');
    child.stdout!.on('data', (chunk: Buffer) => {
      if (this.logFd !== undefined) fs.writeSync(this.logFd, chunk);
      this.onConsole(out.write(chunk));
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = err.write(chunk);
      this.stderrBuf = (this.stderrBuf + text).slice(-65536);
      if (text) this.emit('stderr', text);
    });
    // Writes after the guest is gone fail with EPIPE; the exit event reports what happened.
    child.stdin!.on('error', () => undefined);

    return new Promise((resolve, reject) => {
      child.once('spawn', () => {
        live.add(this);
        resolve();
      });
      child.once('error', (e: NodeJS.ErrnoException) => {
        live.delete(this);
        const why = e.code === 'ENOENT' ? `${this.command.program} not found (install QEMU or set "qemuPath")` : e.message;
        if (this.exitInfo === undefined) this.finish({ code: null, signal: null });
        reject(new Error(`cannot start QEMU: ${why}`));
      });
      child.once('close', (code, signal) => this.finish({ code, signal }));
    });
  }

  private onConsole(text: string): void {
    if (!text) return;
    this.consoleBuf += text;
    if (this.consoleBuf.length > CONSOLE_KEEP) this.consoleBuf = this.consoleBuf.slice(-CONSOLE_KEEP / 2);
    this.emit('console', text);
  }

  private finish(info: QemuExit): void {
    if (this.exitInfo !== undefined) return;
    this.exitInfo = info;
    live.delete(this);
    if (this.logFd !== undefined) {
      fs.closeSync(this.logFd);
      this.logFd = undefined;
    }
    this.emit('exit', info);
    this.resolveExited(info);
  }

  /** Waits until the gdbstub accepts connections, without connecting (a connection stops the VM). */
  async waitForGdbStub(timeoutMs = 15_000): Promise<void> {
    const port = this.command.gdbPort;
    if (port === undefined) throw new Error('this QEMU has no gdbstub');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exitInfo) throw new Error(`QEMU exited (${describeExit(this.exitInfo)}) before its gdbstub listened: ${this.stderrBuf.trim()}`);
      const state = listeningOnLoopback(port);
      if (state === true) return;
      if (state === undefined) {
        // No /proc/net/tcp (not Linux): QEMU opens the stub while starting; give it a moment.
        await delay(500);
        if (this.exitInfo) continue;
        return;
      }
      if (Date.now() > deadline) throw new Error(`QEMU's gdbstub did not listen on ${GDB_HOST}:${port} within ${timeoutMs} ms`);
      await delay(25);
    }
  }

  /**
   * Ends QEMU and everything in its process group: SIGTERM, then SIGKILL after `graceMs`.
   * Resolves when it is gone.
   */
  async kill(graceMs = 2000): Promise<QemuExit> {
    const child = this.child;
    if (!child || child.pid === undefined) return this.exitInfo ?? { code: null, signal: null };
    if (this.exitInfo) return this.exitInfo;
    const pid = child.pid;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // exited in between
    }
    const timer = setTimeout(() => killGroupNow(pid), graceMs);
    const result = await this.exited;
    clearTimeout(timer);
    killGroupNow(pid);
    return result;
  }
}

export function describeExit(e: QemuExit): string {
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
