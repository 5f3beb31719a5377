/** -break-* commands, with gdb's multi-location reply folded into one shape. */
import type { GdbBackend } from '../backend';
import type { MITuple } from '../mi/parser';
import { isTuple, optAddress, optInt, optStr, str, tuples } from '../mi/values';

export interface BreakpointLocation {
  number: string;
  address?: bigint;
  func?: string;
  file?: string;
  fullname?: string;
  line?: number;
  enabled: boolean;
}

export interface Breakpoint {
  number: number;
  type: string;
  pending: boolean;
  hitCount: number;
  condition?: string;
  locations: BreakpointLocation[];
}

export interface InsertOptions {
  hardware?: boolean;
  temporary?: boolean;
  condition?: string;
  ignoreCount?: number;
  /** Allow a breakpoint in code that is not loaded yet (a module loaded later). */
  pending?: boolean;
  disabled?: boolean;
}

function location(t: MITuple): BreakpointLocation {
  return {
    number: str(t, 'number'),
    address: optAddress(t, 'addr'),
    func: optStr(t, 'func'),
    file: optStr(t, 'file'),
    fullname: optStr(t, 'fullname'),
    line: optInt(t, 'line'),
    enabled: optStr(t, 'enabled') !== 'n',
  };
}

/** Folds `bkpt={…,locations=[…]}` (mi3) and `bkpt={…},{…}` (mi2) into one Breakpoint. */
export function parseBreakpoint(bkpt: MITuple, extra: readonly MITuple[] = []): Breakpoint {
  const nested = bkpt.locations ? tuples(bkpt, 'locations') : extra;
  const pending = optStr(bkpt, 'pending') !== undefined || optStr(bkpt, 'addr') === '<PENDING>';
  const locations = nested.length > 0 ? nested.map(location) : pending ? [] : [location(bkpt)];
  return {
    number: Number(str(bkpt, 'number')),
    type: optStr(bkpt, 'type') ?? 'breakpoint',
    pending,
    hitCount: optInt(bkpt, 'times') ?? 0,
    condition: optStr(bkpt, 'cond'),
    locations,
  };
}

export async function insert(gdb: GdbBackend, spec: string, opts: InsertOptions = {}): Promise<Breakpoint> {
  const args: string[] = [];
  if (opts.hardware) args.push('-h');
  if (opts.temporary) args.push('-t');
  if (opts.pending) args.push('-f');
  if (opts.disabled) args.push('-d');
  if (opts.condition) args.push('-c', opts.condition);
  if (opts.ignoreCount) args.push('-i', String(opts.ignoreCount));
  args.push(spec);
  const r = await gdb.send('-break-insert', args);
  const bkpt = r.results.bkpt;
  if (!isTuple(bkpt)) throw new Error(`gdb did not describe breakpoint '${spec}'`);
  const extra = (r.results['bkpt*'] as MITuple[] | undefined)?.slice(1).filter(isTuple) ?? [];
  return parseBreakpoint(bkpt, extra);
}

export async function insertWatch(gdb: GdbBackend, expression: string, access: 'write' | 'read' | 'readWrite'): Promise<number> {
  const args = access === 'read' ? ['-r'] : access === 'readWrite' ? ['-a'] : [];
  const r = await gdb.send('-break-watch', [...args, expression]);
  const wpt = (r.results.wpt ?? r.results['hw-rwpt'] ?? r.results['hw-awpt']) as MITuple | undefined;
  if (!wpt || !isTuple(wpt)) throw new Error(`gdb did not describe watchpoint '${expression}'`);
  return Number(str(wpt, 'number'));
}

export function remove(gdb: GdbBackend, numbers: readonly number[]): Promise<unknown> {
  if (numbers.length === 0) return Promise.resolve();
  return gdb.send('-break-delete', numbers.map(String));
}

export function condition(gdb: GdbBackend, number: number, expr: string): Promise<unknown> {
  return gdb.send('-break-condition', [String(number), expr]);
}

export function disableLocation(gdb: GdbBackend, locationNumber: string): Promise<unknown> {
  return gdb.send('-break-disable', [locationNumber]);
}

export function commands(gdb: GdbBackend, number: number, lines: readonly string[]): Promise<unknown> {
  return gdb.send('-break-commands', [String(number), ...lines]);
}
