/**
 * An in-memory Target for unit tests: sparse guest-physical memory, virtual ranges mapped onto it
 * (or translated through the image's own page tables), registers per CPU, symbols and layouts.
 * Every read outside what was written or declared as RAM throws FaultError, like a live target,
 * and every read is counted so tests can hold helpers to their read budget.
 */
import { walk, type WalkOptions } from './pagetable';
import { FaultError, type Arch, type StructLayout, type Target } from './target';

/** Backing is kept in 4 KiB frames whatever the guest's page size; only touched frames exist. */
const FRAME_SHIFT = 12n;
const FRAME_SIZE = 1n << FRAME_SHIFT;
const ADDRESS_LIMIT = 1n << 64n;

export interface ReadRecord {
  readonly space: 'physical' | 'virtual';
  readonly address: bigint;
  readonly length: number;
}

interface VirtualRange {
  readonly va: bigint;
  readonly pa: bigint;
  readonly size: bigint;
}

export class MemoryImage implements Target {
  /** Every readPhysical and readVirtual call, in order (walks done for virtual reads not included). */
  readonly reads: ReadRecord[] = [];
  private readonly frames = new Map<bigint, Uint8Array>();
  private readonly ram: Array<{ start: bigint; end: bigint }> = [];
  private readonly ranges: VirtualRange[] = [];
  private translation: WalkOptions | undefined;
  private readonly cpuRegisters: Array<Map<string, bigint>>;
  private readonly symbols = new Map<string, bigint>();
  private readonly layouts = new Map<string, StructLayout>();

  constructor(readonly arch: Arch, cpus = 1) {
    this.cpuRegisters = Array.from({ length: cpus }, () => new Map<string, bigint>());
  }

  // ---- building the image ----

  /** Declares zero-filled RAM at [start, start + size). */
  addRam(start: bigint, size: bigint): this {
    checkRange(start, size);
    this.ram.push({ start, end: start + size });
    return this;
  }

  /** Stores bytes at a physical address; the frames written become backing even outside RAM. */
  writePhysical(address: bigint, bytes: Uint8Array): this {
    checkRange(address, BigInt(bytes.length));
    for (let done = 0; done < bytes.length; ) {
      const at = address + BigInt(done);
      const frame = this.frame(at >> FRAME_SHIFT, true);
      const offset = Number(at & (FRAME_SIZE - 1n));
      const n = Math.min(bytes.length - done, frame.length - offset);
      frame.set(bytes.subarray(done, done + n), offset);
      done += n;
    }
    return this;
  }

  /** Stores a little-endian 64-bit value, the size of a page-table entry. */
  writeU64(address: bigint, value: bigint): this {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
    return this.writePhysical(address, bytes);
  }

  /** Maps [va, va + size) onto physical [pa, pa + size) for readVirtual. */
  mapVirtual(va: bigint, pa: bigint, size: bigint): this {
    checkRange(va, size);
    checkRange(pa, size);
    this.ranges.push({ va, pa, size });
    return this;
  }

  /** Makes readVirtual translate through the image's own page tables, as the MMU would. */
  translateThroughPageTables(options: WalkOptions = {}): this {
    this.translation = options;
    return this;
  }

  setRegisters(cpu: number, values: Readonly<Record<string, bigint>>): this {
    const registers = this.cpuRegisters[cpu];
    if (!registers) throw new RangeError(`no CPU ${cpu} in an image of ${this.cpuRegisters.length}`);
    for (const [name, value] of Object.entries(values)) registers.set(name, value);
    return this;
  }

  setSymbol(name: string, address: bigint): this {
    this.symbols.set(name, address);
    return this;
  }

  setLayout(layout: StructLayout): this {
    this.layouts.set(layout.name, layout);
    return this;
  }

  /** Number of reads of one kind so far. */
  count(space: ReadRecord['space']): number {
    return this.reads.filter((r) => r.space === space).length;
  }

  resetReads(): void {
    this.reads.length = 0;
  }

  // ---- Target ----

