/**
 * Register layouts as gdb sees them over RSP. gdb numbers a target's registers in the order of
 * its target description (qXfer:features:read); `g` carries them in that order, each
 * little-endian, as far as the stub's reply reaches (the rest are read with `p`). A byte pair
 * `xx` marks a register's bytes as unavailable.
 *
 * A stub without a description (kgdb) gets gdb's built-in layout for the architecture, whose
 * first registers are the ones below, in this order.
 */
import { taskArchOps } from '../kernel/arch/task-ops';
import type { Arch } from '../kernel/target';
import { registerHex } from './packet';

export interface RegisterDef {
  name: string;
  bits: number;
  /** gdb's register number (position in the description). */
  regnum: number;
  /** The tdesc type, for descriptions kdap writes itself. */
  type?: string;
  /** The tdesc feature it belongs to. */
  feature?: string;
}

export interface RegisterLayout {
  readonly registers: readonly RegisterDef[];
  byName(name: string): RegisterDef | undefined;
  byNumber(regnum: number): RegisterDef | undefined;
}

export function makeLayout(registers: readonly RegisterDef[]): RegisterLayout {
  const names = new Map(registers.map((r) => [r.name, r]));
  const numbers = new Map(registers.map((r) => [r.regnum, r]));
  return { registers, byName: (n) => names.get(n), byNumber: (n) => numbers.get(n) };
}

/** gdb's built-in register layout of `arch` (what it uses with a stub that sends no description). */
export function defaultLayout(arch: Arch): RegisterLayout {
  const defs: RegisterDef[] = [];
  for (const feature of taskArchOps(arch).gdbRegisters) {
    for (const [name, bits, type] of feature.registers) defs.push({ name, bits, type, regnum: defs.length, feature: feature.name });
  }
  return makeLayout(defs);
}

/** A target description (`target.xml`) for `arch` with exactly defaultLayout()'s registers. */
export function targetXml(arch: Arch): string {
  const ops = taskArchOps(arch);
  const lines = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">', '<target version="1.0">', `  <architecture>${ops.gdbArchitecture}</architecture>`, '  <osabi>GNU/Linux</osabi>'];
  let regnum = 0;
  for (const feature of ops.gdbRegisters) {
    lines.push(`  <feature name="${feature.name}">`);
    for (const [name, bits, type] of feature.registers) lines.push(`    <reg name="${name}" bitsize="${bits}" type="${type}" regnum="${regnum++}"/>`);
    lines.push('  </feature>');
  }
  lines.push('</target>', '');
  return lines.join('\n');
}

// ---- descriptions sent by a stub ----

const TAG = /<(reg|xi:include|feature)\b([^>]*?)\/?>/g;
const ATTR = /([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(ATTR)) out.set(m[1], m[2] ?? m[3]);
  return out;
}

/**
 * The registers of a stub's description. `documents` maps annex names (`target.xml`,
 * `i386-64bit.xml`, …) to their text; `<xi:include>` is followed in place. Registers are
 * numbered in document order, a `regnum` attribute setting the count.
 */
export function parseTargetDescription(documents: ReadonlyMap<string, string>, root = 'target.xml'): RegisterLayout {
  const defs: RegisterDef[] = [];
  let next = 0;
  const visit = (annex: string, depth: number): void => {
    const text = documents.get(annex);
    if (text === undefined) throw new Error(`the target description includes ${annex}, which the stub did not send`);
    if (depth > 8) throw new Error(`the target description nests includes too deep at ${annex}`);
    let feature: string | undefined;
    for (const m of text.replace(/<!--[\s\S]*?-->/g, '').matchAll(TAG)) {
      const attrs = attributes(m[2]);
      if (m[1] === 'xi:include') {
        const href = attrs.get('href');
        if (href) visit(href, depth + 1);
      } else if (m[1] === 'feature') {
        feature = attrs.get('name');
      } else {
        const name = attrs.get('name');
        const bits = Number(attrs.get('bitsize'));
        if (!name || !Number.isInteger(bits) || bits <= 0) continue;
        const regnum = attrs.has('regnum') ? Number(attrs.get('regnum')) : next;
        defs.push({ name, bits, regnum, type: attrs.get('type'), feature });
        next = regnum + 1;
      }
    }
  };
  visit(root, 0);
  defs.sort((a, b) => a.regnum - b.regnum);
  return makeLayout(defs);
}

// ---- `g` packets ----

/** Where each register sits in a `g` reply of `gBytes` bytes (registers past it are absent). */
export function gPacketOffsets(layout: RegisterLayout, gBytes: number): Map<string, { offset: number; bytes: number }> {
  const out = new Map<string, { offset: number; bytes: number }>();
  let offset = 0;
  for (const r of layout.registers) {
    const bytes = Math.ceil(r.bits / 8);
    if (offset + bytes > gBytes) break;
    out.set(r.name, { offset, bytes });
    offset += bytes;
  }
  return out;
}

/**
 * A `g` reply of exactly `gBytes` bytes: the registers in `values` where the layout puts them,
 * every other byte unavailable. gdb fixes its idea of the `g` size from the first reply, so a
 * synthesised one must be as long as the stub's own.
 */
export function encodeG(layout: RegisterLayout, gBytes: number, values: ReadonlyMap<string, bigint>): string {
  const hex = Array<string>(gBytes).fill('xx');
  for (const [name, { offset, bytes }] of gPacketOffsets(layout, gBytes)) {
    const v = values.get(name);
    if (v === undefined) continue;
    const h = registerHex(v, bytes);
    for (let i = 0; i < bytes; i++) hex[offset + i] = h.slice(i * 2, i * 2 + 2);
  }
  return hex.join('');
}

/** Registers of a `g` reply by name; unavailable ones are left out. */
export function decodeG(layout: RegisterLayout, reply: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const [name, { offset, bytes }] of gPacketOffsets(layout, reply.length / 2)) {
    const h = reply.slice(offset * 2, (offset + bytes) * 2);
    if (/x/i.test(h)) continue;
    let v = 0n;
    for (let i = bytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(parseInt(h.slice(i * 2, i * 2 + 2), 16));
    out.set(name, v);
  }
  return out;
}

/** The `g` size of a layout with every register in it. */
export function fullGBytes(layout: RegisterLayout): number {
  return layout.registers.reduce((n, r) => n + Math.ceil(r.bits / 8), 0);
}
