/**
 * Runtime-checked access to MI values. gdb's replies are untyped; reading a field that is
 * missing or of the wrong shape raises MIShapeError naming the field, instead of `undefined`
 * travelling on into the UI.
 */
import type { MITuple, MIValue } from './parser';

export class MIShapeError extends Error {
  constructor(readonly field: string, readonly expected: string, readonly got: unknown) {
    super(`gdb reply: field '${field}' should be ${expected}, got ${JSON.stringify(got)?.slice(0, 120)}`);
    this.name = 'MIShapeError';
  }
}

export function isTuple(v: MIValue | undefined): v is MITuple {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function str(t: MITuple, key: string): string {
  const v = t[key];
  if (typeof v !== 'string') throw new MIShapeError(key, 'a string', v);
  return v;
}

export function optStr(t: MITuple, key: string): string | undefined {
  const v = t[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new MIShapeError(key, 'a string', v);
  return v;
}

export function optInt(t: MITuple, key: string): number | undefined {
  const v = optStr(t, key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new MIShapeError(key, 'an integer', v);
  return n;
}

export function int(t: MITuple, key: string): number {
  const n = optInt(t, key);
  if (n === undefined) throw new MIShapeError(key, 'an integer', undefined);
  return n;
}

/**
 * An address field ("0xffffffff81000000"); bigint because kernel addresses exceed 2^53. gdb's
 * placeholders are no address: a pending or multi-location breakpoint, and a frame whose pc
 * could not be read (a task whose stack was freed).
 */
export function optAddress(t: MITuple, key: string): bigint | undefined {
  const v = optStr(t, key);
  if (v === undefined || v === '<PENDING>' || v === '<MULTIPLE>' || v === '<unavailable>') return undefined;
  const m = /^(0x[0-9a-fA-F]+|\d+)/.exec(v);
  if (!m) throw new MIShapeError(key, 'an address', v);
  return BigInt(m[1]);
}

export function tuple(t: MITuple, key: string): MITuple {
  const v = t[key];
  if (!isTuple(v)) throw new MIShapeError(key, 'a tuple', v);
  return v;
}

export function optTuple(t: MITuple, key: string): MITuple | undefined {
  const v = t[key];
  if (v === undefined) return undefined;
  if (!isTuple(v)) throw new MIShapeError(key, 'a tuple', v);
  return v;
}

export function list(t: MITuple, key: string): MIValue[] {
  const v = t[key];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new MIShapeError(key, 'a list', v);
  return v;
}

/** Items of a list of results (`stack=[frame={…},…]`) unwrapped from their one-key tuples. */
export function tuples(t: MITuple, key: string, itemName?: string): MITuple[] {
  return list(t, key).map((item, i) => {
    if (!isTuple(item)) throw new MIShapeError(`${key}[${i}]`, 'a tuple', item);
    if (itemName && isTuple(item[itemName]) && Object.keys(item).length === 1) return item[itemName] as MITuple;
    return item;
  });
}
