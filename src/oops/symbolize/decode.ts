/**
 * A whole log decoded: every frame and code register resolved, every `Code:` line disassembled,
 * then rendered as text in the style of scripts/decode_stacktrace.sh or as JSON.
 *
 * Text: each line is kept as it was, with the source location inserted after the frame
 * (`proc_reg_write+0x56/0xa0 (fs/proc/inode.c:352)`). Functions inlined at that point come
 * first, one line each, innermost first, the way syzbot prints them
 * (`pde_write (fs/proc/inode.c:340) [inline]`), so the decoded copy parses again as a log.
 * Register lines get decode_stacktrace.sh's form, the whole chain in one parenthesis
 * (`RIP: 0010:kdap_test_oops+0x18/0x2b [kdap_test] (kdap_test.c:82)`), and every `Code:` line is
 * followed by its disassembly as scripts/decodecode prints it.
 */
import { reportJson, type ReportJson, type FrameJson, type LocationJson } from '../json';
import { splitLines } from '../lines';
import type { Resolution, Symbolizer } from '../symbolizer';
import type { CodeBytes, CodeLocation, Frame, ParsedLog, Report } from '../types';
import { decodeCode, formatDecodedCode, type DecodedCode } from './decodecode';
import { isReturnAddress, type FrameContext, type FrameResolution, type ResolvedPosition } from './resolver';
import type { ToolOptions } from './tools';

export interface ResolvedRef {
  report: Report;
  ref: Frame | CodeLocation;
  returnAddress: boolean;
  /** Undefined when unresolved (no object, unknown symbol, tool failure). */
  resolutions: Resolution[] | undefined;
}

export interface DecodedLog {
  log: ParsedLog;
  refs: Map<Frame | CodeLocation, ResolvedRef>;
  code: Map<CodeBytes, DecodedCode | undefined>;
  /** Tool failures met while decoding (frames then stay unresolved). */
  errors: string[];
}

/** Every frame and code register of every report, with the return-address rule applied. */
export function refsOf(log: ParsedLog): Array<{ report: Report; ref: Frame | CodeLocation }> {
  const out: Array<{ report: Report; ref: Frame | CodeLocation }> = [];
  for (const report of log.reports) {
    for (const b of report.registerBlocks) {
      if (b.pc) out.push({ report, ref: b.pc });
      if (b.lr) out.push({ report, ref: b.lr });
    }
    for (const f of report.frames) out.push({ report, ref: f });
  }
  return out;
}

export async function decodeLog(log: ParsedLog, symbolizer: Symbolizer, tools: ToolOptions = {}): Promise<DecodedLog> {
  const errors = new Set<string>();
  const refs = new Map<Frame | CodeLocation, ResolvedRef>();
  const jobs = refsOf(log).map(async ({ report, ref }) => {
    const returnAddress = isReturnAddress(report, ref);
    const context: FrameContext = { arch: report.arch, release: report.release, returnAddress };
    let resolutions: Resolution[] | undefined;
    try {
      resolutions = await symbolizer.resolve(ref, context);
    } catch (err) {
      errors.add(err instanceof Error ? err.message : String(err));
    }
    refs.set(ref, { report, ref, returnAddress, resolutions });
  });
  const code = new Map<CodeBytes, DecodedCode | undefined>();
  const codeJobs: Promise<void>[] = [];
  for (const report of log.reports) {
    for (const b of report.registerBlocks) {
      const c = b.code;
      if (!c || code.has(c) || c.words.length === 0) continue;
      code.set(c, undefined);
      codeJobs.push(
        decodeCode(c, report.arch, tools).then(
          (d) => void code.set(c, d),
          (err: unknown) => void errors.add(err instanceof Error ? err.message : String(err)),
        ),
      );
    }
  }
  await Promise.all([...jobs, ...codeJobs]);
  return { log, refs, code, errors: [...errors] };
}

function where(p: { file: string; line: number; discriminator?: number }): string {
  return `${p.file}:${p.line}${p.discriminator ? ` (discriminator ${p.discriminator})` : ''}`;
}

function outermost(r: Resolution): ResolvedPosition | undefined {
  return r.positions[r.positions.length - 1] as ResolvedPosition | undefined;
}

function insertAt(raw: string, at: number, text: string): string {
  return raw.slice(0, at) + text + raw.slice(at);
}

