/**
 * Crash-log navigation from symbolized frames: document links on frames and on `file.c:123`
 * references, hovers with the resolved location, its inline chain and a source snippet, and a
 * CodeLens pair per report. Frame links and lenses are resolved lazily (`documentLink/resolve`,
 * `codeLens/resolve`): a 100k-line log gets its links at once and pays for symbolization only
 * where the user looks.
 *
 * The extension's own requests (`kdap/locate`, `kdap/decode`) live here too; they take either a
 * document the server holds or plain text, so "Go to Kernel Source" and terminal links work on
 * logs in any editor or terminal.
 */
import * as fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { MarkupKind, type CodeLens, type DocumentLink, type Hover, type Range } from 'vscode-languageserver/node';
import { parseLog } from '../oops/parse';
import type { Resolution } from '../oops/symbolizer';
import { decodedText, decodeLog } from '../oops/symbolize/decode';
import { fileRefs } from '../oops/symbolize/file-refs';
import { isReturnAddress, type FrameContext, type ResolvedPosition } from '../oops/symbolize/resolver';
import type { ParsedLog, Report } from '../oops/types';
import { hoverFor, TargetIndex, type Target } from './features';
import type { SymbolizerHost } from './settings';

export const LocateRequest = 'kdap/locate';
export const DecodeRequest = 'kdap/decode';

export interface LocateParams {
  /** A document the server has open, or… */
  uri?: string;
  /** …the text to look in (any editor, a terminal line). */
  text?: string;
  /** 0-based line and character, as LSP counts. */
  line: number;
  character?: number;
}

export interface LocatedPosition {
  function: string | null;
  file: string;
  line: number;
  column: number | null;
  inlined: boolean;
  /** `file://…` of the local file, when found. */
  uri: string | null;
}

export interface LocateResult {
  /** What was found under the cursor (`proc_reg_write+0x56/0xa0`, `fs/proc/inode.c:352`). */
  what: string | null;
  /** Innermost first; empty when nothing resolved (see `problem`). */
  positions: LocatedPosition[];
  problem: string | null;
}

export interface DecodeParams {
  uri?: string;
  text?: string;
  /** 1-based header line of one report: decode only that report. */
  reportLine?: number;
}

export interface DecodeResult {
  text: string;
  problems: string[];
}

interface FrameLinkData {
  kind: 'frame';
  uri: string;
  line: number;
  start: number;
}

interface LensData {
  uri: string;
  reportLine: number;
}

const SNIPPET_CONTEXT = 3;
const MAX_SNIPPET_FILE = 4 * 1024 * 1024;

function fileUri(p: string, line: number, column?: number): string {
  return `${pathToFileURL(p).href}#L${line}${column ? `,${column}` : ''}`;
}

function lspRange(line1: number, start: number, end: number): Range {
  return { start: { line: line1 - 1, character: start }, end: { line: line1 - 1, character: end } };
}

/** Links for a parsed document: frames (resolved later) and file references (resolved now). */
export function documentLinks(uri: string, lines: readonly string[], log: ParsedLog, host: SymbolizerHost): DocumentLink[] {
  const out: DocumentLink[] = [];
  if (host.symbolizer) {
    for (const r of log.reports) {
      // Registers without a symbol are user-space pcs (`RIP: 0033:0x47b7a0`): nothing to link.
      const refs = [...r.frames, ...r.registerBlocks.flatMap((b) => [b.pc, b.lr].filter((x) => x?.symbol !== undefined))];
      for (const ref of refs) {
        if (!ref || (ref.symbol === undefined && ref.address === undefined) || ('inlined' in ref && ref.inlined)) continue;
        const data: FrameLinkData = { kind: 'frame', uri, line: ref.line, start: ref.range.start };
        out.push({ range: lspRange(ref.line, ref.range.start, ref.range.end), data });
      }
    }
  }
  const paths = host.paths;
  if (paths.allowedRoots.length === 0) return out;
  lines.forEach((text, i) => {
    for (const ref of fileRefs(text)) {
      const local = paths.fromLog(ref.file);
      if (!local?.path) continue;
      out.push({ range: lspRange(i + 1, ref.start, ref.end), target: fileUri(local.path, ref.line, ref.column), tooltip: `${local.display}:${ref.line}` });
    }
  });
  return out;
}

/** The first position of a chain that exists on this machine (innermost first). */
function firstLocal(r: Resolution | undefined): ResolvedPosition | undefined {
  return (r?.positions as ResolvedPosition[] | undefined)?.find((p) => p.path !== undefined);
}

function contextOf(t: Target): FrameContext {
  return { arch: t.report.arch, release: t.report.release, returnAddress: isReturnAddress(t.report, t.ref) };
}

