/** What DWARF says beyond struct layouts, asked of gdb: no target access, so no line traffic. */
import type { GdbBackend } from '../gdb/backend';
import * as data from '../gdb/mi/data';
import type { DebugInfoProbe } from '../kernel/arch/arch';
import { bestEffort, ignore } from './errors';

/** Size of a global or a type from DWARF (`sizeof(x)`). */
async function sizeOf(gdb: GdbBackend, expression: string): Promise<number | undefined> {
  try {
    const text = await data.evaluate(gdb, `sizeof(${expression})`);
    const n = Number(/\d+/.exec(text)?.[0]);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch (err) {
    ignore(err, `sizeof(${expression})`);
    return undefined;
  }
}

/**
 * Page-table levels in use, from which level types are folded: pgtable-nopXd.h wraps the
 * folded level's type around the one above (`pud_t` is `struct { p4d_t p4d; }` when PUD is
 * folded). Types only, read from DWARF.
 */
async function pageTableLevels(gdb: GdbBackend): Promise<number> {
  let levels = 5;
  for (const [type, inner] of [['p4d_t', 'pgd'], ['pud_t', 'p4d'], ['pmd_t', 'pud']] as const) {
    const text = await bestEffort(gdb.console(`ptype ${type}`), `ptype ${type}`, '');
    if (new RegExp(`\\b${inner}_t ${inner};`).test(text)) levels--;
  }
  return levels;
}

export function debugInfoProbe(gdb: GdbBackend): DebugInfoProbe {
  return { sizeOf: (expression) => sizeOf(gdb, expression), pageTableLevels: () => pageTableLevels(gdb) };
}
