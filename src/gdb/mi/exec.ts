/** -exec-* and target commands. */
import type { GdbBackend } from '../backend';

export function continueAll(gdb: GdbBackend): Promise<unknown> {
  return gdb.send('-exec-continue');
}

export function next(gdb: GdbBackend, thread: number, instruction = false): Promise<unknown> {
  return gdb.send(instruction ? '-exec-next-instruction' : '-exec-next', ['--thread', String(thread)]);
}

export function step(gdb: GdbBackend, thread: number, instruction = false): Promise<unknown> {
  return gdb.send(instruction ? '-exec-step-instruction' : '-exec-step', ['--thread', String(thread)]);
}

export function finish(gdb: GdbBackend, thread: number, frame = 0): Promise<unknown> {
  return gdb.send('-exec-finish', ['--thread', String(thread), '--frame', String(frame)]);
}

export function selectRemote(gdb: GdbBackend, remote: string, timeoutMs = 20_000): Promise<unknown> {
  return gdb.send('-target-select', ['remote', remote], timeoutMs);
}

export function loadSymbols(gdb: GdbBackend, file: string, timeoutMs = 120_000): Promise<unknown> {
  return gdb.send('-file-exec-and-symbols', [file], timeoutMs);
}

export function set(gdb: GdbBackend, ...words: string[]): Promise<unknown> {
  return gdb.send('-gdb-set', words);
}