  async readPhysical(address: bigint, length: number): Promise<Uint8Array> {
    this.reads.push({ space: 'physical', address, length });
    return this.physical(address, length);
  }

  async readVirtual(address: bigint, length: number): Promise<Uint8Array> {
    this.reads.push({ space: 'virtual', address, length });
    checkRange(address, BigInt(length), () => new FaultError(address, length, 'beyond the 64-bit address space'));
    const out = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const va = address + BigInt(done);
      const { pa, available } = await this.translate(va, length);
      const n = Math.min(length - done, Number(available));
      out.set(this.physical(pa, n), done);
      done += n;
    }
    return out;
  }

  async registers(cpu: number, names: readonly string[]): Promise<Map<string, bigint>> {
    const registers = this.cpuRegisters[cpu];
    if (!registers) throw new RangeError(`no CPU ${cpu} in an image of ${this.cpuRegisters.length}`);
    const out = new Map<string, bigint>();
    for (const name of names) {
      const value = registers.get(name);
      if (value !== undefined) out.set(name, value);
    }
    return out;
  }

  async symbol(name: string): Promise<bigint | undefined> {
    return this.symbols.get(name);
  }

  async layout(structName: string): Promise<StructLayout | undefined> {
    return this.layouts.get(structName);
  }

  async cpus(): Promise<number> {
    return this.cpuRegisters.length;
  }

  // ---- internals ----

  private frame(number: bigint, create: boolean): Uint8Array {
    let frame = this.frames.get(number);
    if (!frame && create) {
      frame = new Uint8Array(Number(FRAME_SIZE));
      this.frames.set(number, frame);
    }
    return frame ?? ZERO_FRAME;
  }

  private physical(address: bigint, length: number): Uint8Array {
    checkRange(address, BigInt(length), () => new FaultError(address, length, 'beyond the 64-bit address space'));
    const out = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const at = address + BigInt(done);
      const number = at >> FRAME_SHIFT;
      const offset = Number(at & (FRAME_SIZE - 1n));
      let n = Math.min(length - done, Number(FRAME_SIZE) - offset);
      if (!this.frames.has(number)) {
        // An unwritten frame reads as zeros, but only the part of it that is declared RAM.
        const ram = this.ram.find((r) => at >= r.start && at < r.end);
        if (!ram) throw new FaultError(address, length, `no memory at physical 0x${at.toString(16)}`);
        n = Math.min(n, Number(ram.end - at));
      }
      out.set(this.frame(number, false).subarray(offset, offset + n), done);
      done += n;
    }
    return out;
  }

  /** Physical address of `va` and how many bytes from it stay contiguous. */
  private async translate(va: bigint, length: number): Promise<{ pa: bigint; available: bigint }> {
    const range = this.ranges.find((r) => va >= r.va && va - r.va < r.size);
    if (range) return { pa: range.pa + (va - range.va), available: range.size - (va - range.va) };
    if (this.translation) {
      // Walk an unrecorded view of the image so counts stay those of the caller's own reads.
      const view: Target = {
        arch: this.arch,
        readPhysical: async (a, n) => this.physical(a, n),
        readVirtual: (a, n) => this.readVirtual(a, n),
        registers: (c, names) => this.registers(c, names),
        symbol: (name) => this.symbol(name),
        layout: (name) => this.layout(name),
        cpus: () => this.cpus(),
      };
      const w = await walk(view, va, this.translation);
      if (w.phys !== null && w.pageSize !== null) {
        return { pa: w.phys, available: w.pageSize - (va & (w.pageSize - 1n)) };
      }
      throw new FaultError(va, length, w.fault ?? 'unmapped');
    }
    throw new FaultError(va, length, `no mapping for virtual 0x${va.toString(16)}`);
  }
}

const ZERO_FRAME = new Uint8Array(Number(FRAME_SIZE));

function checkRange(address: bigint, size: bigint, error?: () => Error): void {
  if (address < 0n || size < 0n || address + size > ADDRESS_LIMIT) {
    throw error?.() ?? new RangeError(`0x${address.toString(16)} + ${size} is outside the 64-bit address space`);
  }
}
