/**
 * One report under construction: the parser decides what a line is, this file records it.
 */
import { archFromSymbol, archFromCodeLocation } from './arch';
import type { FrameText } from './frame';
import type { CodeText, LocationText, RegisterLine } from './registers';
import type { Arch, CodeBytes, CodeLocation, Frame, RegisterBlock, Report, ReportKind, Section, TextRange } from './types';

/** Frames seen before any section title are listed under this name. */
export const DEFAULT_SECTION = 'Call Trace';
const MAX_CONTEXT_DEPTH = 8;

export interface ReportStart {
  kind: ReportKind;
  title: string;
  line: number;
  titleRange: TextRange;
  startLine: number;
  caller: string | undefined;
}

export function newReport(s: ReportStart): Report {
  return {
    kind: s.kind,
    title: s.title,
    arch: 'unknown',
    line: s.line,
    titleRange: s.titleRange,
    startLine: s.startLine,
    endLine: s.line,
    cpu: undefined,
    pid: undefined,
    comm: undefined,
    taint: undefined,
    release: undefined,
    hardware: undefined,
    modules: [],
    registers: {},
    pc: undefined,
    lr: undefined,
    code: undefined,
    registerBlocks: [],
    sections: [],
    frames: [],
    caller: s.caller,
    ended: false,
  };
}

/** What the last recognised line of the report was; register blocks and `Code:` continue only across their own kind. */
type LastLine = 'registers' | 'code' | 'other';

export class ReportState {
  section: Section | undefined;
  private contexts: string[] = [];
  private block: RegisterBlock | undefined;
  private openCode: CodeBytes | undefined;
  private last: LastLine = 'other';
  /** 2 = from registers or the oops line, 1 = from frame names, 0 = none yet. */
  private archStrength = 0;
  /** Unrecognised lines since the last recognised one. */
  quiet = 0;
  /** A `CPU: … PID: … Comm:` line was seen (a second one after frames starts a new dump). */
  taskLine = false;

  constructor(readonly report: Report) {}

  touch(line: number): void {
    if (line > this.report.endLine) this.report.endLine = line;
    this.quiet = 0;
  }

  /** Text under a section title (frames, markers, free text) extends the section; registers do not. */
  extendSection(line: number): void {
    if (this.section && line > this.section.endLine) this.section.endLine = line;
  }

  hintArch(arch: Arch | undefined, strength: 1 | 2): void {
    if (!arch || arch === 'unknown' || strength < this.archStrength) return;
    if (strength === this.archStrength && this.report.arch !== 'unknown') return;
    this.report.arch = arch;
    this.archStrength = strength;
  }

  other(line: number): void {
    this.last = 'other';
    this.touch(line);
  }

  openSection(name: string, line: number): void {
    this.section = { name, line, endLine: line, frames: [] };
    this.report.sections.push(this.section);
    this.contexts = [];
    this.other(line);
  }

  markers(list: readonly string[], line: number): void {
    for (const m of list) {
      const inner = m.replace(/[<>]/g, '');
      if (inner.startsWith('/') || inner === 'EOI' || inner === 'EOE') this.contexts.pop();
      else if (this.contexts.length < MAX_CONTEXT_DEPTH) this.contexts.push(inner);
    }
    if (this.section) {
      this.other(line);
      this.extendSection(line);
    }
  }

  frame(ft: FrameText, line: number, column: number): Frame {
    if (!this.section) this.openSection(DEFAULT_SECTION, line);
    const section = this.section as Section;
    const f: Frame = {
      symbol: ft.symbol,
      offset: ft.offset,
      size: ft.size,
      module: ft.module,
      buildId: ft.buildId,
      address: ft.address,
      line,
      range: { start: ft.range.start + column, end: ft.range.end + column },
      reliable: ft.reliable,
      section: section.name,
      context: this.contexts.length ? this.contexts[this.contexts.length - 1] : undefined,
      source: ft.source,
      inlined: ft.inlined,
      callee: ft.callee,
      tag: ft.tag,
      truncated: ft.truncated,
    };
    section.frames.push(f);
    this.report.frames.push(f);
    if (ft.callee !== undefined) this.hintArch('arm', 1);
    else if (ft.tag !== undefined) this.hintArch('arm64', 1);
    else if (ft.symbol) this.hintArch(archFromSymbol(ft.symbol), 1);
    this.other(line);
    this.extendSection(line);
    return f;
  }

  private currentBlock(line: number): RegisterBlock {
    if (!this.block || this.last === 'other') {
      this.block = { line, endLine: line, values: {}, pc: undefined, lr: undefined, code: undefined };
      this.report.registerBlocks.push(this.block);
    }
    this.block.endLine = line;
    return this.block;
  }

  registers(r: RegisterLine, line: number): void {
    if (this.report.ended) return this.touch(line);
    const b = this.currentBlock(line);
    Object.assign(b.values, r.values);
    b.pc = mergeLocation(b.pc, r.pc, line);
    b.lr = mergeLocation(b.lr, r.lr, line);
    this.hintArch(r.pc ? archFromCodeLocation(r.arch, r.pc.address) : r.arch, 2);
    // The report shows the first block; an `IP:` line alone (old x86) leaves the values to the next.
    const rep = this.report;
    if (rep.registerBlocks[0] === b || Object.keys(rep.registers).length === 0) rep.registers = b.values;
    if (rep.registerBlocks[0] === b || !rep.pc) rep.pc = b.pc;
    if (rep.registerBlocks[0] === b || !rep.lr) rep.lr = b.lr;
    this.last = 'registers';
    this.touch(line);
  }

  code(c: CodeText, line: number, continuation: boolean): void {
    if (this.report.ended) return this.touch(line);
    if (continuation) {
      const code = this.openCode;
      if (code) {
        if (c.faultIndex >= 0) code.faultIndex = code.words.length + c.faultIndex;
        code.words.push(...c.words);
        code.endLine = line;
      }
    } else {
      // arm64 prints `Code:` after the call trace, away from the registers it belongs to.
      const first = this.report.registerBlocks[0];
      const b = this.last === 'other' && first && !first.code ? first : this.currentBlock(line);
      if (!b.code) {
        const width = c.words.length ? c.words[0].length / 2 : 0;
        b.code = { line, endLine: line, words: c.words, faultIndex: c.faultIndex, width, unavailable: c.unavailable };
        if (b === first) this.report.code = b.code;
      }
      this.openCode = b.code;
    }
    this.last = 'code';
    this.touch(line);
  }

  get lastWasCode(): boolean {
    return this.last === 'code';
  }

  end(line: number): void {
    this.report.ended = true;
    this.other(line);
  }

  /** Sections grow with free text the report may not keep (it ends at its last recognised line). */
  finish(): void {
    for (const s of this.report.sections) if (s.endLine > this.report.endLine) s.endLine = this.report.endLine;
  }
}

/**
 * Several lines may name the same register: syzbot prints the inlined callees first
 * (`RIP: 0010:__orc_find file.c:101 [inline]`) and the real function last, riscv prints
 * `epc : func+0x1/0x2` and then `epc : ffffffff806fe448`. Keep the entry with an offset and
 * fill in the address when a later line gives it.
 */
function mergeLocation(have: CodeLocation | undefined, next: LocationText | undefined, line: number): CodeLocation | undefined {
  if (!next) return have;
  if (!have) return { ...next, line };
  if (have.offset === undefined && next.offset !== undefined) return { ...next, line, address: next.address ?? have.address };
  if (have.address === undefined && next.symbol === undefined && next.address !== undefined) have.address = next.address;
  return have;
}
