/**
 * binutils as an independent oracle: run readelf and parse its text, so the ELF reader is never
 * checked against itself.
 */
import { spawnSync } from 'node:child_process';

export function run(cmd: string, args: string[]) {
  return spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
}

const present = new Map<string, boolean>();
export function tool(cmd: string): boolean {
  if (!present.has(cmd)) present.set(cmd, run(cmd, ['--version']).status === 0);
  return present.get(cmd)!;
}

const MACHINES: Record<string, number> = {
  'Advanced Micro Devices X86-64': 62,
  'Intel 80386': 3,
  AArch64: 183,
  ARM: 40,
  'MIPS R3000': 8,
  'RISC-V': 243,
};

export function readelfHeader(file: string): { class: 32 | 64; littleEndian: boolean; machine: number } {
  const out = run('readelf', ['-h', file]).stdout;
  const field = (name: string) => new RegExp(`^\\s*${name}:\\s+(.*)$`, 'm').exec(out)?.[1].trim() ?? '';
  return {
    class: field('Class') === 'ELF64' ? 64 : 32,
    littleEndian: field('Data').includes('little endian'),
    machine: MACHINES[field('Machine')] ?? -1,
  };
}

export interface ReadelfSection {
  index: number;
  name: string;
  addr: bigint;
  offset: bigint;
  size: bigint;
}

export function readelfSections(file: string): ReadelfSection[] {
  const out: ReadelfSection[] = [];
  for (const line of run('readelf', ['-SW', file]).stdout.split('\n')) {
    // The type column can be several words (`SYMTAB SECTION INDICES`).
    const m = /^\s*\[\s*(\d+)\]\s+(\S+)\s+[A-Z_0-9+ ]+?\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s/.exec(line);
    if (!m || m[1] === '0') continue;
    out.push({ index: Number(m[1]), name: m[2], addr: BigInt('0x' + m[3]), offset: BigInt('0x' + m[4]), size: BigInt('0x' + m[5]) });
  }
  return out;
}

export interface ReadelfSymbol {
  index: number;
  value: bigint;
  size: bigint;
  type: number;
  bind: number;
  shndx: number;
  name: string;
}

const TYPES: Record<string, number> = { NOTYPE: 0, OBJECT: 1, FUNC: 2, SECTION: 3, FILE: 4, COMMON: 5, TLS: 6, GNU_IFUNC: 10 };
const BINDS: Record<string, number> = { LOCAL: 0, GLOBAL: 1, WEAK: 2, UNIQUE: 10 };
const NDX: Record<string, number> = { UND: 0, ABS: 0xfff1, COM: 0xfff2 };

/** Entries of `.symtab` (or `.dynsym` when there is no `.symtab`) as `readelf -Ws` prints them. */
export function readelfSymbols(file: string): ReadelfSymbol[] {
  const tables = new Map<string, ReadelfSymbol[]>();
  let current: ReadelfSymbol[] | undefined;
  for (const line of run('readelf', ['-Ws', file]).stdout.split('\n')) {
    const head = /^Symbol table '([^']+)'/.exec(line);
    if (head) {
      current = [];
      tables.set(head[1], current);
      continue;
    }
    const m = /^\s*(\d+):\s+([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+(\w+)\s+(\w+)\s+\w+(?:\s+\[[^\]]*\])?\s+(\w+)(?: (.*))?$/.exec(line);
    if (!m || !current) continue;
    current.push({
      index: Number(m[1]),
      value: BigInt('0x' + m[2]),
      size: BigInt(m[3]),
      type: TYPES[m[4]] ?? -1,
      bind: BINDS[m[5]] ?? -1,
      shndx: m[6] in NDX ? NDX[m[6]] : Number(m[6]),
      name: m[7] ?? '',
    });
  }
  return tables.get('.symtab') ?? tables.get('.dynsym') ?? [];
}

/**
 * kallsyms sizes computed straight from readelf's listing, written independently of
 * src/oops/symbols.ts: next symbol of the same section that is not a mapping symbol, at a
 * higher address and at least `st_size` away; else the end of the section.
 */
export function oracleKallsymsSizes(symbols: ReadelfSymbol[], sections: ReadelfSection[]): Map<number, bigint> {
  const mapping = (n: string) => /^(\$|\.L|L0)/.test(n);
  const out = new Map<number, bigint>();
  for (const s of symbols) {
    if (s.type > 2 || s.shndx === 0 || s.shndx >= 0xff00 || mapping(s.name) || s.name === '') continue;
    const sec = sections.find((x) => x.index === s.shndx);
    if (!sec) continue;
    let best: bigint | undefined;
    for (const o of symbols) {
      if (o.shndx !== s.shndx || mapping(o.name) || o.value <= s.value) continue;
      const d = o.value - s.value;
      if (d >= s.size && (best === undefined || d < best)) best = d;
    }
    out.set(s.index, best ?? sec.addr + sec.size - s.value);
  }
  return out;
}
