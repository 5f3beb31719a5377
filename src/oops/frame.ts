/**
 * Recognises one stack-entry line. The whole line must be a stack entry (anchored at both
 * ends), which is what keeps `WARNING: … at foo+0x1/0x2` or lockdep's `#0: … at: foo+0x1/0x2`
 * from being mistaken for frames. Forms accepted (after indentation and context markers):
 *
 *   ? func+0x10/0x20 [mod 0123abcd…] (C)            x86_64, arm64, riscv (modern)
 *   [<ffffffff81234567>] ? func+0x10/0x20 [mod]      x86/mips/riscv/arm64 (old), i386
 *   [<c0019560>] (func) from [<c0014734>] (caller+0x10/0x14 [mod])   arm (old)
 *   func [mod] from caller+0x10/0x14 [mod]           arm (5.x+)
 *   start_kernel from 0x0                            arm (5.x+), the outermost entry
 *   [c00000003795f220] [c000000000011310] .func+0x50/0x1cc (unreliable)   powerpc
 *   func+0x10/0x20 file.c:123 [inline]               syzbot
 *   func (file.c:123 (discriminator 1) file.h:45) mod  decode_stacktrace.sh output
 *   [<ffffffff81000000>]   0xffffffffc0a1b2c3         bare addresses
 *
 * Each recogniser is a sticky regex with bounded repetitions: no backtracking blow-up.
 */
import type { SourceLocation, TextRange } from './types';

export interface FrameText {
  symbol: string | undefined;
  offset: bigint | undefined;
  size: bigint | undefined;
  module: string | undefined;
  buildId: string | undefined;
  address: bigint | undefined;
  reliable: boolean;
  callee: string | undefined;
  source: SourceLocation[] | undefined;
  inlined: boolean;
  tag: string | undefined;
  /** The line was cut short (by a pager): what the cut reached is not in the entry. */
  truncated: boolean;
  /** Columns in the parsed string of the symbol reference. */
  range: TextRange;
}

export interface StackLine {
  /** `<IRQ>`, `</IRQ>`, `<EOI>`, `<<EOE>>` … in order of appearance. */
  markers: string[];
  frame: FrameText | undefined;
}

