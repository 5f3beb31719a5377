/**
 * The descriptive lines of a report: who was running (`CPU: 1 PID: 94 Comm: sh Tainted: …`),
 * the taint, the loaded modules, the machine.
 */

export interface TaskLine {
  cpu: number | undefined;
  pid: number;
  comm: string;
  /** Taint letters without padding and without the leading `G` (which means "all GPL", no taint). */
  taint: string;
  release: string | undefined;
}

const CPU_LINE = /^CPU: (\d{1,5}) (?:UID: \d{1,10} )?PID: (\d{1,10}) Comm: (.{1,64}?) (Not tainted|Tainted: )/;
// 2.6/3.x x86: `Pid: 1234, comm: foo Not tainted 3.2.0 #1 Dell Inc. …`
const OLD_PID_LINE = /^Pid: (\d{1,10}), comm: (.{1,64}?) (Not tainted|Tainted: )/;
const TAINT_LETTERS = /^[A-Z ]{1,40}/;
const RELEASE = /^ {0,40}(\S{1,128})/;

function taintAndRelease(rest: string, tainted: boolean): { taint: string; release: string | undefined } {
  let taint = '';
  if (tainted) {
    const letters = TAINT_LETTERS.exec(rest)?.[0] ?? '';
    // The release usually starts with a digit; stop the letters at the last run of blanks.
    const cut = letters.trimEnd().length;
    taint = letters.slice(0, cut).replace(/ /g, '').replace(/^G/, '');
    rest = rest.slice(cut);
  }
  const r = RELEASE.exec(rest);
  return { taint, release: r ? r[1] : undefined };
}

export function parseTaskLine(t: string): TaskLine | undefined {
  if (t.length > 1024) return undefined;
  const m = CPU_LINE.exec(t);
  if (m) {
    const tr = taintAndRelease(t.slice(m[0].length), m[4] !== 'Not tainted');
    return { cpu: Number(m[1]), pid: Number(m[2]), comm: m[3], ...tr };
  }
  const o = OLD_PID_LINE.exec(t);
  if (o) {
    const tr = taintAndRelease(t.slice(o[0].length), o[3] !== 'Not tainted');
    return { cpu: undefined, pid: Number(o[1]), comm: o[2], ...tr };
  }
  return undefined;
}

const MODULES = /^Modules linked in:/;

/** `Modules linked in: oopsmod(OE) binfmt_misc brd [last unloaded: foo]` → names. */
export function parseModules(t: string): string[] | undefined {
  if (t.charCodeAt(0) !== 77) return undefined;
  const m = MODULES.exec(t);
  if (!m) return undefined;
  const out: string[] = [];
  let bracket = false;
  for (const tok of t.slice(m[0].length).split(/\s+/)) {
    if (tok === '') continue;
    if (bracket || tok.startsWith('[')) {
      bracket = !tok.endsWith(']');
      continue;
    }
    const name = /^[A-Za-z0-9_-]{1,64}/.exec(tok);
    if (name) out.push(name[0]);
  }
  return out;
}

export function parseHardware(t: string): string | undefined {
  return t.startsWith('Hardware name: ') ? t.slice(15).trim() : undefined;
}

/** KASAN/KMSAN `Read of size 8 at addr … by task syz-executor0/30168`. */
export function parseAccessTask(t: string): { comm: string; pid: number } | undefined {
  const c = t.charCodeAt(0);
  if (c !== 82 && c !== 87) return undefined;
  const m = /^(?:Read|Write) of size \d{1,10} at addr [0-9a-f]{1,16} by task (.{1,64})\/(\d{1,10})$/.exec(t);
  return m ? { comm: m[1], pid: Number(m[2]) } : undefined;
}

/** Titles that start a section (`Call Trace:`, `Freed by task 12:`, lockdep's `-> #1 (…):` …). */
export function sectionTitle(t: string): string | undefined {
  if (t.length > 200) return undefined;
  if (/^(?:Call [Tt]race|Backtrace|Stack trace):?$/.test(t)) return t.replace(/:$/, '');
  if (/^Exception stack\(/.test(t)) return t;
  if (!t.endsWith(':') || t.length < 4) return undefined;
  if (!/^[A-Za-z\-#(]/.test(t) || t.startsWith('Modules linked in')) return undefined;
  return t.slice(0, -1);
}
