/** -stack-* commands. */
import type { GdbBackend } from '../backend';
import type { MITuple } from '../mi/parser';
import { optAddress, optInt, optStr, str, tuples } from '../mi/values';

export interface Frame {
  level: number;
  address?: bigint;
  func?: string;
  file?: string;
  fullname?: string;
  line?: number;
  from?: string;
  arch?: string;
}

export function parseFrame(t: MITuple): Frame {
  return {
    level: optInt(t, 'level') ?? 0,
    address: optAddress(t, 'addr'),
    func: optStr(t, 'func'),
    file: optStr(t, 'file'),
    fullname: optStr(t, 'fullname'),
    line: optInt(t, 'line'),
    from: optStr(t, 'from'),
    arch: optStr(t, 'arch'),
  };
}

export async function listFrames(gdb: GdbBackend, thread: number, low: number, high: number): Promise<Frame[]> {
  const r = await gdb.send('-stack-list-frames', ['--thread', String(thread), '--no-frame-filters', String(low), String(high)], 20_000);
  return tuples(r.results, 'stack', 'frame').map(parseFrame);
}

export async function depth(gdb: GdbBackend, thread: number, max: number): Promise<number> {
  const r = await gdb.send('-stack-info-depth', ['--thread', String(thread), String(max)]);
  return Number(str(r.results, 'depth'));
}

export interface Variable {
  name: string;
  arg: boolean;
  type?: string;
  value?: string;
}

export async function listVariables(gdb: GdbBackend, thread: number, frame: number): Promise<Variable[]> {
  const r = await gdb.send('-stack-list-variables', ['--thread', String(thread), '--frame', String(frame), '--skip-unavailable', '--simple-values']);
  return tuples(r.results, 'variables').map((t) => ({
    name: str(t, 'name'),
    arg: optStr(t, 'arg') === '1',
    type: optStr(t, 'type'),
    value: optStr(t, 'value'),
  }));
}
