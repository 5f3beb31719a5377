/**
 * Register dumps and `Code:` lines. Lines that name a code location (`RIP:`, `pc :`, `lr :`,
 * `PC is at`, `epc :`, `NIP […]`, `EIP:`) are registers of the faulting context, never frames,
 * even when they look exactly like one.
 */
import { parseStackLine, type FrameText } from './frame';
import type { Arch, SymbolRef, TextRange } from './types';

export interface LocationText extends SymbolRef {
  range: TextRange;
  segment: string | undefined;
}

export interface RegisterLine {
  values: Record<string, string>;
  pc: LocationText | undefined;
  lr: LocationText | undefined;
  arch: Arch | undefined;
}

interface LocationPattern {
  re: RegExp;
  which: 'pc' | 'lr';
  arch: Arch | undefined;
}

// Group 1, when present, is an x86 code segment.
const LOCATIONS: LocationPattern[] = [
  { re: /^RIP: (?:([0-9a-fA-F]{4}):)?/, which: 'pc', arch: 'x86_64' },
  { re: /^RIP {1,2}(?=\[<)/, which: 'pc', arch: 'x86_64' },
  { re: /^IP: /, which: 'pc', arch: undefined },
  { re: /^EIP: (?:([0-9a-fA-F]{4}):)?/, which: 'pc', arch: 'i386' },
  { re: /^EIP is at /, which: 'pc', arch: 'i386' },
  { re: /^pc : /, which: 'pc', arch: undefined },
  { re: /^lr : /, which: 'lr', arch: undefined },
  { re: /^PC is at /, which: 'pc', arch: 'arm' },
  { re: /^LR is at /, which: 'lr', arch: 'arm' },
  { re: /^epc : /, which: 'pc', arch: 'riscv' },
  { re: /^ra : /, which: 'lr', arch: 'riscv' },
  { re: /^epc {2,4}: /, which: 'pc', arch: 'mips' },
  { re: /^ra {3,5}: /, which: 'lr', arch: 'mips' },
  { re: /^NIP:? {1,3}(?=\[)/, which: 'pc', arch: 'powerpc' },
  { re: /^LR {1,3}(?=\[)/, which: 'lr', arch: 'powerpc' },
];

// First token of a plain register line, per architecture.
const VALUE_LINES: Array<[RegExp, Arch]> = [
  [/^(?:RSP|RAX|RBX|RCX|RDX|RSI|RDI|RBP|R0[89]|R1[0-5]|FS|GS|CS|CR[0-4]|DR[0-7]|PKRU): /, 'x86_64'],
  [/^(?:EAX|EBX|ECX|EDX|ESI|EDI|EBP|ESP|DS|ES|SS): /, 'i386'],
  [/^(?:x\d{1,2}|sp|pstate) ?: /, 'arm64'],
  [/^(?:r\d{1,2} ?: |psr: |Control: |pc : \[<)/, 'arm'],
  [/^(?:gp|tp|t\d|s\d{1,2} ?|a\d|status|epc : [0-9a-f]{8,16} ra) ?: ?/, 'riscv'],
  [/^(?:NIP|REGS|MSR|CFAR|GPR\d\d|XER|CTR):? /, 'powerpc'],
  [/^(?:\$ ?\d{1,2} {0,4}|Hi {4}|Lo {4}|Status|Cause|BadVA|PrId) ?: /, 'mips'],
  [/^Krnl (?:PSW|GPRS) ?: /, 's390'],
];

// One test of all the line starts above rules out most lines before the loops below.
const ANY_LOCATION = new RegExp(LOCATIONS.map((l) => `(?:${l.re.source})`).join('|'));
const ANY_VALUE_LINE = new RegExp(VALUE_LINES.map(([re]) => `(?:${re.source})`).join('|'));

const PAIR =
  /([A-Za-z][A-Za-z0-9_]{0,11}|\$ ?\d{1,2}) {0,4}: {0,3}(?:\[<([0-9a-fA-F]{1,16})>\]|([0-9a-fA-F]{1,16}(?::[0-9a-fA-F]{1,16})?(?:\([0-9a-fA-F]{1,8}\))?))(?![0-9A-Za-z_])/g;
const MAX_REGISTER_LINE = 1024;
const NO_COLON = /^(?:PC is at|LR is at|EIP is at|NIP|LR |RIP )/;
// mips prints `epc   : ffffffff8012345c func+0x1c/0x30`, powerpc `NIP [c000000000123456] func+0x1c/0x30`.
const ADDRESS_THEN_SYMBOL = /^\[?([0-9a-fA-F]{8,16})\]? (?=\S)/;

function values(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  PAIR.lastIndex = 0;
  for (let n = 0; n < 64; n++) {
    const m = PAIR.exec(s);
    if (!m) break;
    out[m[1].replace(/ /g, '')] = m[2] ?? m[3];
  }
  return out;
}

function fromFrame(f: FrameText, offset: number, segment: string | undefined): LocationText {
  return {
    symbol: f.symbol,
    offset: f.offset,
    size: f.size,
    module: f.module,
    buildId: f.buildId,
    address: f.address,
    segment,
    range: { start: f.range.start + offset, end: f.range.end + offset },
  };
}

function location(rest: string, offset: number, segment: string | undefined): LocationText | undefined {
  const lead = ADDRESS_THEN_SYMBOL.exec(rest);
  if (lead) {
    const f = parseStackLine(rest.slice(lead[0].length), true)?.frame;
    if (f) {
      const loc = fromFrame(f, offset + lead[0].length, segment);
      loc.address = BigInt('0x' + lead[1]);
      return loc;
    }
  }
  const f = parseStackLine(rest, true)?.frame;
  return f ? fromFrame(f, offset, segment) : undefined;
}

function addressOnly(v: string | undefined, line: string, name: string): LocationText | undefined {
  if (v === undefined || !/^[0-9a-fA-F]{1,16}$/.test(v)) return undefined;
  const at = line.indexOf(v, line.indexOf(name));
  const start = at < 0 ? 0 : at;
  return {
    symbol: undefined,
    offset: undefined,
    size: undefined,
    module: undefined,
    buildId: undefined,
    address: BigInt('0x' + v),
    segment: undefined,
    range: { start, end: start + v.length },
  };
}

/**
 * Parses a register line. `body` must already be trimmed of leading blanks; `indent` is how
 * many were removed, so returned ranges are columns in the untrimmed body.
 */
export function parseRegisterLine(body: string, indent = 0): RegisterLine | undefined {
  if (body.length > MAX_REGISTER_LINE) return undefined;
  // Every register line names a register in its first few characters, followed by a colon.
  const colon = body.indexOf(':');
  if ((colon < 0 || colon > 14) && !NO_COLON.test(body)) return undefined;
  const named = ANY_LOCATION.test(body);
  if (!named && !ANY_VALUE_LINE.test(body)) return undefined;
  for (const p of named ? LOCATIONS : []) {
    const m = p.re.exec(body);
    if (!m) continue;
    const rest = body.slice(m[0].length);
    const loc = location(rest, indent + m[0].length, m[1]);
    if (loc) {
      const line: RegisterLine = { values: {}, pc: undefined, lr: undefined, arch: p.arch };
      line[p.which] = loc;
      return line;
    }
    break;
  }
  for (const [re, arch] of VALUE_LINES) {
    if (!re.test(body)) continue;
    const v = values(body);
    if (Object.keys(v).length === 0) return undefined;
    const pcName = v.pc !== undefined ? 'pc' : v.epc !== undefined ? 'epc' : undefined;
    const pc = pcName ? addressOnly(v[pcName], body, pcName) : undefined;
    const lrName = v.lr !== undefined ? 'lr' : v.ra !== undefined ? 'ra' : undefined;
    const lr = lrName ? addressOnly(v[lrName], body, lrName) : undefined;
    for (const l of [pc, lr]) if (l) l.range = { start: l.range.start + indent, end: l.range.end + indent };
    // arm prints `sp : bf8d5e98  ip : …` too; arm64's stack pointer has 16 digits.
    const narrowSp = arch === 'arm64' && v.sp !== undefined && v.sp.length <= 8;
    return { values: v, pc, lr, arch: narrowSp ? 'arm' : arch };
  }
  return undefined;
}

export interface CodeText {
  words: string[];
  faultIndex: number;
  unavailable: string | undefined;
}

const CODE = /^(?:Code|Instruction dump):[ \t]{0,8}/;
const WORD = /^(<|\()?([0-9a-fA-F]{2,8})(>|\))?$/;
const MAX_CODE_WORDS = 512;

function words(text: string): CodeText | undefined {
  const out: CodeText = { words: [], faultIndex: -1, unavailable: undefined };
  const tokens = text.split(/[ \t]{1,64}/);
  for (const t of tokens) {
    if (t === '') continue;
    const m = WORD.exec(t);
    if (!m || (m[1] === '<') !== (m[3] === '>') || (m[1] === '(') !== (m[3] === ')')) return undefined;
    if (out.words.length >= MAX_CODE_WORDS) return undefined;
    if (m[1]) out.faultIndex = out.words.length;
    out.words.push(m[2]);
  }
  return out;
}

/** `Code: 48 8b <0f> 0b …`, `Code: … (f9428aa3)`, powerpc `Instruction dump:`; undefined otherwise. */
export function parseCodeLine(body: string): CodeText | undefined {
  const c = body.charCodeAt(0);
  // `C`ode: or `I`nstruction dump:
  if ((c !== 67 && c !== 73) || body.length > 8192) return undefined;
  const m = CODE.exec(body);
  if (!m) return undefined;
  const rest = body.slice(m[0].length).trimEnd();
  const w = words(rest);
  if (w) return w;
  return { words: [], faultIndex: -1, unavailable: rest };
}

/** A wrapped continuation of a `Code:` line: only hex words and markers, as decodecode accepts. */
export function parseCodeContinuation(body: string): CodeText | undefined {
  const t = body.trim();
  if (t === '' || t.length > 8192 || !/^[0-9a-fA-F<>() \t]+$/.test(t)) return undefined;
  const w = words(t);
  return w && w.words.length > 0 ? w : undefined;
}