/** The decoded log as text (see the file comment for the layout). */
export function decodedText(text: string, decoded: DecodedLog): string {
  const lines = splitLines(text);
  const byLine = new Map<number, ResolvedRef[]>();
  for (const r of decoded.refs.values()) {
    const list = byLine.get(r.ref.line);
    if (list) list.push(r);
    else byLine.set(r.ref.line, [r]);
  }
  const codeAfter = new Map<number, { code: CodeBytes; decoded: DecodedCode }>();
  for (const [c, d] of decoded.code) if (d) codeAfter.set(c.endLine, { code: c, decoded: d });

  const out: string[] = [];
  lines.forEach((raw, i) => {
    const no = i + 1;
    const here = (byLine.get(no) ?? []).filter((r) => r.resolutions && r.resolutions.length > 0);
    // Right to left, so earlier columns stay valid.
    here.sort((a, b) => b.ref.range.end - a.ref.range.end);
    let line = raw;
    const before: string[] = [];
    const after: string[] = [];
    for (const r of here) {
      const res = r.resolutions!;
      const first = res[0];
      const isFrame = 'reliable' in r.ref;
      if (isFrame) {
        const prefix = raw.slice(0, r.ref.range.start);
        for (const p of first.positions.slice(0, -1)) before.push(`${prefix}${p.function ?? '??'} (${where(p as ResolvedPosition)}) [inline]`);
        const outer = outermost(first);
        if (outer) line = insertAt(line, r.ref.range.end, ` (${where(outer)})`);
      } else if (first.positions.length > 0) {
        line = insertAt(line, r.ref.range.end, ` (${first.positions.map((p) => where(p as ResolvedPosition)).join(' ')})`);
      }
      res.slice(1).forEach((other, k) => {
        const o = other as FrameResolution;
        const loc = outermost(other);
        const name = o.symbol !== undefined ? `${o.symbol}+0x${(o.offset ?? 0n).toString(16)}${o.size !== undefined ? `/0x${o.size.toString(16)}` : ''}` : '';
        after.push(`${raw.slice(0, r.ref.range.start)}  candidate ${k + 2} of ${res.length}: ${name}${loc ? ` (${where(loc)})` : ''}`);
      });
    }
    out.push(...before, line, ...after);
    const code = codeAfter.get(no);
    if (code) out.push(formatDecodedCode(code.decoded, code.code.width));
  });
  return out.join('\n') + '\n';
}

export interface LocationOut {
  function: string | null;
  file: string;
  line: number;
  column?: number;
  inlined: boolean;
  /** The file on this machine, when found. */
  path?: string;
}

export interface CandidateOut {
  symbol: string | null;
  size: string | null;
  section?: string;
  locations: LocationOut[];
}

export type DecodedFrameJson = FrameJson & {
  returnAddress: boolean;
  locations: LocationOut[];
  candidates?: CandidateOut[];
};

export type DecodedLocationJson = LocationJson & { returnAddress: boolean; locations: LocationOut[] };

export type DecodedReportJson = Omit<ReportJson, 'frames' | 'pc' | 'lr' | 'code'> & {
  pc: DecodedLocationJson | null;
  lr: DecodedLocationJson | null;
  code: (NonNullable<ReportJson['code']> & { disassembly: { faultOffset: number | null; trapping: string | null; all: string[]; fromFault: string[] } | null }) | null;
  frames: DecodedFrameJson[];
};

function locations(r: Resolution | undefined): LocationOut[] {
  if (!r) return [];
  return r.positions.map((p) => {
    const q = p as ResolvedPosition;
    const out: LocationOut = { function: p.function ?? null, file: p.file, line: p.line, inlined: p.inlined };
    if (p.column !== undefined) out.column = p.column;
    if (q.path) out.path = q.path;
    return out;
  });
}

function hex(v: bigint | undefined): string | null {
  return v === undefined ? null : '0x' + v.toString(16);
}

function withLocations<T extends object>(base: T, r: ResolvedRef | undefined): T & { returnAddress: boolean; locations: LocationOut[]; candidates?: CandidateOut[] } {
  const out = { ...base, returnAddress: r?.returnAddress ?? false, locations: locations(r?.resolutions?.[0]) } as T & {
    returnAddress: boolean;
    locations: LocationOut[];
    candidates?: CandidateOut[];
  };
  const res = r?.resolutions;
  if (res && res.length > 1) {
    out.candidates = res.map((x) => {
      const f = x as FrameResolution;
      const c: CandidateOut = { symbol: f.symbol ?? null, size: hex(f.size), locations: locations(x) };
      if (f.section) c.section = f.section;
      return c;
    });
  }
  return out;
}

/** The `--json` shape: `kdap oops parse --json` plus `locations` on frames and registers. */
export function decodedJson(decoded: DecodedLog, file?: string): { reports: DecodedReportJson[] } {
  return {
    reports: decoded.log.reports.map((r) => {
      const base = reportJson(r, file);
      const code = r.code ? decoded.code.get(r.code) : undefined;
      const disassembly = code
        ? {
            faultOffset: code.faultOffset ?? null,
            trapping: code.trapping?.text ?? null,
            all: code.all.map((i) => `${i.offset.toString(16)}:${i.trapping ? '*' : ''} ${i.bytes}  ${i.text}`),
            fromFault: code.fromFault.map((i) => `${i.offset.toString(16)}: ${i.bytes}  ${i.text}`),
          }
        : null;
      return {
        ...base,
        pc: base.pc && r.pc ? withLocations(base.pc, decoded.refs.get(r.pc)) : null,
        lr: base.lr && r.lr ? withLocations(base.lr, decoded.refs.get(r.lr)) : null,
        code: base.code ? { ...base.code, disassembly } : null,
        frames: base.frames.map((f, i) => withLocations(f, decoded.refs.get(r.frames[i]))),
      };
    }),
  };
}
