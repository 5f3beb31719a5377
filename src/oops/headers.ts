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
  /** The characters a match can start with, or… */
  first?: string;
  /** …text a matching line always contains (for headers with a variable lead). */
  contains?: string;
  /** Pulls cpu/pid/comm out of the header match. */
  who?: (m: RegExpExecArray) => Partial<Pick<Header, 'cpu' | 'pid' | 'comm'>>;
}

const num = (s: string | undefined): number | undefined => (s === undefined ? undefined : Number(s));

const OOPS_LINE =
  /^(?:Oops|Internal error:|Kernel BUG|general protection fault|invalid opcode|stack segment|double fault|divide error|int3|alignment check|segment not present|invalid TSS|bounds|kernel stack overflow|Kernel bug detected)[^[]{0,300}\[#\d{1,6}\]/;

// Order matters: the first matching rule wins.
const RULES: Rule[] = [
  { first: 'B', re: /^BUG: (?:kernel NULL pointer dereference|unable to handle kernel NULL pointer dereference)/, kind: 'null-deref' },
  { first: 'B', re: /^BUG: unable to handle /, kind: 'oops' },
  { first: 'B', re: /^BUG: KASAN: /, kind: 'kasan' },
  { first: 'B', re: /^BUG: KFENCE: /, kind: 'kfence' },
  { first: 'B', re: /^BUG: KCSAN: /, kind: 'kcsan' },
  { first: 'B', re: /^BUG: KMSAN: /, kind: 'kmsan' },
  {
    contains: 'BUG: soft lockup',
    re: /^(?:[\w ]{1,32}: )?BUG: soft lockup - CPU#(\d{1,5}) stuck for \d{1,9}s! \[(.{1,64}):(\d{1,10})\]/,
    kind: 'soft-lockup',
    who: (m) => ({ cpu: num(m[1]), comm: m[2], pid: num(m[3]) }),
  },
  { contains: 'BUG: soft lockup', re: /^(?:[\w ]{1,32}: )?BUG: soft lockup/, kind: 'soft-lockup' },
  {
    first: 'B',
    re: /^BUG: scheduling while atomic: (.{1,64})\/(\d{1,10})\//,
    kind: 'bug',
    who: (m) => ({ comm: m[1], pid: num(m[2]) }),
  },
  { first: 'B', re: /^BUG: /, kind: 'bug' },
  { first: 'B', re: /^BUG [\w.:-]{1,64} \((?:Not tainted|Tainted: [^)]{0,40})\): /, kind: 'bug' },
  { first: 'k', re: /^kernel BUG at /, kind: 'bug' },
  {
    first: 'W',
    re: /^WARNING: (?:possible |inconsistent lock state|bad unlock balance|held lock freed|lock held |nested lock was not taken|suspicious RCU usage|[A-Z]{4,8}-(?:safe|unsafe|READ|irq)|.{0,60}lock order detected|.{0,60}locking dependency)/,
    kind: 'lockdep',
  },
  { first: '[', re: /^\[ INFO: (?:possible |inconsistent |suspicious RCU|.{0,60}lock)[^\]]{0,120}\]/, kind: 'lockdep' },
  {
    first: 'W',
    re: /^WARNING: CPU: (\d{1,5}) PID: (\d{1,10}) (?:at )?/,
    kind: 'warning',
    who: (m) => ({ cpu: num(m[1]), pid: num(m[2]) }),
  },
  { first: 'W', re: /^WARNING: /, kind: 'warning' },
  { first: 'B', re: /^Badness (?:at|in) /, kind: 'warning' },
  { first: 'OIKgisdabk', re: OOPS_LINE, kind: 'oops', role: 'oops' },
  { first: 'U', re: /^Unable to handle kernel NULL pointer dereference/, kind: 'null-deref' },
  { first: 'U', re: /^Unable to handle kernel /, kind: 'oops' },
  // mips: `CPU 0 Unable to handle kernel paging request at virtual address …, epc == …, ra == …`
  { first: 'C', re: /^CPU \d{1,5} Unable to handle kernel /, kind: 'oops' },
  { first: 'K', re: /^Kernel panic - not syncing/, kind: 'panic' },
  {
    first: 'I',
    re: /^INFO: task (.{1,64}):(\d{1,10}) blocked for more than/,
    kind: 'hung-task',
    who: (m) => ({ comm: m[1], pid: num(m[2]) }),
  },
  { first: 'rI', re: /^(?:rcu: )?INFO: (?:rcu_\w{1,16}|RCU|rcu) .{0,60}stall/, kind: 'rcu-stall' },
  {
    contains: 'Watchdog detected hard LOCKUP',
    re: /^(?:[\w ]{1,32}: )?Watchdog detected hard LOCKUP on cpu (\d{1,5})/,
    kind: 'hard-lockup',
    who: (m) => ({ cpu: num(m[1]) }),
  },
  { contains: ' invoked oom-killer: ', re: /^(\S{1,64}) invoked oom-killer: /, kind: 'oom', who: (m) => ({ comm: m[1] }) },
  { contains: ': page allocation failure: ', re: /^(\S{1,64}): page allocation failure: /, kind: 'alloc-failure', who: (m) => ({ comm: m[1] }) },
  { first: 'U', re: /^UBSAN: /, kind: 'ubsan' },
  { first: 'N', re: /^NMI backtrace for cpu (\d{1,5})/, kind: 'backtrace', role: 'nmi', who: (m) => ({ cpu: num(m[1]) }) },
];

