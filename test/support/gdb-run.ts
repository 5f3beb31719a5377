/**
 * Driving a plain gdb/MI (no adapter) in tests and benches that need gdb's own answers.
 */
import { parseAddress } from '../../src/engine/live-target';
import type { GdbBackend } from '../../src/gdb/backend';

type ExecRecord = { cls: string; results: Record<string, unknown> };

/** Resumes every CPU and waits for the next stop; returns its thread id. */
export async function continueToStop(gdb: GdbBackend, timeoutMs = 180_000): Promise<number> {
  const stopped = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no stop in ${timeoutMs} ms`)), timeoutMs);
    const on = (e: ExecRecord) => {
      if (e.cls !== 'stopped') return;
      clearTimeout(timer);
      gdb.off('exec', on);
      resolve(Number(e.results['thread-id'] ?? 1));
    };
    gdb.on('exec', on);
  });
  await gdb.send('-exec-continue');
  return stopped;
}

/** An expression's value as a 64-bit unsigned number (pointers and integers alike). */
export async function value(gdb: GdbBackend, expression: string, thread?: number): Promise<bigint> {
  const r = await gdb.send('-data-evaluate-expression', [...(thread ? ['--thread', String(thread)] : []), expression]);
  const v = parseAddress(String(r.results.value)) ?? BigInt(String(r.results.value).trim());
  return BigInt.asUintN(64, v);
}
