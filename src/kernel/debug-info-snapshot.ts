/**
 * Symbols and struct layouts looked up once, then answered without asking again.
 *
 * Whatever serves gdb over RSP (kdap's task overlay, a crash dump's server) needs kernel debug
 * info to answer gdb, but cannot ask that same gdb while gdb waits for its answer: the MI
 * command would queue behind the packet gdb is waiting on. So the helpers it will run are
 * probed beforehand against the real source (gdb before it connects, or any other Target), and
 * what they looked up, found or not, is kept here. A lookup that was never recorded is a
 * programming error and says so.
 */
import { DebugInfoError } from './struct';
import { joinTarget, type StructLayout, type Target, type TargetMemory } from './target';

export type DebugInfoSource = Pick<Target, 'arch' | 'symbol' | 'layout'>;

const KERNEL_HALF = 1n << 63n;

export class DebugInfoSnapshot {
  private constructor(
    readonly arch: Target['arch'],
    private readonly symbols: ReadonlyMap<string, bigint | undefined>,
    private readonly layouts: ReadonlyMap<string, StructLayout | undefined>,
  ) {}

  /** KASLR's slide, added to every kernel-half symbol recorded before it was known. */
  private slide = 0n;

  /**
   * The kernel was found moved by `slide` after the snapshot was taken. Symbols linked at 0
   * (x86_64's per-CPU offsets) stay where they are: KASLR does not move them.
   */
  relocate(slide: bigint): void {
    this.slide += slide;
  }

  /**
   * Runs `probes` against `source` and keeps every symbol and layout they looked up. The probes
   * see a Target without memory: they may only look things up.
   */
  static async record(source: DebugInfoSource, ...probes: Array<(target: Target) => Promise<unknown>>): Promise<DebugInfoSnapshot> {
    const symbols = new Map<string, bigint | undefined>();
    const layouts = new Map<string, StructLayout | undefined>();
    const noMemory = (): Promise<never> => Promise.reject(new Error('a debug-info probe may not read memory'));
    const recorder: Target = {
      arch: source.arch,
      readVirtual: noMemory,
      readPhysical: noMemory,
      registers: noMemory,
      cpus: noMemory,
      symbol: async (name) => {
        if (!symbols.has(name)) symbols.set(name, await source.symbol(name));
        return symbols.get(name);
      },
      layout: async (name) => {
        if (!layouts.has(name)) layouts.set(name, await source.layout(name));
        return layouts.get(name);
      },
    };
    for (const probe of probes) await probe(recorder);
    return new DebugInfoSnapshot(source.arch, symbols, layouts);
  }

  async symbol(name: string): Promise<bigint | undefined> {
    if (!this.symbols.has(name)) throw new DebugInfoError(`symbol ${name} was not looked up before the snapshot of the debug info was taken`);
    const linked = this.symbols.get(name);
    return linked !== undefined && linked >= KERNEL_HALF ? linked + this.slide : linked;
  }

  async layout(name: string): Promise<StructLayout | undefined> {
    if (!this.layouts.has(name)) throw new DebugInfoError(`struct ${name} was not looked up before the snapshot of the debug info was taken`);
    return this.layouts.get(name);
  }

  /** A Target with this snapshot's debug info and someone else's memory. */
  withMemory(memory: TargetMemory): Target {
    return joinTarget(this.arch, memory, this);
  }
}
