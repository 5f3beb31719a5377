/**
 * Lines a terminal or a mail client broke in two, joined again, and lines a pager cut short,
 * recognised as such.
 *
 * In a log whose lines carry a prefix (a timestamp, a syslog or journal header), a line without
 * one right after a prefixed line is the rest of that line when the widths say it was broken
 * there. A terminal breaks at its width exactly: the broken lines are as wide as the widest
 * line (two at least), and that is wider than a mail client would wrap. A mail client breaks before
 * the word that would not fit: no prefixed line is wider than mail allows, and the broken line
 * plus that word is wider than any mail client wraps at. (A serial console capture, where
 * user-space output without timestamps follows kernel lines, has prefixed lines far wider than
 * mail allows.) A join must never cost a frame: when either half alone is a stack entry, the
 * joined line must be one too.
 *
 * `journalctl` in a pager (`less -S`) chops lines at the terminal width and marks them with a
 * `>` in the last column; `journalctl --no-full` takes text out near the end of a line and puts
 * `…` (`...` in the C locale) in its place.
 */
import { parseStackLine } from './frame';
import { detectHeader, isCutHere, isEndMarker } from './headers';
import { splitPrefix, type LinePrefix } from './lines';

/** Columns `start` to `end` of a joined line are columns `start + shift` to `end + shift` of physical line `no`. */
export interface Piece {
  no: number;
  start: number;
  end: number;
  shift: number;
}

export interface LogicalLine {
  /** 1-based number of the first physical line. */
  no: number;
  raw: string;
  prefix: LinePrefix;
  /** Undefined for a line that was never broken. */
  pieces: Piece[] | undefined;
  /** Length of the last physical line (the one a further break would follow). */
  lastLength: number;
}

/** Mail clients wrap at 66 to 78 columns: a line that would have been wider than this was broken… */
const MIN_WRAP = 64;
/** …and none is wider than this (quote marks come on top); a terminal that breaks lines is wider. */
const MAX_WRAP = 80;
/** No terminal a log is read in is narrower. */
const MIN_SCREEN = 40;
/** Quoted-printable lines are at most 76 characters, a soft break ends one with `=`. */
const QP_WIDTH = 76;
const MAX_JOINED = 4096;
const MARKER_END = /<\/?[A-Za-z#_]{2,24}>$/;
const STANDALONE = /^(?:Call [Tt]race:?$|Modules linked in:|CPU: \d|Hardware name: |Code: )/;

function isFrame(body: string): boolean {
  return parseStackLine(body, true)?.frame !== undefined;
}

/** A line that means something on its own never continues another one. */
function standalone(t: string): boolean {
  return STANDALONE.test(t) || isEndMarker(t) || isCutHere(t) || detectHeader(t) !== undefined;
}

export class Unwrapper {
  /** The widest physical line so far and how many were that wide; the widest prefixed line. */
  private width = 0;
  private widest = 0;
  private stampedWidth = 0;

  /** Every physical line passes here before `join` is asked about it. */
  seen(length: number, prefix: LinePrefix): void {
    if (length > this.width) {
      this.width = length;
      this.widest = 1;
    } else if (length === this.width) {
      this.widest++;
    }
    if (prefix.stamped && length > this.stampedWidth) this.stampedWidth = length;
  }

  /** `raw` (physical line `no`, prefix `p`) joined onto `held`, or undefined when it does not continue it. */
  join(held: LogicalLine, raw: string, p: LinePrefix, no: number): LogicalLine | undefined {
    if (!held.prefix.stamped || p.stamped || p.quoteDepth !== held.prefix.quoteDepth) return undefined;
    const text = raw.slice(p.quoteEnd);
    const trimmed = text.trim();
    if (trimmed === '' || held.raw.length + text.length > MAX_JOINED) return undefined;
    const last = held.lastLength;
    const qp = held.raw.endsWith('=') && last <= QP_WIDTH;
    // One line as wide as the widest could be chance; two are a screen's edge. A copy from the
    // screen loses the blank a line ended in.
    const terminal = this.width > MAX_WRAP && this.widest >= 2 && (last === this.width || last === this.width - 1);
    const word = trimmed.length - trimmed.replace(/^\S+/, '').length;
    const mail = this.stampedWidth <= MAX_WRAP + 2 * p.quoteDepth && last + 1 + word > MIN_WRAP;
    if (!(terminal || mail || qp) || standalone(trimmed)) return undefined;

    const base = qp ? held.raw.slice(0, -1) : held.raw;
    const seps = qp || /\s$/.test(base) || (terminal && last === this.width) ? ['', ' '] : [' ', ''];
    const mustBeFrame = isFrame(held.prefix.body) || isFrame(text);
    for (const sep of seps) {
      const joined = base + sep + text;
      const prefix = splitPrefix(joined);
      if (mustBeFrame && !isFrame(prefix.body)) continue;
      const start = base.length + sep.length;
      const pieces = held.pieces ? held.pieces.slice(0, -1) : [];
      const before = held.pieces ? held.pieces[held.pieces.length - 1] : { no: held.no, start: 0, end: 0, shift: 0 };
      pieces.push({ ...before, end: base.length }, { no, start, end: joined.length, shift: p.quoteEnd - start });
      return { no: held.no, raw: joined, prefix, pieces, lastLength: raw.length };
    }
    return undefined;
  }

  /**
   * Where a pager cut `line`: the index of its cut mark, or -1. `journalctl --no-full` puts `…`
   * where it took text out (near the end, keeping the last few characters, which are dropped
   * here too); `less -S` puts `>` in the last column of a fixed-width screen, so only a line as
   * wide as the widest line can have one.
   */
  cutAt(line: LogicalLine, body: string): number {
    const ellipsis = body.indexOf('…');
    if (ellipsis >= 0) return ellipsis;
    let end = body.length;
    while (end > 0 && body.charCodeAt(end - 1) === 32) end--;
    if (end === 0) return -1;
    const last = body.charCodeAt(end - 1);
    // `...` (journalctl in the C locale) and `>` only count on a line that reached the screen's edge.
    const dots = last !== 62 ? body.lastIndexOf('...', end) : -1;
    if (last !== 62 && (dots < 0 || end - dots > 12)) return -1;
    if (line.lastLength !== this.width || this.widest < 2 || this.width < MIN_SCREEN) return -1;
    if (dots >= 0) return dots;
    return MARKER_END.test(body.slice(Math.max(0, end - 32), end)) ? -1 : end - 1;
  }
}

/** The physical line and column of column `col` of a (possibly joined) line. */
export function physical(line: LogicalLine, col: number): { no: number; col: number; end: number } {
  const pieces = line.pieces;
  if (!pieces) return { no: line.no, col, end: line.raw.length };
  let i = pieces.length - 1;
  while (i > 0 && pieces[i].start > col) i--;
  const piece = pieces[i];
  return { no: piece.no, col: Math.min(col, piece.end) + piece.shift, end: piece.end + piece.shift };
}
