/**
 * Where a CPU's page tables map anything inside a virtual range, in address order: the start of
 * each run of mapped addresses, with the physical address behind it. Used to find where a
 * randomized kernel put its image, and good for any "what is mapped here" question.
 *
 * Cost model: the tables are read lazily, one `readPhysical` per table visited, of only the
 * entries that overlap the range (x86's kernel-image window is one 4 KiB slice of one PMD table).
 * A consumer that stops at the first good run pays for the tables up to that run only. The
 * budget bounds the number of table reads whatever the layout.
 */
import { archOps } from './arch';
import type { PagingOverride, TableLevel } from './arch/arch';
import { FaultError, type Target } from './target';

export interface MappedRunStart {
  /** First mapped VA of the run (may lie below the range when a large block straddles its start). */
  readonly va: bigint;
  readonly phys: bigint;
}

export interface MappedRangesOptions {
  readonly cpu: number;
  /** The range, [lo, hi), in one half of the address space. */
  readonly lo: bigint;
  readonly hi: bigint;
  readonly override?: PagingOverride;
  /** Most tables read (default 64). */
  readonly maxTables?: number;
}

const MASK64 = (1n << 64n) - 1n;

/**
 * Yields the start of every run of mapped addresses in [lo, hi) through CPU `cpu`'s page tables.
 * Throws TranslationFault when the paging registers are missing; unreadable tables are skipped.
 */
export async function* mappedRunStarts(target: Target, options: MappedRangesOptions): AsyncGenerator<MappedRunStart> {
  const hooks = archOps(target.arch).paging;
  const registers = await target.registers(options.cpu, hooks.registers);
  const config = hooks.config(registers, options.override ?? {});
  const plan = hooks.plan(options.lo, config, undefined);
  const { lo, hi } = options;
  let tables = options.maxTables ?? 64;
  let runEnd: bigint | undefined;

  async function* visit(depth: number, table: bigint, base: bigint): AsyncGenerator<MappedRunStart> {
    const level: TableLevel = plan.levels[depth];
    const shift = BigInt(level.shift);
    const entries = BigInt(level.entries);
    const first = lo > base ? (lo - base) >> shift : 0n;
    const last = hi - 1n - base >= entries << shift ? entries - 1n : (hi - 1n - base) >> shift;
    if (first > last || tables <= 0) return;
    tables--;
    let bytes: Uint8Array;
    try {
      bytes = await target.readPhysical(table + first * 8n, Number((last - first + 1n) * 8n));
    } catch (err) {
      if (err instanceof FaultError) return;
      throw err;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let j = first; j <= last; j++) {
      const raw = view.getBigUint64(Number(j - first) * 8, true);
      const va = (base + (j << shift)) & MASK64;
      let entry;
      try {
        entry = hooks.decode(raw, level, config);
      } catch {
        continue;
      }
      if (entry.kind === 'table' && entry.address !== null && depth + 1 < plan.levels.length) {
        yield* visit(depth + 1, entry.address, va);
      } else if (entry.kind === 'leaf' && entry.address !== null) {
        if (runEnd !== va) yield { va, phys: entry.address };
        runEnd = va + (entry.size ?? 1n << shift);
      }
    }
  }

  const top = plan.levels[0];
  const span = BigInt(top.entries) << BigInt(top.shift);
  yield* visit(0, plan.root, lo & ~(span - 1n) & MASK64);
}
