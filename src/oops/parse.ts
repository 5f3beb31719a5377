/**
 * Crash-log parser: any text in, reports out. Feed lines one at a time (`LogParser.push`, so a
 * caller can yield between chunks) or a whole text (`parseLog`). It never throws on input and
 * does a bounded amount of work per character.
 *
 * Reports are tracked per printk caller id (`[  T94]`, `[  C1]`): when the log carries them,
 * two CPUs oopsing at once interleave their lines and each report still gets only its own.
 */
import { detectHeader, isCutHere, isEndMarker, isSeparator, MULTI_CPU_KINDS, OOPS_CONTINUES, oopsLineKind, SEPARATED_KINDS } from './headers';
import type { Header } from './headers';
import { parseAccessTask, parseHardware, parseModules, parseTaskLine, sectionTitle } from './info';
import { splitLines, splitPrefix } from './lines';
import { parseCutStackLine, parseStackLine } from './frame';
import { parseCodeContinuation, parseCodeLine, parseRegisterLine } from './registers';
import { newReport, ReportState } from './report';
import type { Arch, Frame, ParsedLog, Report, ReportKind } from './types';
import { physical, Unwrapper, type LogicalLine } from './wrap';

/** A `cut here` / `=====` line belongs to the header that follows within this many lines. */
const PENDING_WINDOW = 15;
/** An `Oops … [#N]` line continues a header at most this many lines above it. */
const OOPS_WINDOW = 60;
/** A report without an end marker ends after this many unrecognised lines. */
const QUIET_LIMIT = 40;
/** …and a report without a header (plain `dump_stack()`) has no free text to wait for. */
const QUIET_LIMIT_IMPLICIT = 8;
/** An implicit report takes its title from a plain line at most this many lines above. */
const TITLE_WINDOW = 3;
const MAX_ANALYSED = 8192;

interface Stream {
  state: ReportState | undefined;
  pending: number | undefined;
  lastText: { line: number; text: string; column: number } | undefined;
}

interface Line {
  no: number;
  /** Trimmed message text (bounded to MAX_ANALYSED characters). */
  t: string;
  /** Message text with its indentation (for frames). */
  body: string;
  /** Column of `t` in the raw line. */
  column: number;
  /** Column of `body` in the raw line. */
  bodyColumn: number;
  caller: string | undefined;
  /** A pager cut the line short (its mark is not in `t` or `body`). */
  cut: boolean;
  /** The physical lines a joined line came from. */
  logical: LogicalLine;
}

export class LogParser {
  private lineNo = 0;
  private readonly reports: Report[] = [];
  private readonly streams = new Map<string, Stream>();
  private readonly unwrapper = new Unwrapper();
  /** The last line, held until the next one shows whether it continues it. */
  private held: LogicalLine | undefined;

  push(line: string): void {
    const no = ++this.lineNo;
    try {
      const raw = line.length > MAX_ANALYSED * 4 ? line.slice(0, MAX_ANALYSED * 4) : line;
      const p = splitPrefix(raw);
      const held = this.held;
      this.unwrapper.seen(raw.length, p);
      if (held) {
        const joined = this.unwrapper.join(held, raw, p, no);
        if (joined) {
          this.held = joined;
          return;
        }
        this.held = undefined;
        this.take(held);
      }
      this.held = { no, raw, prefix: p, pieces: undefined, lastLength: raw.length };
    } catch {
      // A parser bug must cost one line, never the whole log.
      this.held = undefined;
    }
  }

  finish(): ParsedLog {
    const held = this.held;
    this.held = undefined;
    if (held) this.take(held);
    for (const s of this.streams.values()) this.close(s);
    inheritArch(this.reports);
    return { reports: this.reports, lineCount: this.lineNo };
  }

  private take(l: LogicalLine): void {
    try {
      this.classify(this.prepare(l));
      if (l.pieces) this.stretch(l);
    } catch {
      // As in push: one line lost at most.
    }
  }

  /** A report or section that ended on a joined line ends on its last physical line. */
  private stretch(l: LogicalLine): void {
    const st = this.streams.get(l.prefix.caller ?? '')?.state;
    const last = l.pieces![l.pieces!.length - 1].no;
    if (!st || st.report.endLine !== l.no) return;
    st.report.endLine = last;
    if (st.section && st.section.endLine === l.no) st.section.endLine = last;
  }

  private prepare(l: LogicalLine): Line {
    const p = l.prefix;
    let body = p.body;
    const cutAt = this.unwrapper.cutAt(l, body);
    if (cutAt >= 0) body = body.slice(0, cutAt);
    let indent = 0;
    while (indent < body.length && indent < 256 && (body[indent] === ' ' || body[indent] === '\t')) indent++;
    const t = body.slice(indent, indent + MAX_ANALYSED).trimEnd();
    return { no: l.no, t, body, column: p.bodyStart + indent, bodyColumn: p.bodyStart, caller: p.caller, cut: cutAt >= 0, logical: l };
  }

