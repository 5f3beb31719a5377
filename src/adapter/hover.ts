/**
 * Debug hovers that know about page tables: a page-table entry (`pte_t`, `pmdval_t`, `.pte`…)
 * gets its decode (kdap/decodePte) after gdb's value, and a pointer gets where it maps
 * (kdap/walk). Done in the adapter, in `evaluate` with context "hover", so every DAP client
 * shows it. A decoration is a bonus: whatever goes wrong leaves gdb's answer as it was.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { LinuxLevel } from '../kernel/arch/arch';
import type { CustomRequests } from './protocol';
import { ignore } from '../engine/errors';

export const hoverSeparator = '  ·  ';

export type HoverSubject =
  | { kind: 'entry'; level: LinuxLevel; struct: boolean }
  | { kind: 'pointer'; address: bigint };

/** What the decoration needs from the session: gdb's print, and the two kernel requests. */
export interface HoverBackend {
  print(expression: string): Promise<string>;
  request(command: 'kdap/walk' | 'kdap/decodePte', args: unknown): Promise<unknown>;
}

type Decoded = CustomRequests['kdap/decodePte']['result'];
type Walked = CustomRequests['kdap/walk']['result'];

const levelNames: Readonly<Record<string, LinuxLevel>> = { pte: 'PTE', pmd: 'PMD', pud: 'PUD', p4d: 'P4D', pgd: 'PGD' };

/** The type gdb names without qualifiers and spacing: `const pte_t` → `pte_t`, `char * const` → `char*`. */
function bareType(type: string): string {
  return type
    .replace(/\b(const|volatile|restrict|__restrict)\b/g, ' ')
    .replace(/\s*\*\s*/g, '*')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * What a hovered value is, from its gdb type, its expression and its value text; undefined for
 * anything the page tables have nothing to say about.
 */
export function hoverSubject(type: string | undefined, expression: string, value: string): HoverSubject | undefined {
  if (!type) return undefined;
  const t = bareType(type);
  // include/linux/pgtable-nop4d.h and friends fold a level into a struct of the next one up
  // (p4d_t is { pgd_t pgd; }): the type's own name is the level it is used as.
  const entry = /^(pte|pmd|pud|p4d|pgd)_t$/.exec(t);
  if (entry) return { kind: 'entry', level: levelNames[entry[1]], struct: true };
  const val = /^(pte|pmd|pud|p4d|pgd)val_t$/.exec(t);
  if (val) return { kind: 'entry', level: levelNames[val[1]], struct: false };
  // A member `.pte` whose typedef gdb did not keep (`unsigned long pte`).
  const member = /(?:\.|->)\s*(pte|pmd|pud|p4d|pgd)\s*$/.exec(expression);
  if (member && /^(unsigned )?(long|long long|int|u64|u32|__u64|uint64_t)( int)?$/.test(t)) {
    return { kind: 'entry', level: levelNames[member[1]], struct: false };
  }
  if (t.endsWith('*')) {
    const address = parseAddress(value);
    if (address !== undefined && address !== 0n) return { kind: 'pointer', address };
  }
  return undefined;
}

/** The address at the start of a gdb pointer value: `0xffff888004a88cc0 <init_task>`, `(pte_t *) 0x…`. */
export function parseAddress(value: string): bigint | undefined {
  const m = /^(?:\([^)]*\)\s*)?(0x[0-9a-f]+)\b/i.exec(value.trim());
  return m ? BigInt(m[1]) : undefined;
}

/**
 * The one integer in gdb's print of an entry, however deep the folding nests it
 * (`{pgd = {pgd = 1234}}`), and the print with it in hex. Undefined unless there is exactly one.
 */
export function entryValue(printed: string): { value: bigint; text: string } | undefined {
  const numbers = [...printed.matchAll(/(?<![\w.])(0x[0-9a-f]+|\d+)(?![\w.])/gi)];
  if (numbers.length !== 1) return undefined;
  const value = BigInt.asUintN(64, BigInt(numbers[0][1]));
  const text = printed.replace(numbers[0][0], hex(value));
  return { value, text };
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** `PTE/PTE page → phys 0x2a001000: kernel RW-, user ---, WB, global, dirty`. */
export function formatDecode(d: Decoded): string {
  const cut = d.summary.indexOf(': ');
  const what = cut < 0 ? d.summary : d.summary.slice(0, cut);
  const detail = cut < 0 ? '' : d.summary.slice(cut + 2);
  // entryToJson puts a table entry's next-table address in `phys` and says so in the detail.
  if (d.phys && !/^next table/.test(detail)) return `${what} → phys ${d.phys}${detail ? `: ${detail}` : ''}`;
  return detail ? `${what}: ${detail}` : what;
}

/** `→ phys 0x2a079c0, 4 KiB page: kernel RW-, …` or `→ not mapped: PMD[21] = 0x0: …`. */
export function formatWalk(w: Walked): string {
  if (w.phys === null) return `→ not mapped${w.fault ? `: ${w.fault}` : ''}`;
  const size = w.pageSize ? `, ${formatPageSize(w.pageSize)} page` : '';
  return `→ phys ${w.phys}${size}${w.summary ? `: ${w.summary}` : ''}`;
}

export function formatPageSize(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && v % 1024 === 0 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v} ${units[u]}`;
}

/**
 * gdb's hover answer with the page-table view appended. `cpu` is the vCPU of the hovered
 * frame: a user pointer means something only in that CPU's address space.
 */
export async function decorateHover(
  body: DebugProtocol.EvaluateResponse['body'],
  expression: string,
  backend: HoverBackend,
  cpu?: number,
): Promise<DebugProtocol.EvaluateResponse['body']> {
  try {
    const subject = hoverSubject(body.type, expression, body.result);
    if (!subject) return body;
    if (subject.kind === 'pointer') {
      const args: CustomRequests['kdap/walk']['args'] = { va: hex(subject.address), ...(cpu !== undefined ? { cpu } : {}) };
      const w = (await backend.request('kdap/walk', args)) as Walked;
      return { ...body, result: `${body.result}${hoverSeparator}${formatWalk(w)}` };
    }
    const entry = entryValue(subject.struct ? await backend.print(expression) : body.result);
    if (!entry) return body;
    const d = await decodeAtLevel(backend, entry.value, subject.level);
    return { ...body, result: `${entry.text}${hoverSeparator}${formatDecode(d)}` };
  } catch (err) {
    ignore(err, 'decorating a hover');
    return body;
  }
}

const upward: readonly LinuxLevel[] = ['PTE', 'PMD', 'PUD', 'P4D', 'PGD'];

/**
 * Decodes at the type's level, or the first level above it that the kernel's configuration has:
 * a folded level's entry is the next one up's (a 4-level x86 p4d_t is the PGD entry).
 */
async function decodeAtLevel(backend: HoverBackend, value: bigint, level: LinuxLevel): Promise<Decoded> {
  let last: unknown;
  for (const l of upward.slice(upward.indexOf(level))) {
    try {
      return (await backend.request('kdap/decodePte', { value: hex(value), level: l })) as Decoded;
    } catch (e) {
      last = e;
      if (!/no level/.test(e instanceof Error ? e.message : String(e))) throw e;
    }
  }
  throw last;
}
