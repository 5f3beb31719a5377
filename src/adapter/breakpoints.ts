/**
 * Source, function, instruction and data breakpoints, logpoints, hit counts and kernel
 * exception filters, mapped onto gdb breakpoints (arm64 ftrace pads: ../engine/ftrace.ts).
 * The DAP breakpoint id is the gdb number, so stops can report hitBreakpointIds.
 *
 * Where hardware breakpoints do not fire (kgdb), a hardware request becomes a software
 * breakpoint and says so, and data breakpoints are refused. Where the kernel enters the
 * debugger by itself when it dies (kgdb's die notifier, with the faulting registers: the
 * stop's top frame is the faulting code), no Oops breakpoint is set: x86 kgdb refuses one on
 * __die (NOKPROBE, kgdb's blocklist), which would make every continue fail.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { GdbBackend } from '../gdb/backend';
import * as bp from '../gdb/mi/breakpoints';
import { errorText, ignore, bestEffort } from '../engine/errors';
import { dedupeFtraceLocations } from '../engine/ftrace';
import { archOps } from '../kernel/arch';
import type { ExceptionFilter } from '../kernel/arch/arch';
import type { Arch } from '../kernel/target';
import type { Connection } from '../engine/connection';

export interface KernelException {
  /** Its functions, per arch: `ArchOps.exceptions[filter]`. */
  filter: ExceptionFilter;
  label: string;
  description: string;
  default?: boolean;
}

export const kernelExceptions: readonly KernelException[] = [
  { filter: 'panic', label: 'panic', description: 'Stop when the kernel panics (panic()).', default: true },
  { filter: 'oops', label: 'Oops', description: 'Stop when the kernel dies with an Oops (die / __die).', default: true },
  { filter: 'warn', label: 'WARN', description: 'Stop on WARN()/WARN_ON() (__warn).' },
  { filter: 'bug', label: 'BUG', description: 'Stop on BUG()/BUG_ON() (report_bug / bug_handler).' },
  { filter: 'kasan', label: 'KASAN report', description: 'Stop when KASAN reports a bad access (kasan_report).' },
];

interface Internal {
  kind: 'exception' | 'logpoint';
  filter?: string;
  logMessage?: string;
}

export class Breakpoints {
  private readonly bySource = new Map<string, number[]>();
  private functionBps: number[] = [];
  private instructionBps: number[] = [];
  private dataBps: number[] = [];
  private exceptionBps: number[] = [];
  /** gdb breakpoint number → what it is for, when the stop is not a plain user breakpoint. */
  private readonly internal = new Map<number, Internal>();

  constructor(
    private readonly gdb: GdbBackend,
    private readonly arch: Arch,
    private readonly connection: Pick<Connection, 'name' | 'capabilities'>,
  ) {}

  setSource(file: string, requested: readonly DebugProtocol.SourceBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    return this.placed(requested, (r) => this.setSourceAs(file, r));
  }

  setFunctions(requested: readonly DebugProtocol.FunctionBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    return this.placed(requested, (r) => this.setFunctionsAs(r));
  }

  setInstructions(requested: readonly DebugProtocol.InstructionBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    return this.placed(requested, (r) => this.setInstructionsAs(r));
  }

  /** Hardware requests as software ones where hardware breakpoints do not fire, with a note on each. */
  private async placed<T extends object>(requested: readonly T[], set: (r: readonly T[]) => Promise<DebugProtocol.Breakpoint[]>): Promise<DebugProtocol.Breakpoint[]> {
    if (this.connection.capabilities.hardwareBreakpoints) return set(requested);
    const name = this.connection.name;
    const note = `${name}: set as a software breakpoint (hardware breakpoints do not fire through ${name} here)`;
    const result = await set(requested.map((b) => (modeOf(b) === 'hardware' ? { ...b, mode: undefined } : b)));
    return result.map((b, i) => (requested[i] && modeOf(requested[i]) === 'hardware' && b.verified ? { ...b, message: note } : b));
  }

  private async setSourceAs(file: string, requested: readonly DebugProtocol.SourceBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    await this.clear(this.bySource.get(file) ?? []);
    const numbers: number[] = [];
    const out: DebugProtocol.Breakpoint[] = [];
    for (const req of requested) {
      const r = await this.insertOne(`${file}:${req.line}`, req.condition, req.hitCondition, req.mode, req.logMessage);
      if (r.number !== undefined) numbers.push(r.number);
      out.push(r.dap);
    }
    this.bySource.set(file, numbers);
    return out;
  }

  private async setFunctionsAs(requested: readonly DebugProtocol.FunctionBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    await this.clear(this.functionBps);
    this.functionBps = [];
    const out: DebugProtocol.Breakpoint[] = [];
    for (const req of requested) {
      const r = await this.insertOne(req.name, req.condition, req.hitCondition, modeOf(req));
      if (r.number !== undefined) this.functionBps.push(r.number);
      out.push(r.dap);
    }
    return out;
  }

  private async setInstructionsAs(requested: readonly DebugProtocol.InstructionBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    await this.clear(this.instructionBps);
    this.instructionBps = [];
    const out: DebugProtocol.Breakpoint[] = [];
    for (const req of requested) {
      const address = BigInt(req.instructionReference) + BigInt(req.offset ?? 0);
      const r = await this.insertOne(`*0x${address.toString(16)}`, req.condition, req.hitCondition, req.mode);
      if (r.number !== undefined) this.instructionBps.push(r.number);
      out.push(r.dap);
    }
    return out;
  }