const MAX_HEADER = 1024;

/** Every rule with every field present, so the loop below sees one object shape. */
type ShapedRule = Required<Omit<Rule, 'who'>> & Pick<Rule, 'who'>;
const SHAPED: ShapedRule[] = RULES.map((r) => ({ re: r.re, kind: r.kind, role: r.role ?? 'start', first: r.first ?? '', contains: r.contains ?? '', who: r.who }));

/** The rules a line starting with a character can match, in order; rules with a variable lead are in every list. */
const BY_FIRST = new Map<string, ShapedRule[]>();
const ANY_FIRST = SHAPED.filter((r) => r.contains !== '');
for (const r of SHAPED) for (const ch of r.first) BY_FIRST.set(ch, SHAPED.filter((x) => x.contains !== '' || x.first.includes(ch)));

/**
 * Where the text after a short `lead: ` ends (`watchdog: BUG: soft lockup`), or -1. Headers with a
 * variable lead have their fixed text there, right after the first word (`comm invoked
 * oom-killer`) or just before its blank (`comm: page allocation failure`).
 */
function leadEnd(head: string, firstBlank: number): number {
  const c = head.indexOf(': ');
  return c > 0 && c <= 33 && (firstBlank < 0 || c <= firstBlank + 32) ? c + 2 : -1;
}

export function detectHeader(t: string): Header | undefined {
  if (t.length === 0) return undefined;
  const head = t.length > MAX_HEADER ? t.slice(0, MAX_HEADER) : t;
  const firstBlank = head.indexOf(' ');
  let lead = -2;
  for (const r of BY_FIRST.get(t[0]) ?? ANY_FIRST) {
    if (r.contains !== '') {
      if (lead === -2) lead = leadEnd(head, firstBlank);
      if (!head.startsWith(r.contains, 0) && !(lead > 0 && head.startsWith(r.contains, lead)) && !head.startsWith(r.contains, firstBlank) && !head.startsWith(r.contains, firstBlank - 1)) continue;
    }
    const m = r.re.exec(head);
    if (!m) continue;
    const who = r.who ? r.who(m) : {};
    return { role: r.role, kind: r.kind, cpu: who.cpu, pid: who.pid, comm: who.comm };
  }
  return undefined;
}

/** Kind of a report opened by an `Oops…[#N]` line on its own. */
export function oopsLineKind(t: string): ReportKind {
  return /^(?:Internal error: Oops - BUG|Kernel BUG|invalid opcode)/.test(t) ? 'bug' : 'oops';
}

export function isCutHere(t: string): boolean {
  return t.charCodeAt(0) === 45 && /^-{4,40}\[ cut here \]-{4,40}$/.test(t);
}

/** `=====…` opens a sanitizer or lockdep report and closes a sanitizer report. */
export function isSeparator(t: string): boolean {
  return t.charCodeAt(0) === 61 && t.length >= 20 && t.length <= 200 && /^={20,200}$/.test(t);
}

export function isEndMarker(t: string): boolean {
  return t.charCodeAt(0) === 45 && /^---\[ end (?:trace(?: [0-9a-f]{1,16})?|Kernel panic[^\]]{0,400}) \]---/.test(t);
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
