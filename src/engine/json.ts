/**
 * What the kernel views answer, as JSON: the bodies of the `kdap/*` custom requests and of
 * `kdap … --json`. Addresses are "0x…" strings: JSON has no 64-bit integers.
 */
import type { HexString } from '../kernel/arch/arch';
import type { WalkLevel, WalkResult } from '../kernel/pagetable';

export type { HexString, WalkLevel, WalkResult };

export interface CpuInfo {
  cpu: number;
  /** gdb thread id of this vCPU. */
  threadId: number;
  state: 'running' | 'idle' | 'halted' | 'offline' | 'unknown';
  mode: 'kernel' | 'user' | 'unknown';
  task?: { comm: string; pid: number; address: HexString };
  pc?: HexString;
  function?: string;
  file?: string;
  line?: number;
  preemptCount?: number;
  irqsDisabled?: boolean;
  nrRunning?: number;
  perCpuOffset?: HexString;
}

/** Which address space a walk uses: the kernel's, the CPU's current one, or a process's. */
export type WalkSpace = 'kernel' | 'cpu' | `pid:${number}`;

export interface WalkArgs {
  /** An address, or a C expression gdb evaluates (`&jiffies`). */
  va: string;
  cpu?: number;
  mm?: WalkSpace;
}

export interface DecodePteArgs {
  value: string;
  level?: string;
}

export interface DecodedPte {
  flags: string[];
  phys: HexString | null;
  summary: string;
}

export interface ModuleInfo {
  name: string;
  state: 'live' | 'coming' | 'going' | 'unformed';
  base: HexString;
  size: number;
  sections: Record<string, HexString>;
  symbolFile: string | null;
}

export interface DmesgArgs {
  /** Adds the `[    T42]` column of CONFIG_PRINTK_CALLER kernels. */
  callerId?: boolean;
}

export interface DmesgRecord {
  seq: number;
  /** Nanoseconds since boot, as a decimal string (a u64). */
  tsNsec: string;
  level?: number;
  facility: number;
  callerId?: number;
  text: string;
}

export interface DmesgResult {
  /** The log as `dmesg` prints it: `[    1.234567] text`, one line per line of each record. */
  text: string;
  records: DmesgRecord[];
  format: 'lockless' | 'legacy';
  /** Records whose text the kernel no longer has, and older records left out to bound the read. */
  lost: number;
  truncated: number;
  bytesRead: number;
  reads: number;
}
