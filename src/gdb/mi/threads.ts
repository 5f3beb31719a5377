/** -thread-* commands: one query lists every thread (never one query per thread). */
import type { GdbBackend } from '../backend';
import { optStr, optTuple, str, tuples } from '../mi/values';
import { Frame, parseFrame } from './stack';

export interface ThreadInfo {
  id: number;
  targetId: string;
  details?: string;
  name?: string;
  state: 'stopped' | 'running';
  frame?: Frame;
  core?: string;
}

export interface ThreadList {
  threads: ThreadInfo[];
  currentId?: number;
}

export async function threadInfo(gdb: GdbBackend): Promise<ThreadList> {
  const r = await gdb.send('-thread-info', [], 20_000);
  const threads = tuples(r.results, 'threads').map((t) => {
    const frame = optTuple(t, 'frame');
    return {
      id: Number(str(t, 'id')),
      targetId: str(t, 'target-id'),
      details: optStr(t, 'details'),
      name: optStr(t, 'name'),
      state: optStr(t, 'state') === 'running' ? ('running' as const) : ('stopped' as const),
      frame: frame ? parseFrame(frame) : undefined,
      core: optStr(t, 'core'),
    };
  });
  const current = optStr(r.results, 'current-thread-id');
  return { threads, currentId: current === undefined ? undefined : Number(current) };
}

export function select(gdb: GdbBackend, id: number): Promise<unknown> {
  return gdb.send('-thread-select', [String(id)]);
}
