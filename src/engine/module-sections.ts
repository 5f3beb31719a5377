/**
 * Where each section of a module's symbol file goes when gdb loads it: the kernel's address
 * for the sections the module has now, its per-CPU area for `.data..percpu`, and the park for
 * every other one (freed init sections, `.modinfo`, `__versions`).
 *
 * The park: bits 63..47 not all equal is non-canonical on x86_64 (no access can reach it), and
 * on arm64 it is outside both translation ranges, so no kernel code runs there. One 16 MiB
 * window per load, reused after 65536 loads.
 */
import type { KernelModule } from '../kernel/module';
import type { ModuleFile } from './module-files';

const PARK_BASE = 0x7f00_0000_0000_0000n;
const PARK_WINDOW = 0x100_0000n;
const PARK_WINDOWS = 0x10000n;

/** The `n`th load's park window. */
export function parkWindow(n: bigint): { start: bigint; end: bigint } {
  const start = PARK_BASE + (n % PARK_WINDOWS) * PARK_WINDOW;
  return { start, end: start + PARK_WINDOW };
}

export function inPark(address: bigint): boolean {
  return address >= PARK_BASE && address < PARK_BASE + PARK_WINDOW * PARK_WINDOWS;
}

/** `.init.text`, `.init.data`, `.init.rodata`, `.init_array`…: what the kernel frees after init. */
export function isInitSection(name: string): boolean {
  return name.startsWith('.init');
}

/**
 * An address for every SHF_ALLOC section of the file: the kernel's for the live ones, the
 * per-CPU area for `.data..percpu`, a page-aligned slot in the park for the rest.
 */
export function placeSections(module: KernelModule, file: Pick<ModuleFile, 'sections'>, park: bigint): Map<string, bigint> {
  const out = new Map<string, bigint>();
  let next = park;
  for (const [name, size] of file.sections) {
    const live = module.sections.get(name);
    if (live !== undefined) out.set(name, live);
    else if (name === '.data..percpu' && module.percpu) out.set(name, module.percpu.base);
    else {
      out.set(name, next);
      next += (size + 0xfffn) & ~0xfffn || 0x1000n;
    }
  }
  return out;
}
