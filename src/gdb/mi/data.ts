/** -data-* commands: expressions, memory, registers, disassembly. */
import type { GdbBackend } from '../backend';
import { optAddress, optStr, str, tuples } from '../mi/values';

export interface EvalContext {
  thread?: number;
  frame?: number;
}

function context(ctx: EvalContext): string[] {
  const args: string[] = [];
  if (ctx.thread !== undefined) args.push('--thread', String(ctx.thread));
  if (ctx.frame !== undefined) args.push('--frame', String(ctx.frame));
  return args;
}

export async function evaluate(gdb: GdbBackend, expression: string, ctx: EvalContext = {}): Promise<string> {
  const r = await gdb.send('-data-evaluate-expression', [...context(ctx), expression]);
  return str(r.results, 'value');
}

/** Reads target memory; returns the bytes gdb could read from the start (may be short). */
export async function readMemory(gdb: Pick<GdbBackend, 'send'>, address: bigint, length: number, ctx: EvalContext = {}): Promise<Uint8Array> {
  const r = await gdb.send('-data-read-memory-bytes', [...context(ctx), `0x${address.toString(16)}`, String(length)]);
  const out = new Uint8Array(length);
  let filled = 0;
  for (const block of tuples(r.results, 'memory')) {
    const begin = optAddress(block, 'begin') ?? address;
    if (begin !== address + BigInt(filled)) break;
    const hex = str(block, 'contents');
    const bytes = Buffer.from(hex, 'hex');
    out.set(bytes.subarray(0, length - filled), filled);
    filled += Math.min(bytes.length, length - filled);
  }
  return out.subarray(0, filled);
}

/**
 * Reads `length` bytes at the value of `expression` (a pointer, evaluated in `ctx`'s frame): the
 * address and the bytes in one command, where an evaluate and a read would take two.
 */
export async function readMemoryAt(gdb: GdbBackend, expression: string, length: number, ctx: EvalContext = {}): Promise<{ address: bigint; bytes: Uint8Array }> {
  const r = await gdb.send('-data-read-memory-bytes', [...context(ctx), expression, String(length)]);
  const [block] = tuples(r.results, 'memory');
  const address = block ? optAddress(block, 'begin') : undefined;
  if (address === undefined) return { address: 0n, bytes: new Uint8Array() };
  return { address, bytes: Buffer.from(str(block, 'contents'), 'hex').subarray(0, length) };
}

export async function writeMemory(gdb: GdbBackend, address: bigint, data: Uint8Array, ctx: EvalContext = {}): Promise<void> {
  await gdb.send('-data-write-memory-bytes', [...context(ctx), `0x${address.toString(16)}`, Buffer.from(data).toString('hex')]);
}

export async function registerNames(gdb: GdbBackend): Promise<string[]> {
  const r = await gdb.send('-data-list-register-names');
  const names = r.results['register-names'];
  return Array.isArray(names) ? names.map((n) => (typeof n === 'string' ? n : '')) : [];
}

/** Register values by number, in hex (`x`) so 64-bit values stay exact. */
export async function registerValues(gdb: GdbBackend, numbers: readonly number[] | 'all', ctx: EvalContext = {}): Promise<Map<number, string>> {
  const regs = numbers === 'all' ? [] : numbers.map(String);
  const r = await gdb.send('-data-list-register-values', [...context(ctx), '--skip-unavailable', 'x', ...regs]);
  const out = new Map<number, string>();
  for (const t of tuples(r.results, 'register-values')) out.set(Number(str(t, 'number')), str(t, 'value'));
  return out;
}

export interface Instruction {
  address: bigint;
  func?: string;
  offset?: number;
  inst: string;
  opcodes?: string;
}

export async function disassemble(gdb: GdbBackend, start: bigint, end: bigint): Promise<Instruction[]> {
  const r = await gdb.send('-data-disassemble', ['-s', `0x${start.toString(16)}`, '-e', `0x${end.toString(16)}`, '--opcodes', 'bytes', '--', '0']);
  return tuples(r.results, 'asm_insns').map((t) => ({
    address: optAddress(t, 'address') ?? 0n,
    func: optStr(t, 'func-name'),
    offset: optStr(t, 'offset') === undefined ? undefined : Number(optStr(t, 'offset')),
    inst: str(t, 'inst'),
    opcodes: optStr(t, 'opcodes'),
  }));
}
