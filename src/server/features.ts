/**
 * What the language server says about a parsed log, as plain LSP values: diagnostics, the
 * outline, folding ranges and hovers. No connection here, so every answer is testable directly.
 * LSP lines are 0-based; the parser's are 1-based.
 */
import {
  DiagnosticSeverity,
  FoldingRangeKind,
  MarkupKind,
  SymbolKind,
  type Diagnostic,
  type DocumentSymbol,
  type FoldingRange,
  type Hover,
  type Range,
} from 'vscode-languageserver/node';
import { hex, refText } from '../oops/json';
import type { Resolution } from '../oops/symbolizer';
import type { CodeLocation, Frame, ParsedLog, Report, ReportKind, TextRange } from '../oops/types';

const SEVERITY: Record<ReportKind, DiagnosticSeverity> = {
  oops: DiagnosticSeverity.Error,
  'null-deref': DiagnosticSeverity.Error,
  bug: DiagnosticSeverity.Error,
  panic: DiagnosticSeverity.Error,
  kasan: DiagnosticSeverity.Error,
  kfence: DiagnosticSeverity.Error,
  kcsan: DiagnosticSeverity.Error,
  kmsan: DiagnosticSeverity.Error,
  'soft-lockup': DiagnosticSeverity.Error,
  'hard-lockup': DiagnosticSeverity.Error,
  'hung-task': DiagnosticSeverity.Error,
  'rcu-stall': DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  lockdep: DiagnosticSeverity.Warning,
  ubsan: DiagnosticSeverity.Warning,
  oom: DiagnosticSeverity.Warning,
  'alloc-failure': DiagnosticSeverity.Warning,
  backtrace: DiagnosticSeverity.Information,
  'stack-dump': DiagnosticSeverity.Information,
};

export function severityOf(kind: ReportKind): DiagnosticSeverity {
  return SEVERITY[kind];
}

function range(line: number, r: TextRange): Range {
  return { start: { line: line - 1, character: r.start }, end: { line: line - 1, character: r.end } };
}

function lines(from: number, to: number): Range {
  return { start: { line: from - 1, character: 0 }, end: { line: to - 1, character: 0 } };
}

export function diagnostics(log: ParsedLog): Diagnostic[] {
  return log.reports.map((r) => ({
    range: range(r.line, r.titleRange),
    severity: SEVERITY[r.kind],
    source: 'kdap',
    code: r.kind,
    message: r.title,
  }));
}

function who(r: Report): string {
  const parts: string[] = [r.kind];
  if (r.arch !== 'unknown') parts.push(r.arch);
  if (r.cpu !== undefined) parts.push(`CPU ${r.cpu}`);
  if (r.comm !== undefined) parts.push(`${r.comm}${r.pid !== undefined ? `[${r.pid}]` : ''}`);
  return parts.join(' · ');
}

/**
 * "To the end of the line". LSP positions are uintegers (at most 2^31 - 1): a larger value makes
 * the client treat our DocumentSymbols as something else and fail.
 */
const lineEnd = 2_147_483_647;

export function documentSymbols(log: ParsedLog): DocumentSymbol[] {
  return log.reports.map((r) => {
    const selection = range(r.line, r.titleRange);
    // The selection range must lie inside the full range; a report's end is at least its header.
    const full: Range = { start: { line: r.startLine - 1, character: 0 }, end: { line: r.endLine - 1, character: lineEnd } };
    const children: DocumentSymbol[] = r.sections.map((s) => ({
      name: s.name,
      detail: s.frames.length ? `${s.frames.length} frame${s.frames.length === 1 ? '' : 's'}` : undefined,
      kind: SymbolKind.Namespace,
      range: { start: { line: s.line - 1, character: 0 }, end: { line: s.endLine - 1, character: lineEnd } },
      selectionRange: lines(s.line, s.line),
    }));
    return { name: r.title, detail: who(r), kind: SymbolKind.Event, range: full, selectionRange: selection, children };
  });
}