const MARKER = /<{1,2}\/?[A-Z#_]{2,24}>{1,2}/y;
const ADDR = /\[<([0-9a-fA-F]{1,16})>\]/y;
const PPC_PAIR = /\[([0-9a-fA-F]{8,16})\] \[([0-9a-fA-F]{8,16})\]/y;
const SYM = /([A-Za-z_.$][A-Za-z0-9_.$]{0,255})(?:\+0x([0-9a-fA-F]{1,16})(?:\/0x([0-9a-fA-F]{1,16}))?)?/y;
const MODULE = /\[([A-Za-z0-9_-]{1,64})(?: ([0-9a-fA-F]{8,64}))?\]/y;
const OLD_MODULE = /:([A-Za-z0-9_-]{1,64}):(?=[A-Za-z_.$])/y;
const HEX = /0x([0-9a-fA-F]{1,16})(?![0-9A-Za-z_])/y;
const FROM = /[ \t]{1,8}from[ \t]{1,8}/y;
const TAG = /\(([A-Z])\)/y;
const UNRELIABLE = /\(unreliable\)/y;
const PATH_LINE = /([^\s():[\]]{1,512}):(\d{1,9})(?::\d{1,9})?/y;
const DISCRIMINATOR = / \(discriminator (\d{1,9})\)/y;
const INLINE = /\[inline\]/y;
const TRAILING_MODULE = /[A-Za-z0-9_-]{1,64}/y;
const MAX_FRAME_LINE = 4096;
const STACK_HINT = /0x|<|\.[A-Za-z]{1,4}:\d/;

class Cursor {
  pos: number;
  constructor(readonly s: string, pos = 0) {
    this.pos = pos;
  }
  match(re: RegExp): RegExpExecArray | null {
    re.lastIndex = this.pos;
    const m = re.exec(this.s);
    if (m) this.pos = re.lastIndex;
    return m;
  }
  /** Like match, for a pattern whose text is not needed (no match array is made). */
  skip(re: RegExp): boolean {
    re.lastIndex = this.pos;
    if (!re.test(this.s)) return false;
    this.pos = re.lastIndex;
    return true;
  }
  ws(): void {
    const s = this.s;
    const end = Math.min(s.length, this.pos + 64);
    let p = this.pos;
    while (p < end) {
      const c = s.charCodeAt(p);
      if (c !== 32 && c !== 9) break;
      p++;
    }
    this.pos = p;
  }
  peek(ch: string): boolean {
    return this.s[this.pos] === ch;
  }
  /** True when the next two characters are `ab`. */
  peek2(ab: string): boolean {
    return this.s[this.pos] === ab[0] && this.s[this.pos + 1] === ab[1];
  }
  blank(): boolean {
    if (this.pos >= this.s.length) return false;
    const c = this.s.charCodeAt(this.pos);
    return c === 32 || c === 9;
  }
  done(): boolean {
    return this.pos >= this.s.length;
  }
}

const hex = (s: string | undefined): bigint | undefined => (s === undefined ? undefined : BigInt('0x' + s));

interface SymPart {
  symbol: string;
  offset: bigint | undefined;
  size: bigint | undefined;
  module: string | undefined;
  buildId: string | undefined;
  range: TextRange;
}

/** `sym[+0xoff[/0xsize]] [ [mod [buildid]]]` at the cursor. */
function symPart(c: Cursor): SymPart | undefined {
  const start = c.pos;
  // 2.6-era x86_64 named the module first: `:jbd:log_wait_commit+0xa3/0xf5`.
  const prefixed = c.peek(':') ? c.match(OLD_MODULE) : null;
  const m = c.match(SYM);
  if (!m) {
    c.pos = start;
    return undefined;
  }
  let end = c.pos;
  let module: string | undefined = prefixed?.[1];
  let buildId: string | undefined;
  const save = c.pos;
  c.ws();
  const mod = c.peek('[') ? c.match(MODULE) : null;
  if (mod && mod[1] !== 'inline') {
    module = mod[1];
    buildId = mod[2]?.toLowerCase();
    end = c.pos;
  } else {
    c.pos = save;
  }
  return { symbol: m[1], offset: hex(m[2]), size: hex(m[3]), module, buildId, range: { start, end } };
}

/** `(file:line (discriminator N) file:line …)` as decode_stacktrace.sh prints it. */
function decodedSource(c: Cursor): SourceLocation[] | undefined {
  const save = c.pos;
  if (!c.peek('(')) return undefined;
  c.pos++;
  const out: SourceLocation[] = [];
  for (let n = 0; n < 32; n++) {
    const m = c.match(PATH_LINE);
    if (!m) break;
    const loc: SourceLocation = { file: m[1], line: Number(m[2]) };
    const d = c.peek2(' (') ? c.match(DISCRIMINATOR) : null;
    if (d) loc.discriminator = Number(d[1]);
    out.push(loc);
    if (!c.peek(' ')) break;
    c.pos++;
  }
  if (out.length === 0 || !c.peek(')')) {
    c.pos = save;
    return undefined;
  }
  c.pos++;
  return out;
}

/** syzbot's ` file.c:123` after the symbol (the path must look like one). */
function syzbotSource(c: Cursor): SourceLocation | undefined {
  const save = c.pos;
  if (c.s.indexOf(':', c.pos) < 0) return undefined;
  const m = c.match(PATH_LINE);
  if (m && (m[1].includes('/') || m[1].includes('.'))) return { file: m[1], line: Number(m[2]) };
  c.pos = save;
  return undefined;
}

function empty(range: TextRange): FrameText {
  return {
    symbol: undefined,
    offset: undefined,
    size: undefined,
    module: undefined,
    buildId: undefined,
    address: undefined,
    reliable: true,
    callee: undefined,
    source: undefined,
    inlined: false,
    tag: undefined,
    truncated: false,
    range,
  };
}

function assign(f: FrameText, p: Omit<SymPart, 'symbol'> & { symbol: string | undefined }): void {
  f.symbol = p.symbol;
  f.offset = p.offset;
  f.size = p.size;
  f.module = p.module;
  f.buildId = p.buildId;
  f.range = p.range;
}

/** ARM `(sym [mod]) from [<addr>] (caller+off/size [mod])`, cursor on the first `(`. */
function armParenthesised(c: Cursor, f: FrameText): boolean {
  c.pos++;
  const first = symPart(c);
  if (!first || !c.peek(')')) return false;
  c.pos++;
  if (!c.blank() || !c.skip(FROM)) {
    // s390 and some others wrap the pc-derived entry in parentheses: `([<…>] sym+0x1/0x2)`.
    assign(f, first);
    return true;
  }
  const a = c.peek2('[<') ? c.match(ADDR) : null;
  if (a) f.address = hex(a[1]);
  c.ws();
  if (!c.peek('(')) return false;
  c.pos++;
  const caller = symPart(c);
  if (!caller || !c.peek(')')) return false;
  c.pos++;
  assign(f, caller);
  f.callee = first.symbol;
  return true;
}

/** Trailing decorations: `(C)`, `(unreliable)`, sources, `[inline]`, a decoded module name. */
function trailer(c: Cursor, f: FrameText): void {
  for (let n = 0; n < 6; n++) {
    const save = c.pos;
    c.ws();
    if (c.done()) return;
    const open = c.peek('(');
    const t = open ? c.match(TAG) : null;
    if (t) {
      f.tag = t[1];
      continue;
    }
    if (open && c.skip(UNRELIABLE)) {
      f.reliable = false;
      continue;
    }
    if (c.peek('[') && c.skip(INLINE)) {
      f.inlined = true;
      continue;
    }
    const dec = decodedSource(c);
    if (dec) {
      f.source = dec;
      continue;
    }
    if (save !== c.pos && !f.source) {
      const syz = syzbotSource(c);
      if (syz) {
        f.source = [syz];
        continue;
      }
    }
    if (f.source && !f.module && save !== c.pos) {
      const m = c.match(TRAILING_MODULE);
      if (m) {
        f.module = m[0];
        continue;
      }
    }
    c.pos = save;
    return;
  }
}

/**
 * Parses `s` (a line body) as a stack entry. `inTrace` relaxes the rules that would otherwise
 * make ordinary text look like a frame: bare `0x…` addresses and `func+0x10` without a size
 * are accepted only inside a trace section.
 */
export function parseStackLine(s: string, inTrace: boolean): StackLine | undefined {
  if (s.length > MAX_FRAME_LINE || !mayBeStackLine(s)) return undefined;
  const c = new Cursor(s);
  c.ws();
  const markers: string[] = [];
  for (let n = 0; n < 4 && c.peek('<'); n++) {
    const m = c.match(MARKER);
    if (!m) break;
    markers.push(m[0]);
    c.ws();
  }
  if (c.done()) return markers.length ? { markers, frame: undefined } : undefined;
  const frame = parseFrameAt(c, inTrace);
  if (!frame) return undefined;
  return { markers, frame };
}

/**
 * Every form above shows an offset or address (`0x`), a bracketed address or a context marker
 * (`<`), or a source location (`file.c:123`): most log lines have none, and cost one scan.
 */
function mayBeStackLine(s: string): boolean {
  return STACK_HINT.test(s);
}

function parseFrameAt(c: Cursor, inTrace: boolean): FrameText | undefined {
  const f = empty({ start: c.pos, end: c.pos });
  let bracketed = false;
  const wrapped = c.peek('(') && c.s[c.pos + 1] === '[';
  if (wrapped) c.pos++;
  const ppc = c.peek('[') ? c.match(PPC_PAIR) : null;
  if (ppc) {
    f.address = hex(ppc[2]);
    bracketed = true;
  } else {
    // Old x86 `RIP: 0010:[<a>]  [<a>] func` repeats the address; keep the first.
    for (let n = 0; n < 2; n++) {
      const a = c.peek2('[<') ? c.match(ADDR) : null;
      if (!a) break;
      if (n === 0) {
        f.address = hex(a[1]);
        f.range = { start: c.pos - a[0].length + 2, end: c.pos - 2 };
      }
      bracketed = true;
      c.ws();
    }
  }
  c.ws();
  if (c.peek('?') && (c.s[c.pos + 1] === ' ' || c.s[c.pos + 1] === '\t')) {
    f.reliable = false;
    c.pos++;
    c.ws();
  }
  if (c.peek('(') && c.s[c.pos + 1] !== '[') {
    if (!armParenthesised(c, f)) return undefined;
  } else if (!c.done()) {
    const start = c.pos;
    const h = c.peek2('0x') ? c.match(HEX) : null;
    if (h) {
      if (!inTrace && !bracketed) return undefined;
      f.address = hex(h[1]);
      f.range = { start, end: c.pos };
    } else {
      const p = symPart(c);
      if (!p) return undefined;
      assign(f, p);
      if (c.blank() && c.skip(FROM)) {
        // ARM 5.x+ prints the caller with %pS, so a real entry has an offset there, or is a
        // bare address where there is no symbol (`start_kernel from 0x0`).
        const start = c.pos;
        const caller = symPart(c);
        if (caller) {
          if (caller.offset === undefined) return undefined;
          assign(f, caller);
        } else {
          const h = c.peek2('0x') ? c.match(HEX) : null;
          if (!h) return undefined;
          assign(f, { symbol: undefined, offset: undefined, size: undefined, module: undefined, buildId: undefined, range: { start, end: c.pos } });
          f.address = hex(h[1]);
        }
        f.callee = p.symbol;
      }
    }
  } else if (!bracketed) {
    return undefined;
  }
  trailer(c, f);
  if (wrapped && c.peek(')')) c.pos++;
  c.ws();
  if (!c.done()) return undefined;
  return plausible(f, bracketed, inTrace) ? f : undefined;
}

/** Rejects text that parsed but is not evidence of a stack entry (a lone word, `foo+0x1`). */
function plausible(f: FrameText, bracketed: boolean, inTrace: boolean): boolean {
  if (f.symbol === undefined) return f.address !== undefined;
  if (bracketed || f.callee !== undefined || f.source !== undefined) return true;
  if (f.offset === undefined) return false;
  return f.size !== undefined || inTrace;
}

const CUT_SIZE = /\/0x[0-9a-fA-F]{0,16}$/;
const CUT_OFFSET = /\+0x[0-9a-fA-F]{0,16}$/;
const CUT_HEX = /(?:^|[\s(<[])(?:0x)?[0-9a-fA-F]{1,16}$/;
const CUT_DELIMITERS = ' \t+/[(';
// `  ? do_one_initc`, `  do_one_initcall+0x4`: a name, perhaps cut, perhaps followed by a cut offset.
const CUT_NAME = /^([ \t]{0,64}(?:\?[ \t]{1,8})?)([A-Za-z_.$][A-Za-z0-9_.$]{0,255})(\+(?:0(?:x[0-9a-fA-F]{0,16})?)?)?$/;

/** Drops what the cut reached in an entry parsed from a cut line (`t` ends where the cut was). */
function dropCut(f: FrameText, t: string): void {
  if (t.endsWith(']') || t.endsWith(')')) return;
  if (f.size !== undefined && CUT_SIZE.test(t)) f.size = undefined;
  else if (f.offset !== undefined && CUT_OFFSET.test(t)) {
    f.offset = undefined;
    f.size = undefined;
  } else if (f.source !== undefined && /:\d{1,9}$/.test(t)) f.source = f.source.length > 1 ? f.source.slice(0, -1) : undefined;
  else if (f.symbol !== undefined && t.endsWith(f.symbol)) f.symbol = undefined;
  else if (f.symbol === undefined && CUT_HEX.test(t)) f.address = undefined;
}

/**
 * A stack entry whose line a pager cut short (`s` without the cut mark). It is still one entry,
 * but what the cut reached may be incomplete and is left out: `func+0x46/0x1` keeps no size,
 * `func+0x4` no offset, a name cut in the middle is no name. Only inside a trace (`inTrace`)
 * does a cut line that is not recognisably an entry count as one.
 */
export function parseCutStackLine(s: string, inTrace: boolean): StackLine | undefined {
  if (s.length > MAX_FRAME_LINE) return undefined;
  let t = s.trimEnd();
  // A cut right after a blank left every token before it whole.
  const afterBlank = t.length < s.length;
  let whole = afterBlank;
  for (let n = 0; n < 8 && t.length > 0; n++) {
    const parsed = parseStackLine(t, inTrace);
    if (parsed && !parsed.frame) return parsed;
    const f = parsed?.frame;
    if (parsed && f) {
      if (!whole) dropCut(f, t);
      f.truncated = true;
      return parsed;
    }
    // Back to the last delimiter: the token before it is whole.
    let i = t.length - 1;
    while (i >= 0 && !CUT_DELIMITERS.includes(t[i])) i--;
    if (i <= 0) break;
    t = t.slice(0, i).trimEnd();
    whole = true;
  }
  const m = inTrace ? CUT_NAME.exec(s.trimEnd()) : null;
  if (!m) return undefined;
  const start = m[1].length;
  const f = empty({ start, end: start + m[2].length });
  f.reliable = !m[1].includes('?');
  f.truncated = true;
  // The name is whole when something followed it; the offset after `+` never is.
  if (m[3] !== undefined || afterBlank) f.symbol = m[2];
  return { markers: [], frame: f };
}
