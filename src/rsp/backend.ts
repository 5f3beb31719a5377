/**
 * What kdap's RSP server (server.ts) serves one gdb from: a kernel frozen at one moment, such
 * as a crash dump. It is read-only unless it says otherwise, and never runs: continue and step
 * are refused with a message gdb shows.
 *
 * gdb sees one thread per CPU (ids 1, 2, … as QEMU numbers its vCPUs) with the registers
 * saved for that CPU (an ELF dump's NT_PRSTATUS notes, a kdump header's saved registers), and,
 * on request, the kernel's tasks as more threads whose registers come from their switch frames
 * (task-threads.ts). Everything else gdb reads is memory: the backend only answers reads.
 *
 * `target` is the kernel behind it: memory reads go to `target.readVirtual`, and the task list
 * reads through the same Target. Its `symbol()` and `layout()` must not ask the gdb being
 * served (gdb is blocked waiting for the answer): record them before gdb connects with
 * DebugInfoSnapshot.record(vmlinuxSource, probeRspServer), then serve
 * `snapshot.withMemory(dumpMemory)`.
 */
import type { Target } from '../kernel/target';

export interface FrozenCpu {
  /** The CPU number (0-based): the thread id is cpu + 1. */
  readonly cpu: number;
  /**
   * Registers by gdb's names (rip, rsp, eflags, cs…; pc, sp, cpsr, x0…): whatever the dump saved.
   * A register left out reads as unavailable in gdb.
   */
  readonly registers: ReadonlyMap<string, bigint>;
  /** A word for the thread list (`panic`, `NMI`, `offline`); the server adds the running task. */
  readonly note?: string;
}

export interface FrozenStop {
  /** The CPU gdb selects first: the one that crashed. */
  readonly cpu: number;
  /** POSIX signal of the stop reply (SIGTRAP 5 for a plain stop, SIGSEGV 11 for an Oops…). */
  readonly signal: number;
}

export interface FrozenKernel {
  /** Memory, symbols and layouts of the kernel; `arch` picks the register layout. */
  readonly target: Target;
  /** The CPUs with registers, in CPU order. */
  cpus(): Promise<readonly FrozenCpu[]>;
  stop(): Promise<FrozenStop>;
  /** Present when the kernel may be written (never for a dump file). */
  writeVirtual?(address: bigint, bytes: Uint8Array): Promise<void>;
  /** Why it cannot be resumed, as gdb should say it. Default: "this kernel is frozen: it cannot run". */
  readonly frozenReason?: string;
}