  async setData(requested: readonly DebugProtocol.DataBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    await this.clear(this.dataBps);
    this.dataBps = [];
    if (!this.connection.capabilities.hardwareBreakpoints) {
      const name = this.connection.name;
      return requested.map(() => ({ verified: false, message: `${name}: data breakpoints need hardware watchpoints, which do not fire through ${name} here; use a QEMU session` }));
    }
    const out: DebugProtocol.Breakpoint[] = [];
    for (const req of requested) {
      const access = req.accessType === 'read' ? 'read' : req.accessType === 'readWrite' ? 'readWrite' : 'write';
      try {
        const n = await bp.insertWatch(this.gdb, req.dataId, access);
        if (req.condition) await bp.condition(this.gdb, n, req.condition);
        this.dataBps.push(n);
        out.push({ id: n, verified: true });
      } catch (err) {
        out.push({ verified: false, message: errorText(err) });
      }
    }
    return out;
  }

  async setExceptions(filters: readonly string[]): Promise<void> {
    await this.clear(this.exceptionBps);
    this.exceptionBps = [];
    for (const filter of filters) {
      if (filter === 'oops' && this.connection.capabilities.stopsOnOops) continue;
      const ex = kernelExceptions.find((e) => e.filter === filter);
      if (!ex) continue;
      for (const fn of archOps(this.arch).exceptions[ex.filter]) {
        try {
          const b = await bp.insert(this.gdb, fn, {});
          await dedupeFtraceLocations(this.gdb, this.arch, b);
          this.exceptionBps.push(b.number);
          this.internal.set(b.number, { kind: 'exception', filter });
          break;
        } catch (err) {
          // this kernel has no such function (config or version): try the next candidate
          ignore(err, `exception breakpoint on ${fn}`);
        }
      }
    }
  }

  exceptionFor(number: number | undefined): KernelException | undefined {
    const info = number === undefined ? undefined : this.internal.get(number);
    return info?.kind === 'exception' ? kernelExceptions.find((e) => e.filter === info.filter) : undefined;
  }

  logMessageFor(number: number | undefined): string | undefined {
    const info = number === undefined ? undefined : this.internal.get(number);
    return info?.kind === 'logpoint' ? info.logMessage : undefined;
  }

  private async insertOne(spec: string, condition?: string, hitCondition?: string, mode?: string, logMessage?: string): Promise<{ number?: number; dap: DebugProtocol.Breakpoint }> {
    const opts: bp.InsertOptions = { pending: true, condition: condition || undefined, hardware: mode === 'hardware' };
    const hit = parseHitCondition(hitCondition);
    if (hit !== undefined) opts.ignoreCount = hit - 1;
    let b: bp.Breakpoint;
    try {
      b = await bp.insert(this.gdb, spec, opts);
    } catch (err) {
      // Software breakpoints need writable, mapped text; fall back to hardware where they fail.
      if (!opts.hardware && /cannot (insert|access)/i.test(errorText(err))) {
        try {
          b = await bp.insert(this.gdb, spec, { ...opts, hardware: true });
        } catch (err2) {
          return { dap: { verified: false, message: errorText(err2) } };
        }
      } else {
        return { dap: { verified: false, message: errorText(err) } };
      }
    }
    await dedupeFtraceLocations(this.gdb, this.arch, b);
    if (logMessage) this.internal.set(b.number, { kind: 'logpoint', logMessage });
    return { number: b.number, dap: toDapBreakpoint(b) };
  }

  private async clear(numbers: readonly number[]): Promise<void> {
    for (const n of numbers) this.internal.delete(n);
    await bestEffort(bp.remove(this.gdb, numbers), 'removing breakpoints');
  }
}

/** DAP 1.65 breakpoint modes; function breakpoints carry one too, untyped in @vscode/debugprotocol. */
function modeOf(b: object): string | undefined {
  const mode = (b as { mode?: unknown }).mode;
  return typeof mode === 'string' ? mode : undefined;
}

/** DAP hit conditions: "5", "=5", ">=5" → stop on the 5th hit; ">5" → from the 6th. */
export function parseHitCondition(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const m = /^\s*(>=|=|>)?\s*(\d+)\s*$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[2]);
  return m[1] === '>' ? n + 1 : n;
}

/** A gdb breakpoint as DAP shows it: verified at its first enabled location, or pending. */
export function toDapBreakpoint(b: bp.Breakpoint): DebugProtocol.Breakpoint {
  const loc = b.locations.find((l) => l.enabled) ?? b.locations[0];
  if (b.pending || !loc) return { id: b.number, verified: false, message: 'pending: binds when the code is loaded', reason: 'pending' };
  return {
    id: b.number,
    verified: true,
    line: loc.line,
    source: loc.fullname || loc.file ? { path: loc.fullname ?? loc.file, name: (loc.file ?? '').split('/').pop() } : undefined,
    instructionReference: loc.address !== undefined ? `0x${loc.address.toString(16)}` : undefined,
  };
}
