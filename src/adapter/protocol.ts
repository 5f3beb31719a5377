/**
 * Custom DAP requests, declared once. The adapter registers a handler per entry and the
 * extension (or any DAP client) sends them with `customRequest(name, args)`.
 * Addresses cross the wire as "0x…" strings: JSON has no 64-bit integers.
 */
export type HexString = `0x${string}`;

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

export interface WalkLevel {
  level: string;
  index: number;
  entryAddress: HexString;
  entryPhysical?: HexString;
  raw: HexString;
  flags: string[];
  next?: HexString;
  leaf?: boolean;
}

export interface WalkResult {
  va: HexString;
  phys: HexString | null;
  pageSize: number | null;
  levels: WalkLevel[];
  fault: string | null;
  summary?: string;
}

export interface ModuleInfo {
  name: string;
  state: 'live' | 'coming' | 'going' | 'unformed';
  base: HexString;
  size: number;
  sections: Record<string, HexString>;
  symbolFile: string | null;
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

export interface CustomRequests {
  'kdap/cpus': { args: Record<string, never>; result: { cpus: CpuInfo[] } };
  'kdap/walk': {
    args: { va: string; cpu?: number; mm?: 'kernel' | 'cpu' | `pid:${number}` };
    result: WalkResult;
  };
  'kdap/modules': { args: Record<string, never>; result: { modules: ModuleInfo[] } };
  /**
   * The user's file as the symbols of loaded module `name`, for the rest of the session (a
   * later insmod of it uses the file again). `warnings`: ways the file differs from the loaded
   * module (another name, build id or srcversion); it is loaded anyway. Needs the kernel stopped.
   */
  'kdap/loadModuleSymbols': { args: { name: string; file: string }; result: { module: ModuleInfo; warnings: string[] } };
  'kdap/dmesg': {
    /** `callerId` adds the `[    T42]` column of CONFIG_PRINTK_CALLER kernels. */
    args: { callerId?: boolean };
    result: DmesgResult;
  };
  'kdap/decodePte': {
    args: { value: string; level?: string };
    result: { flags: string[]; phys: HexString | null; summary: string };
  };
  /** Keystrokes for the guest: QEMU's serial port, or the console on a kgdb line. */
  'kdap/serialInput': { args: { text: string }; result: undefined };
}

/** Custom events of the adapter. `kdap/serial` carries guest console output when launched with serialTerminal. */
export interface CustomEvents {
  'kdap/serial': { text: string };
}

export type CustomRequestName = keyof CustomRequests;
export const customRequestNames: readonly CustomRequestName[] = [
  'kdap/cpus',
  'kdap/walk',
  'kdap/modules',
  'kdap/loadModuleSymbols',
  'kdap/dmesg',
  'kdap/decodePte',
  'kdap/serialInput',
];
