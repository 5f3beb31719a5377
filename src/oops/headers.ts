/**
 * The lines that open, continue or close a report. Everything is matched against the trimmed
 * message body, anchored at its start; titles are the line as printed.
 */
import type { ReportKind } from './types';

/**
 * `start` opens a report. `oops` is an `Oops: … [#N]`-style line: it continues a report whose
 * header came just before (x86 `BUG: kernel NULL pointer dereference` → `Oops: 0000 [#1]`,
 * arm64 `Unable to handle…` → `Internal error: Oops: … [#1]`) or opens one on its own.
 * `nmi` is `NMI backtrace for cpu N`, a section of a stall report or a report of its own.
 */
export type HeaderRole = 'start' | 'oops' | 'nmi';

export interface Header {
  role: HeaderRole;
  kind: ReportKind;
  cpu: number | undefined;
  pid: number | undefined;
  comm: string | undefined;
}

interface Rule {
  re: RegExp;
  kind: ReportKind;
  role?: HeaderRole;
  /** Pulls cpu/pid/comm out of the header match. */
  who?: (m: RegExpExecArray) => Partial<Pick<Header, 'cpu' | 'pid' | 'comm'>>;
}

const num = (s: string | undefined): number | undefined => (s === undefined ? undefined : Number(s));

const OOPS_LINE =
  /^(?:Oops|Internal error:|Kernel BUG|general protection fault|invalid opcode|stack segment|double fault|divide error|int3|alignment check|segment not present|invalid TSS|bounds|kernel stack overflow|Kernel bug detected)[^[]{0,300}\[#\d{1,6}\]/;

// Order matters: the first matching rule wins.
const RULES: Rule[] = [
  { re: /^BUG: (?:kernel NULL pointer dereference|unable to handle kernel NULL pointer dereference)/, kind: 'null-deref' },
  { re: /^BUG: unable to handle /, kind: 'oops' },
  { re: /^BUG: KASAN: /, kind: 'kasan' },
  { re: /^BUG: KFENCE: /, kind: 'kfence' },
  { re: /^BUG: KCSAN: /, kind: 'kcsan' },
  { re: /^BUG: KMSAN: /, kind: 'kmsan' },
  {
    re: /^(?:[\w ]{1,32}: )?BUG: soft lockup - CPU#(\d{1,5}) stuck for \d{1,9}s! \[(.{1,64}):(\d{1,10})\]/,
    kind: 'soft-lockup',
    who: (m) => ({ cpu: num(m[1]), comm: m[2], pid: num(m[3]) }),
  },
  { re: /^(?:[\w ]{1,32}: )?BUG: soft lockup/, kind: 'soft-lockup' },
  {
    re: /^BUG: scheduling while atomic: (.{1,64})\/(\d{1,10})\//,
    kind: 'bug',
    who: (m) => ({ comm: m[1], pid: num(m[2]) }),
  },
  { re: /^BUG: /, kind: 'bug' },
  { re: /^BUG [\w.:-]{1,64} \((?:Not tainted|Tainted: [^)]{0,40})\): /, kind: 'bug' },
  { re: /^kernel BUG at /, kind: 'bug' },
  {
    re: /^WARNING: (?:possible |inconsistent lock state|bad unlock balance|held lock freed|lock held |nested lock was not taken|suspicious RCU usage|[A-Z]{4,8}-(?:safe|unsafe|READ|irq)|.{0,60}lock order detected|.{0,60}locking dependency)/,
    kind: 'lockdep',
  },
  { re: /^\[ INFO: (?:possible |inconsistent |suspicious RCU|.{0,60}lock)[^\]]{0,120}\]/, kind: 'lockdep' },
  {
    re: /^WARNING: CPU: (\d{1,5}) PID: (\d{1,10}) (?:at )?/,
    kind: 'warning',
    who: (m) => ({ cpu: num(m[1]), pid: num(m[2]) }),
  },
  { re: /^WARNING: /, kind: 'warning' },
  { re: /^Badness (?:at|in) /, kind: 'warning' },
  { re: OOPS_LINE, kind: 'oops', role: 'oops' },
  { re: /^Unable to handle kernel NULL pointer dereference/, kind: 'null-deref' },
  { re: /^Unable to handle kernel /, kind: 'oops' },
  // mips: `CPU 0 Unable to handle kernel paging request at virtual address …, epc == …, ra == …`
  { re: /^CPU \d{1,5} Unable to handle kernel /, kind: 'oops' },
  { re: /^Kernel panic - not syncing/, kind: 'panic' },
  {
    re: /^INFO: task (.{1,64}):(\d{1,10}) blocked for more than/,
    kind: 'hung-task',
    who: (m) => ({ comm: m[1], pid: num(m[2]) }),
  },
  { re: /^(?:rcu: )?INFO: (?:rcu_\w{1,16}|RCU|rcu) .{0,60}stall/, kind: 'rcu-stall' },
  {
    re: /^(?:[\w ]{1,32}: )?Watchdog detected hard LOCKUP on cpu (\d{1,5})/,
    kind: 'hard-lockup',
    who: (m) => ({ cpu: num(m[1]) }),
  },
  { re: /^(\S{1,64}) invoked oom-killer: /, kind: 'oom', who: (m) => ({ comm: m[1] }) },
  { re: /^(\S{1,64}): page allocation failure: /, kind: 'alloc-failure', who: (m) => ({ comm: m[1] }) },
  { re: /^UBSAN: /, kind: 'ubsan' },
  { re: /^NMI backtrace for cpu (\d{1,5})/, kind: 'backtrace', role: 'nmi', who: (m) => ({ cpu: num(m[1]) }) },
];