async function resolveTarget(t: Target, host: SymbolizerHost, timeoutMs?: number): Promise<Resolution[] | undefined> {
  const symbolizer = host.symbolizer;
  if (!symbolizer) return undefined;
  const answer = symbolizer.resolve(t.ref, contextOf(t)).catch(() => undefined);
  if (timeoutMs === undefined) return answer;
  const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), timeoutMs).unref());
  return Promise.race([answer, timeout]);
}

export async function resolveFrameLink(link: DocumentLink, targets: TargetIndex | undefined, host: SymbolizerHost): Promise<DocumentLink> {
  const data = link.data as FrameLinkData | undefined;
  const t = data && targets?.at(data.line - 1, data.start);
  if (!t) return link;
  const res = await resolveTarget(t, host);
  const p = firstLocal(res?.[0]);
  if (p?.path) return { ...link, target: fileUri(p.path, p.line, p.column), tooltip: `${p.file}:${p.line}${p.function ? ` (${p.function})` : ''}` };
  return { ...link, tooltip: res ? 'source file not found under kdap.sourceRoot' : (host.missing ?? 'frame not resolved') };
}

function fenceLanguage(file: string): string {
  if (/\.(?:S|s)$/.test(file)) return 'asm';
  if (file.endsWith('.rs')) return 'rust';
  return 'c';
}

const snippets = new Map<string, string[] | undefined>();

function fileLines(p: string): string[] | undefined {
  if (snippets.has(p)) return snippets.get(p);
  let lines: string[] | undefined;
  try {
    if (fs.statSync(p).size <= MAX_SNIPPET_FILE) lines = fs.readFileSync(p, 'utf8').split('\n');
  } catch {
    lines = undefined;
  }
  if (snippets.size > 64) snippets.delete(snippets.keys().next().value as string);
  snippets.set(p, lines);
  return lines;
}

/** A few lines around `line` of a local file, the line itself marked. */
export function sourceSnippet(p: string, line: number): string | undefined {
  const lines = fileLines(p);
  if (!lines || line < 1 || line > lines.length) return undefined;
  const from = Math.max(1, line - SNIPPET_CONTEXT);
  const to = Math.min(lines.length, line + SNIPPET_CONTEXT);
  const out: string[] = [];
  for (let n = from; n <= to; n++) out.push(`${n === line ? '>' : ' '}${String(n).padStart(5)}  ${lines[n - 1].replace(/\t/g, '    ')}`);
  return out.join('\n');
}

function positionMarkdown(p: ResolvedPosition): string {
  const where = `${p.file}:${p.line}${p.column ? `:${p.column}` : ''}`;
  const linked = p.path ? `[${where}](${fileUri(p.path, p.line, p.column)})` : `\`${where}\``;
  return `\`${p.function ?? '??'}\` at ${linked}${p.inlined ? ' (inlined)' : ''}`;
}

/** The parser's hover plus what the symbolizer found. */
export async function symbolizedHover(t: Target, host: SymbolizerHost, timeoutMs: number): Promise<Hover> {
  const base = hoverFor(t);
  if (!host.symbolizer) return base;
  const res = await resolveTarget(t, host, timeoutMs);
  const md = [(base.contents as { value: string }).value];
  if (!res) {
    md.push('', `*No source location${host.missing ? `: ${host.missing}` : ''}.*`);
    return { ...base, contents: { kind: MarkupKind.Markdown, value: md.join('\n') } };
  }
  const ctx = contextOf(t);
  res.forEach((r, i) => {
    md.push('', '---', '');
    if (res.length > 1) md.push(`**Candidate ${i + 1} of ${res.length}** in \`${r.object}\``, '');
    if (r.positions.length === 0) md.push(`No line information in \`${r.object}\`.`);
    for (const p of r.positions as ResolvedPosition[]) md.push(`- ${positionMarkdown(p)}`);
    const p = firstLocal(r);
    const snippet = p?.path ? sourceSnippet(p.path, p.line) : undefined;
    if (snippet) md.push('', '```' + fenceLanguage(p!.file), snippet, '```');
  });
  if (ctx.returnAddress) md.push('', '*Return address: the line of the call (address − 1) is shown.*');
  return { ...base, contents: { kind: MarkupKind.Markdown, value: md.join('\n') } };
}

export function codeLenses(uri: string, log: ParsedLog): CodeLens[] {
  const out: CodeLens[] = [];
  for (const r of log.reports) {
    const range = lspRange(r.line, r.titleRange.start, r.titleRange.end);
    out.push({ range, command: { title: 'Decode report', command: 'kdap.decodeOops', arguments: [{ uri, reportLine: r.line }] } });
    if (faultTarget(r)) out.push({ range, data: { uri, reportLine: r.line } satisfies LensData });
  }
  return out;
}

