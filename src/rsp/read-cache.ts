/**
 * gdb's answers to kernel memory reads, kept while the kernel stays stopped. gdb's own cache
 * misses reads its unwinders repeat (arm64 reads each return address's instruction several
 * times per stop, x86_64's the unmapped page above an interrupt stack twice), and every miss is
 * a packet to the stub (a serial round trip under kgdb).
 * Kept per (gdb thread, read): a CPU whose page tables do not map some kernel page (KPTI in
 * user mode) answers as it would have. Only reads of the kernel half, in virtual mode, are kept;
 * any packet that could change memory or how it is translated (a write, a breakpoint, a
 * register, a resume, a monitor command, physical mode) drops everything.
 */
const KERNEL_HALF = 1n << 63n;
const MAX_ENTRIES = 4096;

/** Packets after which what was read still holds: reads, thread selection and queries. */
export function keepsMemory(p: string): boolean {
  if (p.startsWith('qRcmd,')) return false;
  return /^[mgpHTq?]/.test(p) || p === 'vCont?';
}

export class StopReadCache {
  private readonly answers = new Map<string, Buffer>();

  /** The key of an `m addr,len` packet of the kernel half, else undefined (not kept). */
  static keyOf(thread: string, p: string): string | undefined {
    const m = /^m([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8})$/.exec(p);
    if (!m || BigInt(`0x${m[1]}`) < KERNEL_HALF) return undefined;
    return `${thread}:${m[1].toLowerCase()},${m[2].toLowerCase()}`;
  }

  get(key: string): Buffer | undefined {
    return this.answers.get(key);
  }

  /**
   * Keeps an answer, an error too: a page the kernel does not map stays unmapped while it is
   * stopped, and gdb's x86_64 unwinder asks twice for the page above an interrupt stack's top.
   */
  put(key: string, reply: Buffer): void {
    if (reply.length === 0) return;
    if (this.answers.size >= MAX_ENTRIES) this.answers.clear();
    this.answers.set(key, reply);
  }

  clear(): void {
    this.answers.clear();
  }

  get size(): number {
    return this.answers.size;
  }
}
