/**
 * Custom DAP requests, declared once. The adapter registers a handler per entry and the
 * extension (or any DAP client) sends them with `customRequest(name, args)`.
 * Addresses cross the wire as "0x…" strings: JSON has no 64-bit integers.
 */
import type { CpuInfo, DecodedPte, DecodePteArgs, DmesgArgs, DmesgResult, ModuleInfo, WalkArgs, WalkResult } from '../engine/json';
import type { ModulesChanged } from '../engine/module-symbols';
import type { PsReport } from '../engine/task-report';

export type { PsReport, PsRow } from '../engine/task-report';
export type { CpuInfo, DmesgRecord, DmesgResult, HexString, ModuleInfo, WalkLevel, WalkResult } from '../engine/json';

export interface CustomRequests {
  'kdap/cpus': { args: Record<string, never>; result: { cpus: CpuInfo[] } };
  'kdap/walk': {
    args: WalkArgs;
    result: WalkResult;
  };
  'kdap/modules': { args: Record<string, never>; result: { modules: ModuleInfo[] } };
  /**
   * The user's file as the symbols of loaded module `name`, for the rest of the session (a
   * later insmod of it uses the file again). `warnings`: ways the file differs from the loaded
   * module (another name, build id or srcversion); it is loaded anyway. Needs the kernel stopped.
   */
  'kdap/loadModuleSymbols': { args: { name: string; file: string }; result: { module: ModuleInfo; warnings: string[] } };
  'kdap/dmesg': { args: DmesgArgs; result: DmesgResult };
  'kdap/decodePte': { args: DecodePteArgs; result: DecodedPte };
  /** Every task at this stop, as ps shows them (`error`: the list broke off there). Needs the kernel stopped. */
  'kdap/tasks': { args: Record<string, never>; result: PsReport };
  /**
   * Shows the task with this pid as a thread (its stack, locals and registers) and focuses it
   * with a `stopped` event of reason `task`. Needs the kernel stopped.
   */
  'kdap/selectTask': { args: { pid: number }; result: { threadId: number; name: string } };
  /** Keystrokes for the guest: QEMU's serial port, or the console on a kgdb line. */
  'kdap/serialInput': { args: { text: string }; result: undefined };
}

/** Custom events of the adapter. */
export interface CustomEvents {
  /** Kernel console output, with `serialTerminal` (the extension shows it in a terminal). */
  'kdap/serial': { text: string };
  /** A module came or went (views refresh); `ms` is its stop-to-resume time in the adapter. */
  'kdap/modulesChanged': ModulesChanged;
}

export type CustomRequestName = keyof CustomRequests;

/** What `dist/adapter.js --listen PATH` prints on stdout once it accepts sessions on PATH. */
export const ADAPTER_LISTENING = 'kdap adapter listening';
