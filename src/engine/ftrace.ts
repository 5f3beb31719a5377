/**
 * Kernels built with -fpatchable-function-entry (Debian arm64: `ArchOps.patchableFunctionEntry`)
 * have two locations per ftrace-able function, 8 bytes apart: the NOP pad at the ELF symbol and
 * the DWARF entry. The first stop would have no arguments; the NOP location is disabled so the
 * user sees one stop, with arguments.
 */
import type { GdbBackend } from '../gdb/backend';
import * as bp from '../gdb/mi/breakpoints';
import { archOps } from '../kernel/arch';
import type { Arch } from '../kernel/target';
import { bestEffort } from './errors';

/**
 * gdb reports the pad location without a function name (and with a bogus line), the entry
 * 8 bytes later with both; disable every location that sits 8 bytes before another one.
 */
export async function dedupeFtraceLocations(gdb: GdbBackend, arch: Arch, b: bp.Breakpoint): Promise<void> {
  if (!archOps(arch).patchableFunctionEntry || b.locations.length < 2) return;
  const addresses = new Map(b.locations.filter((l) => l.address !== undefined).map((l) => [l.address!, l]));
  for (const pad of b.locations) {
    if (pad.address === undefined) continue;
    const entry = addresses.get(pad.address + 8n);
    if (!entry || (pad.func !== undefined && entry.func !== undefined && pad.func !== entry.func)) continue;
    await bestEffort(bp.disableLocation(gdb, pad.number), 'disabling an ftrace pad location');
    pad.enabled = false;
  }
}