/** Where a report faulted: its pc register when it names a symbol (not user space), else the first reliable frame. */
function faultTarget(r: Report): Target | undefined {
  if (r.pc && r.pc.symbol !== undefined) return { report: r, ref: r.pc, register: 'pc' };
  const f = r.frames.find((x) => x.reliable && !x.inlined && x.symbol !== undefined);
  return f ? { report: r, ref: f, register: undefined } : undefined;
}

export async function resolveCodeLens(lens: CodeLens, log: ParsedLog | undefined, host: SymbolizerHost): Promise<CodeLens> {
  const data = lens.data as LensData | undefined;
  const report = data && log?.reports.find((r) => r.line === data.reportLine);
  const t = report && faultTarget(report);
  const res = t ? await resolveTarget(t, host) : undefined;
  const p = firstLocal(res?.[0]);
  if (!p?.path) {
    const why = !host.symbolizer || host.missing ? (host.missing ?? 'no symbolizer') : res ? 'source not found' : (symbolizerProblem(host) ?? 'not resolved');
    return { ...lens, command: { title: `Faulting line: ${why}`, command: '' } };
  }
  return {
    ...lens,
    command: {
      title: `Open faulting line (${p.file}:${p.line})`,
      command: 'kdap.goToKernelSource',
      arguments: [{ uri: pathToFileURL(p.path).href, line: p.line, column: p.column ?? null }],
    },
  };
}

function located(res: Resolution | undefined): LocatedPosition[] {
  return ((res?.positions ?? []) as ResolvedPosition[]).map((p) => ({
    function: p.function ?? null,
    file: p.file,
    line: p.line,
    column: p.column ?? null,
    inlined: p.inlined,
    uri: p.path ? pathToFileURL(p.path).href : null,
  }));
}

/**
 * What is at (line, character) of a log: a frame or code register (symbolized with the
 * return-address rule of its report) or a `file.c:123` reference inside the allowed roots.
 */
export async function locate(lines: readonly string[], log: ParsedLog | undefined, params: LocateParams, host: SymbolizerHost): Promise<LocateResult> {
  const text = lines[params.line] ?? '';
  const refs = fileRefs(text);
  const ch = params.character;
  const fileRef = refs.find((r) => ch !== undefined && r.start <= ch && ch <= r.end);
  const parsed = log ?? parseLog(lines.join('\n'));
  const targets = new TargetIndex(parsed);
  let t = ch !== undefined ? targets.at(params.line, ch) : undefined;
  if (!t && !fileRef) {
    // Not on the symbol itself: anything on the line will do.
    for (let c = 0; c <= text.length && !t; c++) t = targets.at(params.line, c);
  }
  const asFile = fileRef ?? (t ? undefined : refs[0]);
  if (asFile) {
    const local = host.paths.fromLog(asFile.file);
    const what = `${asFile.file}:${asFile.line}`;
    if (!local?.path) return { what, positions: [], problem: `${asFile.file} is not inside kdap.sourceRoot or the workspace` };
    return { what, positions: [{ function: null, file: local.display, line: asFile.line, column: asFile.column ?? null, inlined: false, uri: pathToFileURL(local.path).href }], problem: null };
  }
  if (!t) return { what: null, positions: [], problem: 'no frame or source reference on this line' };
  const what = text.slice(t.ref.range.start, t.ref.range.end);
  if (!host.symbolizer) return { what, positions: [], problem: host.missing ?? 'no symbolizer' };
  const res = await resolveTarget(t, host);
  const positions = located(res?.[0]);
  const problem = res ? (positions.length ? null : 'no line information') : (symbolizerProblem(host) ?? `${what} not resolved`);
  return { what, positions, problem };
}

function symbolizerProblem(host: SymbolizerHost): string | undefined {
  const s = host.symbolizer as { problems?: () => string[] } | undefined;
  const list = s?.problems?.() ?? [];
  return list.length ? list[list.length - 1] : host.missing;
}

/** A decoded copy of a whole log or of one report in it. */
export async function decode(text: string, params: DecodeParams, host: SymbolizerHost): Promise<DecodeResult> {
  let body = text;
  if (params.reportLine !== undefined) {
    const all = text.split(/\r\n|\r|\n/);
    const r = parseLog(text).reports.find((x) => x.line === params.reportLine);
    if (r) body = all.slice(r.startLine - 1, r.endLine).join('\n') + '\n';
  }
  const symbolizer = host.symbolizer;
  if (!symbolizer) return { text: body, problems: [host.missing ?? 'no symbolizer configured'] };
  const decoded = await decodeLog(parseLog(body), symbolizer, host.tools);
  const problems = [...((symbolizer as { problems?: () => string[] }).problems?.() ?? []), ...decoded.errors];
  return { text: decodedText(body, decoded), problems };
}
