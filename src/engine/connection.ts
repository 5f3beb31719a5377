/**
 * One way of reaching a kernel: QEMU's gdbstub (launched by kdap or attached to), a kgdb line,
 * and the next kinds (a crash dump served by kdap's own RSP server; a task-aware RSP layer
 * between gdb and QEMU or kgdb). gdb always talks RSP to `remote`; what differs between kinds is
 * what they can do and how the kernel's memory and threads are reached, and all of it is here.
 * The session and the views ask the connection; they never ask which kind it is.
 *
 * A new kind implements this interface in a file of its own (gdbstub-connection.ts and
 * kgdb-connection.ts are the two there are) and is opened by the front end's launch or attach;
 * ARCHITECTURE.md has the steps.
 */
import type { GdbBackend } from '../gdb/backend';
import type { Arch, Target } from '../kernel/target';
import type { Engine } from './engine';
import type { CpuThread } from './kernel-views';

export interface Capabilities {
  /** gdb reads system registers (cr3, TTBR1_EL1, …) from the stub. */
  readonly systemRegisters: boolean;
  /** The stub reads guest-physical memory itself (QEMU's Qqemu.PhyMemMode). */
  readonly physicalReads: boolean;
  /** Hardware breakpoints and watchpoints fire; without them breakpoints are software only. */
  readonly hardwareBreakpoints: boolean;
  /** Software breakpoints are written into kernel memory (kgdb), not kept by the stub (QEMU). */
  readonly breakpointsInMemory: boolean;
  /** The kernel enters the debugger by itself when it dies (kgdb's die notifier). */
  readonly stopsOnOops: boolean;
  /** How Pause stops a running kernel: gdb's interrupt, SysRq-g on the console, or not at all. */
  readonly pause: 'interrupt' | 'sysrq' | 'none';
  /** Memory and registers can be written (not in a dump). */
  readonly writeMemory: boolean;
  /** The kernel can be resumed and stepped (a dump is frozen). */
  readonly resume: boolean;
  /** gdb's threads are the CPUs, or the CPUs among the kernel's tasks (kgdb). */
  readonly threads: 'cpus' | 'cpus+tasks';
  /**
   * The stub now and then reports gdb's step over a breakpoint done with the instruction not
   * run, and gdb reports that breakpoint again (QEMU; repeated-stops.ts).
   */
  readonly repeatsBreakpointStops: boolean;
  /** An interrupt that lands while gdb steps over a breakpoint can be dropped (QEMU): ask again. */
  readonly dropsInterrupts: boolean;
}

/**
 * A thread the user sees after the CPUs whose "frames" are rows of a list, not a gdb stack
 * (kgdb's Tasks: every task, read from kernel memory a page at a time).
 */
export interface ThreadGroup {
  /** Its DAP thread id, far from gdb's thread numbers. */
  readonly id: number;
  readonly name: string;
  /** Rows `start` … `start + count − 1` as one line each, and how many there are if known. */
  rows(start: number, count: number): Promise<{ labels: string[]; total: number | undefined }>;
  /** The kernel ran: what was read is stale. */
  invalidate(): void;
}

export interface Connection {
  /** The kind, in messages: `QEMU gdbstub`, `kgdb`. */
  readonly name: string;
  /** What gdb's `target remote` connects to (host:port). */
  readonly remote: string;
  /** The kernel's stub, in messages, where `remote` is a layer of kdap's in front of it. */
  readonly where?: string;
  /**
   * KASLR's slide, where the connection knows it and gdb loads the vmlinux moved by it from the
   * start (a dump's VMCOREINFO): then nobody looks for it again.
   */
  readonly knownSlide?: bigint;
  /** What this way of reaching the kernel can do; final once `connected` has run. */
  readonly capabilities: Capabilities;
  /** Physical memory: the stub reads it (`physicalReads`), or reads go through the kernel's direct map. */
  readonly kernelMemory: 'stub' | 'direct-map';
  /** Where page walks start: the CPUs' paging registers, or kernel tables (`init_mm.pgd`, `mm->pgd`). */
  readonly pageTableRoots: 'registers' | 'kernel-data';
  /**
   * Why a kernel that cannot run stopped, when it says so (a dump of a panic or an Oops, read
   * from its log): the first stop is shown as that exception, on the CPU that crashed.
   */
  readonly crash?: { readonly kind: string; readonly title: string; readonly cause?: string; readonly cpu?: number };
  /** Ending the session ends the kernel (a QEMU kdap started); else gdb detaches and it runs on. */
  readonly ownsKernel: boolean;
  /** The kernel function a stop on this connection is in when gdb connects (kgdb: `kgdb_breakpoint`), a KASLR hint. */
  readonly stoppedIn?: string;

  /** gdb settings this connection needs, run before the user's setupCommands. */
  gdbSettings(arch: Arch): string[];
  /**
   * Before gdb connects, with gdb's debug info at hand (`debugInfo` answers symbols and layouts
   * from the vmlinux; nothing may be read from it yet): what a server of kdap's own records.
   */
  beforeConnect?(engine: Engine, debugInfo: Target): Promise<void>;
  /** Resolves when gdb may connect (kgdb: once the kernel waits in kgdb). */
  ready(): Promise<void>;
  /** After gdb connected: learns what the stub is, and tells the user what they should know. */
  connected(engine: Engine, target: Target): Promise<void>;
  /** Before each continue from a stop (arm64 kgdb steps off a breakpoint with IRQs masked). */
  beforeContinue(engine: Engine): Promise<void>;
  /** Before gdb detaches from a kernel that keeps running: the kernel must be stopped then. */
  beforeDetach(engine: Engine): Promise<void>;
  /** The CPU threads of a stop, CPU order, each with its top frame. */
  cpuThreads(gdb: GdbBackend): Promise<CpuThread[]>;
  /** Threads listed after the CPUs whose frames are rows (kgdb: the Tasks group). */
  threadGroups(target: Target, gdb: GdbBackend): ThreadGroup[];

  /** Keystrokes for the kernel's console (dropped where there is none). */
  write(text: string): void;
  /** Ends it: kills a QEMU kdap started, closes a kgdb line. */
  close(): Promise<void>;
}

/** What a connection tells its owner; given when it is opened. */
export interface ConnectionHooks {
  /** Console text from the kernel (QEMU's serial port, the console on a kgdb line). */
  console(text: string): void;
  /** The connection went away under gdb, said in a sentence for the user. */
  lost(message: string): void;
  /** One line for the user. */
  say(message: string): void;
  /** Traffic, for `trace: true`. */
  trace?(line: string): void;
}