  private stream(caller: string | undefined): Stream {
    const key = caller ?? '';
    let s = this.streams.get(key);
    if (!s) {
      s = { state: undefined, pending: undefined, lastText: undefined };
      this.streams.set(key, s);
    }
    return s;
  }

  private close(s: Stream): void {
    s.state?.finish();
    s.state = undefined;
  }

  private open(s: Stream, l: Line, kind: ReportKind, header: { line: number; text: string; column: number }): ReportState {
    const pending = s.pending !== undefined && header.line - s.pending <= PENDING_WINDOW ? s.pending : undefined;
    s.pending = undefined;
    const report = newReport({
      kind,
      title: header.text.slice(0, 300),
      line: header.line,
      titleRange: { start: header.column, end: header.column + Math.min(header.text.length, 300) },
      startLine: pending ?? header.line,
      caller: l.caller,
    });
    this.reports.push(report);
    this.close(s);
    s.state = new ReportState(report);
    s.state.touch(l.no);
    return s.state;
  }

  /** A report for stack output that came without a header (plain `dump_stack()`). */
  private implicit(s: Stream, l: Line): ReportState {
    const prev = s.lastText;
    const header = prev && l.no - prev.line <= TITLE_WINDOW ? prev : { line: l.no, text: l.t, column: l.column };
    return this.open(s, l, 'stack-dump', header);
  }

  private classify(l: Line): void {
    const s = this.stream(l.caller);
    const t = l.t;
    if (t === '') return;
    let st = s.state;
    if (st && st.report.ended && !this.trailingRegisters(st, l)) {
      this.close(s);
      st = undefined;
    } else if (st && st.report.ended) {
      return;
    }

    if (isEndMarker(t)) {
      if (st) st.end(l.no);
      return;
    }
    if (isCutHere(t)) {
      s.pending = l.no;
      return;
    }
    if (isSeparator(t)) {
      if (st && SEPARATED_KINDS.has(st.report.kind) && l.no > st.report.line) st.end(l.no);
      else s.pending = l.no;
      return;
    }
    const header = detectHeader(t);
    if (header) return this.header(s, l, header);
    if (st && this.registersOrCode(st, l)) return;
    if (this.stackLine(s, l)) return;
    if (this.info(s, l)) return;

    const title = sectionTitle(t);
    if (title !== undefined && (st || /^Call [Tt]race/.test(t))) {
      (st ?? this.implicit(s, l)).openSection(title, l.no);
      return;
    }
    if (!st) {
      const r = parseRegisterLine(t, l.column);
      if (r?.pc) this.implicit(s, l).registers(r, l.no);
      else s.lastText = { line: l.no, text: t, column: l.column };
      return;
    }
    s.lastText = { line: l.no, text: t, column: l.column };
    st.extendSection(l.no);
    const limit = st.report.kind === 'stack-dump' ? QUIET_LIMIT_IMPLICIT : QUIET_LIMIT;
    if (++st.quiet >= limit) this.close(s);
  }

  /** After an end marker x86 prints the registers once more; they still belong to the report. */
  private trailingRegisters(st: ReportState, l: Line): boolean {
    if (parseCodeLine(l.t) || parseRegisterLine(l.t, l.column)) {
      st.touch(l.no);
      return true;
    }
    return false;
  }

  private header(s: Stream, l: Line, h: Header): void {
    const st = s.state;
    const here = { line: l.no, text: l.t, column: l.column };
    if (h.role === 'oops' && st && OOPS_CONTINUES.has(st.report.kind) && st.report.frames.length === 0 && l.no - st.report.line <= OOPS_WINDOW) {
      st.hintArch(oopsArch(l.t), 2);
      st.other(l.no);
      return;
    }
    if (h.role === 'nmi' && st && MULTI_CPU_KINDS.has(st.report.kind)) {
      st.openSection(l.t, l.no);
      return;
    }
    const kind = h.role === 'oops' ? oopsLineKind(l.t) : h.kind;
    const next = this.open(s, l, kind, here);
    const r = next.report;
    r.cpu = h.cpu;
    r.pid = h.pid;
    r.comm = h.comm;
    if (h.role === 'oops') next.hintArch(oopsArch(l.t), 2);
    if (h.role === 'nmi') next.openSection(l.t, l.no);
  }