const MAX_HEADER = 1024;

// Most lines start with none of these; checking one character first skips ~30 regexes for them.
const FIRST_CHARS = new Set('BkWOIUKgisdabNr['.split(''));
const MID_LINE = /BUG: soft lockup|Watchdog detected hard LOCKUP| invoked oom-killer: |: page allocation failure: |^CPU \d+ Unable to handle/;

export function detectHeader(t: string): Header | undefined {
  if (t.length === 0) return undefined;
  const head = t.length > MAX_HEADER ? t.slice(0, MAX_HEADER) : t;
  if (!FIRST_CHARS.has(t[0]) && !MID_LINE.test(head)) return undefined;
  for (const r of RULES) {
    const m = r.re.exec(head);
    if (!m) continue;
    const who = r.who ? r.who(m) : {};
    return { role: r.role ?? 'start', kind: r.kind, cpu: who.cpu, pid: who.pid, comm: who.comm };
  }
  return undefined;
}

/** Kind of a report opened by an `Oops…[#N]` line on its own. */
export function oopsLineKind(t: string): ReportKind {
  return /^(?:Internal error: Oops - BUG|Kernel BUG|invalid opcode)/.test(t) ? 'bug' : 'oops';
}

export function isCutHere(t: string): boolean {
  return /^-{4,40}\[ cut here \]-{4,40}$/.test(t);
}

/** `=====…` opens a sanitizer or lockdep report and closes a sanitizer report. */
export function isSeparator(t: string): boolean {
  return t.length >= 20 && t.length <= 200 && /^={20,200}$/.test(t);
}

export function isEndMarker(t: string): boolean {
  return /^---\[ end (?:trace(?: [0-9a-f]{1,16})?|Kernel panic[^\]]{0,400}) \]---/.test(t);
}

/** Kinds whose report is closed by a `=====` line. */
export const SEPARATED_KINDS: ReadonlySet<ReportKind> = new Set(['kasan', 'kcsan', 'kmsan', 'ubsan', 'kfence']);

/** Kinds that collect the `NMI backtrace for cpu N` dumps that follow them as sections. */
export const MULTI_CPU_KINDS: ReadonlySet<ReportKind> = new Set([
  'rcu-stall',
  'hard-lockup',
  'soft-lockup',
  'backtrace',
  'hung-task',
]);

/** Kinds an `Oops … [#N]` line continues when it follows their header closely. */
export const OOPS_CONTINUES: ReadonlySet<ReportKind> = new Set(['null-deref', 'oops', 'bug']);
