/**
 * The shapes a parsed kernel log is made of. Pure data: no parsing logic lives here.
 *
 * Line numbers are 1-based (as editors and `grep -n` show them); columns are 0-based UTF-16
 * offsets into the raw line, `end` exclusive, so they map 1:1 onto LSP positions.
 * Addresses, offsets and sizes are bigint: kernel addresses do not fit a JS number.
 */

export type Arch = 'x86_64' | 'i386' | 'arm64' | 'arm' | 'riscv' | 'powerpc' | 'mips' | 's390' | 'unknown';

export type ReportKind =
  | 'oops'
  | 'null-deref'
  | 'bug'
  | 'warning'
  | 'panic'
  | 'kasan'
  | 'kfence'
  | 'kcsan'
  | 'kmsan'
  | 'ubsan'
  | 'lockdep'
  | 'rcu-stall'
  | 'soft-lockup'
  | 'hard-lockup'
  | 'hung-task'
  | 'oom'
  | 'alloc-failure'
  | 'backtrace'
  | 'stack-dump';

export interface TextRange {
  start: number;
  end: number;
}

/** `file:line` as printed by an already-decoded log (decode_stacktrace.sh or syzbot). */
export interface SourceLocation {
  file: string;
  line: number;
  discriminator?: number;
}

/** A code address as a log prints it: `sym+0xoff/0xsize [mod buildid]`, or a bare address. */
export interface SymbolRef {
  /** Undefined for a bare address (`[<ffffffff81000000>]`, `0xc0000000fab61810`). */
  symbol: string | undefined;
  /** Undefined only when the log gives none (inlined entries, `(func)` without offset, bare addresses). */
  offset: bigint | undefined;
  size: bigint | undefined;
  module: string | undefined;
  buildId: string | undefined;
  /** The raw address when the log prints one (`[<…>]`, ARM `from [<…>]`, powerpc `[sp] [ip]`). */
  address: bigint | undefined;
}

/** Where a stack entry was taken from, from the `<IRQ>`, `<NMI>`, `<TASK>` … markers around it. */
export type StackContext = string;

export interface Frame extends SymbolRef {
  /** 1-based line of the stack entry. */
  line: number;
  /** Columns of the symbol reference (what a document link should cover). */
  range: TextRange;
  /** False for `?` entries and powerpc `(unreliable)`. */
  reliable: boolean;
  /** Name of the section the frame is listed under (`Call Trace`, `Freed by task 12`, …). */
  section: string;
  context: StackContext | undefined;
  /** Source locations already in the log, innermost first. */
  source: SourceLocation[] | undefined;
  /** syzbot `[inline]` entry: a function inlined into the next frame, no address of its own. */
  inlined: boolean;
  /** ARM `callee from caller+off/size`: the function that was executing (the frame is the caller). */
  callee: string | undefined;
  /** One-letter unwinder tag on arm64 6.13+ (`(C)`, `(P)`, `(L)` …). */
  tag: string | undefined;
  /** A pager cut the line short: the fields the cut reached are left undefined. */
  truncated: boolean;
}

/** A register that names a code location (`RIP:`, `pc :`, `lr :`, `PC is at`, `epc :`, `NIP […]`). */
export interface CodeLocation extends SymbolRef {
  line: number;
  range: TextRange;
  /** x86 code segment (`0010` kernel, `0033` user) when printed. */
  segment: string | undefined;
}

/** The `Code:` bytes around the faulting instruction, as scripts/decodecode reads them. */
export interface CodeBytes {
  line: number;
  endLine: number;
  /** Hex words without their markers, in log order. */
  words: string[];
  /** Index into `words` of the `<xx>` / `(xxxxxxxx)` unit; -1 when there is none. */
  faultIndex: number;
  /** Bytes per word (1 on x86, 4 on arm64, 2 for thumb/riscv compressed). */
  width: number;
  /** Set when the kernel could not read the bytes (`Unable to access opcode bytes…`). */
  unavailable: string | undefined;
}

export interface RegisterBlock {
  line: number;
  endLine: number;
  values: Record<string, string>;
  pc: CodeLocation | undefined;
  lr: CodeLocation | undefined;
  code: CodeBytes | undefined;
}

export interface Section {
  name: string;
  line: number;
  endLine: number;
  frames: Frame[];
}

export interface Report {
  kind: ReportKind;
  title: string;
  arch: Arch;
  /** Header line (where a diagnostic goes) and the columns of the title in it. */
  line: number;
  titleRange: TextRange;
  /** First line of the report (a `cut here` or `=====` line before the header) and its last line. */
  startLine: number;
  endLine: number;
  cpu: number | undefined;
  pid: number | undefined;
  comm: string | undefined;
  /** Taint letters with the padding removed (`"OE"`), `""` for "Not tainted", undefined if not printed. */
  taint: string | undefined;
  release: string | undefined;
  hardware: string | undefined;
  modules: string[];
  /** Registers of the first block (the faulting context), by the names the log uses. */
  registers: Record<string, string>;
  pc: CodeLocation | undefined;
  lr: CodeLocation | undefined;
  code: CodeBytes | undefined;
  registerBlocks: RegisterBlock[];
  sections: Section[];
  frames: Frame[];
  /** printk caller id (`T94`, `C1`) the report was printed from, when the log carries them. */
  caller: string | undefined;
  /** True once an end marker (`---[ end trace …]---`, a closing `=====`) was seen. */
  ended: boolean;
}

export interface ParsedLog {
  reports: Report[];
  lineCount: number;
}
