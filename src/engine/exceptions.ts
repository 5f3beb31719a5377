/**
 * Where a kernel exception happened, read from the reporting function's arguments when it
 * stops: the user wants the faulting instruction at the top of the stack, not `__die`.
 *
 *   __die(str, regs, err)                       x86 Oops        regs->ip
 *   die(str, regs, err)                          arm64 Oops      regs->pc
 *   __warn(file, line, caller, taint, regs, …)   WARN            regs->ip/pc, else caller
 *   report_bug(bugaddr, regs)                    x86 BUG         bugaddr
 *   bug_handler(regs, esr)                       arm64 BUG       regs->pc
 *   kasan_report(addr, size, is_write, ip)       KASAN           ip (and addr is the bad access)
 */
import type { GdbBackend } from '../gdb/backend';
import * as data from '../gdb/mi/data';
import { archOps } from '../kernel/arch';
import type { Arch } from '../kernel/target';
import { bestEffort, ignore } from './errors';

export interface FaultSite {
  pc: bigint;
  func?: string;
  offset?: number;
  file?: string;
  line?: number;
  /** A gdb expression for the interrupted context, when there is one (`*regs`). */
  regs?: string;
  /** For KASAN: the address of the bad access. */
  accessAddress?: bigint;
}

/** Expressions that give the faulting pc for each reporting function, most precise first. */
function candidates(arch: Arch, func: string): string[] {
  const pc = archOps(arch).ptRegs.pc;
  switch (func) {
    case '__die':
    case 'die':
    case 'bug_handler':
      return [`regs->${pc}`];
    case '__warn':
      return [`regs ? regs->${pc} : (unsigned long)caller`, '(unsigned long)caller'];
    case 'report_bug':
      return ['bugaddr'];
    case 'kasan_report':
      return ['ip'];
    default:
      return [];
  }
}

async function tryEvaluate(gdb: GdbBackend, thread: number, expression: string): Promise<bigint | undefined> {
  try {
    const text = await data.evaluate(gdb, `(unsigned long)(${expression})`, { thread, frame: 0 });
    const m = /^(0x[0-9a-f]+|\d+)/i.exec(text.trim());
    return m ? BigInt(m[1]) : undefined;
  } catch (err) {
    ignore(err, `evaluating ${expression}`);
    return undefined;
  }
}

/** Reads the fault site at a stop in `func` on `thread`; undefined where the function has none (panic). */
export async function faultSite(gdb: GdbBackend, arch: Arch, func: string | undefined, thread: number): Promise<FaultSite | undefined> {
  if (!func) return undefined;
  let pc: bigint | undefined;
  for (const expression of candidates(arch, func)) {
    pc = await tryEvaluate(gdb, thread, expression);
    if (pc) break;
  }
  if (!pc) return undefined;
  const site: FaultSite = { pc };
  if (func !== 'report_bug' && func !== 'kasan_report' && (await tryEvaluate(gdb, thread, 'regs'))) site.regs = '*regs';
  if (func === 'kasan_report') site.accessAddress = await tryEvaluate(gdb, thread, 'addr');
  await describe(gdb, site);
  return site;
}

/**
 * Fills function, offset, file and line of `site.pc`. `info line *pc` names the line's first
 * address with its symbol and offset, which gives pc's own: one gdb query; `info symbol` only
 * when it names none.
 */
export async function describe(gdb: GdbBackend, site: FaultSite): Promise<void> {
  const address = `0x${site.pc.toString(16)}`;
  const line = await bestEffort(gdb.console(`info line *${address}`), 'info line', '');
  const l = /Line (\d+) of "([^"]+)"/.exec(line);
  if (l) {
    site.line = Number(l[1]);
    site.file = l[2];
  }
  const at = symbolAt(line, site.pc);
  if (at) {
    site.func = at.func;
    site.offset = at.offset;
    return;
  }
  const symbol = await bestEffort(gdb.console(`info symbol ${address}`), 'info symbol', '');
  const s = /^(\S+)(?: \+ (\d+))? in section/m.exec(symbol);
  if (s) {
    site.func = s[1];
    site.offset = s[2] ? Number(s[2]) : 0;
  }
}

/**
 * pc's symbol and offset from `info line`'s `starts at address 0x… <f+n>` (the line's first
 * address, at or below pc) or `No line number information available for address 0x… <f+n>`.
 */
export function symbolAt(text: string, pc: bigint): { func: string; offset: number } | undefined {
  const m = /(?:starts at address|available for address) (0x[0-9a-f]+) <([^>+\s]+)(?:\+(\d+))?>/.exec(text);
  if (!m) return undefined;
  const delta = pc - BigInt(m[1]);
  // A line's code never starts after pc, and spans far less than a page.
  if (delta < 0n || delta >= 4096n) return undefined;
  return { func: m[2], offset: Number(m[3] ?? 0) + Number(delta) };
}

export function describeSite(label: string, site: FaultSite | undefined, fallbackFunc?: string): string {
  if (!site) return `${label} in ${fallbackFunc ?? '??'}`;
  const where = site.func ? `${site.func}+0x${(site.offset ?? 0).toString(16)}` : `0x${site.pc.toString(16)}`;
  const src = site.file ? ` (${site.file}${site.line ? `:${site.line}` : ''})` : '';
  const access = site.accessAddress !== undefined ? `, bad access at 0x${site.accessAddress.toString(16)}` : '';
  return `${label} at ${where}${src}${access}`;
}