export function foldingRanges(log: ParsedLog): FoldingRange[] {
  const out: FoldingRange[] = [];
  for (const r of log.reports) {
    if (r.endLine > r.startLine) out.push({ startLine: r.startLine - 1, endLine: r.endLine - 1, kind: FoldingRangeKind.Region });
    for (const s of r.sections) if (s.endLine > s.line) out.push({ startLine: s.line - 1, endLine: s.endLine - 1, kind: FoldingRangeKind.Region });
  }
  return out;
}

/** What sits under the cursor: a frame or a register location, with its report. */
export interface Target {
  report: Report;
  ref: Frame | CodeLocation;
  register: string | undefined;
}

/** Index from line to hover targets, built once per parsed version. */
export class TargetIndex {
  private readonly byLine = new Map<number, Target[]>();

  constructor(log: ParsedLog) {
    for (const report of log.reports) {
      for (const f of report.frames) this.add(f.line, { report, ref: f, register: undefined });
      for (const b of report.registerBlocks) {
        if (b.pc) this.add(b.pc.line, { report, ref: b.pc, register: 'pc' });
        if (b.lr) this.add(b.lr.line, { report, ref: b.lr, register: 'lr' });
      }
    }
  }

  private add(line: number, t: Target): void {
    const list = this.byLine.get(line);
    if (list) list.push(t);
    else this.byLine.set(line, [t]);
  }

  /** `line` 0-based as LSP sends it. */
  at(line: number, character: number): Target | undefined {
    return this.byLine.get(line + 1)?.find((t) => t.ref.range.start <= character && character <= t.ref.range.end);
  }
}

function frameFacts(t: Target): string[] {
  const ref = t.ref;
  const facts: string[] = [];
  if (ref.offset !== undefined) facts.push(`offset ${hex(ref.offset)}${ref.size !== undefined ? ` of ${hex(ref.size)} bytes` : ''}`);
  facts.push(ref.module ? `module \`${ref.module}\`${ref.buildId ? ` (build id \`${ref.buildId}\`)` : ''}` : 'built into vmlinux');
  if (ref.address !== undefined) facts.push(`address \`${hex(ref.address)}\``);
  if ('reliable' in ref) {
    facts.push(ref.reliable ? 'reliable' : 'unreliable (`?`): found by scanning the stack, may be a stale return address');
    facts.push(`section *${ref.section}*${ref.context ? `, context \`${ref.context}\`` : ''}`);
    if (ref.callee) facts.push(`called \`${ref.callee}\``);
    if (ref.inlined) facts.push('inlined into the next frame');
    if (ref.truncated) facts.push('the line was cut short (a pager or `journalctl --no-full`): what the cut reached is not known');
    for (const s of ref.source ?? []) facts.push(`\`${s.file}:${s.line}\`${s.discriminator !== undefined ? ` (discriminator ${s.discriminator})` : ''}`);
  } else {
    facts.push(`register \`${t.register}\`${ref.segment ? `, segment \`${ref.segment}\`` : ''}`);
  }
  return facts;
}

export function hoverFor(t: Target, resolutions?: Resolution[]): Hover {
  const text = refText(t.ref) || '(no symbol)';
  const md = [`\`${text}\``, '', ...frameFacts(t).map((f) => `- ${f}`)];
  for (const res of resolutions ?? []) {
    md.push('', `**${res.object}**`);
    for (const p of res.positions) md.push(`- ${p.inlined ? 'inlined in ' : ''}\`${p.function ?? '??'}\` at \`${p.file}:${p.line}\``);
  }
  md.push('', `*${t.report.kind}* — ${t.report.title} (line ${t.report.line})`);
  return { contents: { kind: MarkupKind.Markdown, value: md.join('\n') }, range: range(t.ref.line, t.ref.range) };
}
