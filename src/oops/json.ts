/**
 * The `--json` shape of a parsed log. Addresses, offsets and sizes are `"0x…"` strings (a JSON
 * number cannot hold a kernel address); a value the log does not give is `null`.
 */
import type { CodeBytes, CodeLocation, Frame, Report, SourceLocation, SymbolRef } from './types';

export interface FrameJson {
  symbol: string | null;
  offset: string | null;
  size: string | null;
  module: string | null;
  buildId: string | null;
  reliable: boolean;
  section: string;
  line: number;
  address?: string;
  context?: string;
  source?: SourceLocation[];
  inlined?: true;
  callee?: string;
  truncated?: true;
}

export interface LocationJson {
  symbol: string | null;
  offset: string | null;
  size: string | null;
  module: string | null;
  address: string | null;
  line: number;
}

export interface ReportJson {
  file?: string;
  kind: string;
  title: string;
  arch: string;
  line: number;
  endLine: number;
  cpu: number | null;
  pid: number | null;
  comm: string | null;
  taint: string | null;
  release: string | null;
  modules: string[];
  pc: LocationJson | null;
  lr: LocationJson | null;
  code: { line: number; words: string[]; faultIndex: number; width: number } | null;
  registers: Record<string, string>;
  frames: FrameJson[];
}

export const hex = (v: bigint | undefined): string | null => (v === undefined ? null : '0x' + v.toString(16));

function frameJson(f: Frame): FrameJson {
  const out: FrameJson = {
    symbol: f.symbol ?? null,
    offset: hex(f.offset),
    size: hex(f.size),
    module: f.module ?? null,
    buildId: f.buildId ?? null,
    reliable: f.reliable,
    section: f.section,
    line: f.line,
  };
  if (f.address !== undefined) out.address = hex(f.address) as string;
  if (f.context !== undefined) out.context = f.context;
  if (f.source) out.source = f.source;
  if (f.inlined) out.inlined = true;
  if (f.callee !== undefined) out.callee = f.callee;
  if (f.truncated) out.truncated = true;
  return out;
}

function locationJson(l: CodeLocation | undefined): LocationJson | null {
  if (!l) return null;
  return {
    symbol: l.symbol ?? null,
    offset: hex(l.offset),
    size: hex(l.size),
    module: l.module ?? null,
    address: hex(l.address),
    line: l.line,
  };
}

function codeJson(c: CodeBytes | undefined): ReportJson['code'] {
  if (!c || c.words.length === 0) return null;
  return { line: c.line, words: c.words, faultIndex: c.faultIndex, width: c.width };
}

export function reportJson(r: Report, file?: string): ReportJson {
  const out: ReportJson = {
    kind: r.kind,
    title: r.title,
    arch: r.arch,
    line: r.line,
    endLine: r.endLine,
    cpu: r.cpu ?? null,
    pid: r.pid ?? null,
    comm: r.comm ?? null,
    taint: r.taint ?? null,
    release: r.release ?? null,
    modules: r.modules,
    pc: locationJson(r.pc),
    lr: locationJson(r.lr),
    code: codeJson(r.code),
    registers: r.registers,
    frames: r.frames.map(frameJson),
  };
  return file === undefined ? out : { file, ...out };
}

/** `func+0x10/0x20 [mod buildid]`, or the bare address, as a kernel developer would paste it. */
export function refText(r: SymbolRef): string {
  const parts: string[] = [];
  if (r.symbol !== undefined) {
    let s = r.symbol;
    if (r.offset !== undefined) s += '+' + hex(r.offset);
    if (r.size !== undefined) s += '/' + hex(r.size);
    parts.push(s);
  } else if (r.address !== undefined) {
    parts.push(hex(r.address) as string);
  }
  if (r.module) parts.push(r.buildId ? `[${r.module} ${r.buildId}]` : `[${r.module}]`);
  return parts.join(' ');
}

/** One frame as a line of a readable trace: `? func+0x10/0x20 [mod]`. */
export function frameText(f: Frame): string {
  const text = refText(f);
  return (f.reliable ? '' : '? ') + (text || '(cut)') + (f.inlined ? ' [inline]' : '') + (f.truncated ? ' …' : '');
}