  private registersOrCode(st: ReportState, l: Line): boolean {
    const code = parseCodeLine(l.t);
    if (code) {
      st.code(code, l.no, false);
      return true;
    }
    if (st.lastWasCode) {
      const more = parseCodeContinuation(l.t);
      if (more) {
        st.code(more, l.no, true);
        return true;
      }
    }
    const r = parseRegisterLine(l.t, l.column);
    if (!r) return false;
    st.registers(r, l.no);
    return true;
  }

  private stackLine(s: Stream, l: Line): boolean {
    // Weak forms (a bare `0x…`, `func+0x10` without size) only continue a trace already under way.
    const section = s.state?.section;
    const inTrace = section !== undefined && (section.frames.length > 0 || /^(?:Call [Tt]race|Backtrace|Stack trace)/.test(section.name));
    const text = l.body.length > MAX_ANALYSED ? l.t : l.body;
    const parsed = l.cut ? parseCutStackLine(text, inTrace) : parseStackLine(text, inTrace);
    if (!parsed) return false;
    const column = l.body.length > MAX_ANALYSED ? l.column : l.bodyColumn;
    if (!parsed.frame) {
      if (s.state) s.state.markers(parsed.markers, l.no);
      return true;
    }
    const st = s.state ?? this.implicit(s, l);
    st.markers(parsed.markers, l.no);
    const f = st.frame(parsed.frame, l.no, column);
    if (l.logical.pieces) place(f, l.logical);
    return true;
  }

  private info(s: Stream, l: Line): boolean {
    const t = l.t;
    const task = t.startsWith('CPU: ') || t.startsWith('Pid: ') ? parseTaskLine(t) : undefined;
    let st = s.state;
    if (task) {
      // A second task line after frames is a new dump (a WARN followed by dump_stack()).
      // (KFENCE prints its only task line after the frames, so the first one never splits.)
      // (arm's `Exception stack(…)` words after the last frame belong to the trace before them.)
      const traced = (st?.section?.frames.length ?? 0) > 0 || st?.section?.name.startsWith('Exception stack(') === true;
      if (!st || (st.taskLine && st.report.frames.length > 0 && traced)) st = this.implicit(s, l);
      const r = st.report;
      // In stall reports the task lines under a section title are other CPUs' backtraces.
      const foreign = r.kind !== 'backtrace' && MULTI_CPU_KINDS.has(r.kind) && st.section !== undefined;
      if (!st.taskLine && !foreign) {
        r.cpu ??= task.cpu;
        r.pid ??= task.pid;
        r.comm ??= task.comm;
        r.taint = task.taint;
        r.release = task.release;
      }
      st.taskLine = true;
      st.other(l.no);
      return true;
    }
    if (!st) return false;
    const r = st.report;
    const modules = parseModules(t);
    if (modules) {
      if (r.modules.length === 0) r.modules = modules;
      st.other(l.no);
      return true;
    }
    const hw = parseHardware(t);
    if (hw !== undefined) {
      r.hardware = hw;
      st.other(l.no);
      return true;
    }
    const who = parseAccessTask(t);
    if (who) {
      r.comm ??= who.comm;
      r.pid ??= who.pid;
      st.other(l.no);
      return true;
    }
    return false;
  }
}

/** A frame of a joined line goes where its text is: the physical line holding the start of its symbol. */
function place(f: Frame, l: LogicalLine): void {
  const at = physical(l, f.range.start);
  const end = Math.min(f.range.end - f.range.start + at.col, at.end);
  f.line = at.no;
  f.range = { start: at.col, end };
}

/** arm appends ` ARM`/` THUMB2` to the oops line; arm64 6.x prints a 16-digit ESR. */
function oopsArch(t: string): Arch | undefined {
  if (/\[#\d{1,6}\].{0,80}\b(?:ARM|THUMB2)\b/.test(t)) return 'arm';
  // Older arm64 kernels printed the ESR with 8 digits too, so only the 16-digit form is proof.
  if (/^Internal error: [^:]{0,60}: [0-9a-f]{16} \[#/.test(t)) return 'arm64';
  return undefined;
}

/** Reports that gave no hint (a bare panic) take the architecture the rest of the log shows. */
function inheritArch(reports: Report[]): void {
  const counts = new Map<Arch, number>();
  for (const r of reports) if (r.arch !== 'unknown') counts.set(r.arch, (counts.get(r.arch) ?? 0) + 1);
  let best: Arch | undefined;
  for (const [arch, n] of counts) if (!best || n > (counts.get(best) ?? 0)) best = arch;
  if (best) for (const r of reports) if (r.arch === 'unknown') r.arch = best;
}

export function parseLog(text: string): ParsedLog {
  const parser = new LogParser();
  for (const line of splitLines(text)) parser.push(line);
  return parser.finish();
}
