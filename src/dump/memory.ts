/** What every dump format gives the rest: guest-physical memory, read by page on demand. */

export interface PhysRange {
  readonly start: bigint;
  readonly end: bigint;
}

export interface PhysicalMemory {
  /** Physical ranges the dump describes, sorted; holes are not RAM (or not described). */
  readonly ranges: readonly PhysRange[];
  /**
   * `length` bytes at physical `address`. Throws NotInDumpError (a FaultError) naming the first
   * missing byte and why it is missing: outside the dump's RAM, filtered out, lost.
   */
  read(address: bigint, length: number): Uint8Array;
}

/** Merges touching or overlapping ranges of a sorted list. */
export function mergeRanges(ranges: readonly PhysRange[]): PhysRange[] {
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: PhysRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) out[out.length - 1] = { start: last.start, end: r.end > last.end ? r.end : last.end };
    else out.push(r);
  }
  return out;
}
