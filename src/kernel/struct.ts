/**
 * Reading kernel structs by their DWARF layout: the members a helper needs are read in one
 * `readVirtual` of the span that covers them, then decoded from that buffer. Over a gdbstub a
 * read costs one round trip whatever its size (up to a packet), and over kgdb most of the cost
 * is per round trip too, so one span beats one read per member.
 *
 * Offsets always come from `Target.layout()`, never from constants: they move between kernel
 * versions and configs (RANDSTRUCT even shuffles them per build).
 */
import type { MemberLayout, StructLayout, Target } from './target';

/** The kernel's debug info lacks a symbol, struct or member a helper relies on. */
export class DebugInfoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DebugInfoError';
  }
}

/** Layout of `struct name`; throws DebugInfoError when the kernel has no such struct. */
export async function structLayout(target: Target, name: string): Promise<StructLayout> {
  const layout = await target.layout(name);
  if (!layout) throw new DebugInfoError(`the kernel's debug info has no struct ${name}`);
  return layout;
}

export function member(layout: StructLayout, name: string): MemberLayout {
  const m = layout.members.get(name);
  if (!m) throw new DebugInfoError(`struct ${layout.name} has no member ${name}`);
  return m;
}

/** Address of a symbol; throws DebugInfoError when the kernel has none of that name. */
export async function symbolAddress(target: Target, name: string): Promise<bigint> {
  const address = await target.symbol(name);
  if (address === undefined) throw new DebugInfoError(`the kernel has no symbol ${name}`);
  return address;
}

/** Members of one struct instance, decoded from a single read. */
export class StructView {
  constructor(
    readonly address: bigint,
    readonly layout: StructLayout,
    private readonly bytes: Uint8Array,
    /** Struct offset of bytes[0]. */
    private readonly start: number,
  ) {}

  /** An unsigned integer member of 1, 2, 4 or 8 bytes (pointers included). */
  unsigned(name: string): bigint {
    const m = this.find(name);
    return unsignedAt(this.bytes, m.offset - this.start, m.size);
  }

  /** The first 64-bit word of a member: `next` of a `struct list_head`, say. */
  firstWord(name: string): bigint {
    const m = this.find(name);
    if (m.size < 8) throw new RangeError(`member ${name} of struct ${this.layout.name} is smaller than a word`);
    return unsignedAt(this.bytes, m.offset - this.start, 8);
  }

  /** A signed integer member (pid_t, int). */
  signed(name: string): bigint {
    const m = this.find(name);
    return BigInt.asIntN(m.size * 8, unsignedAt(this.bytes, m.offset - this.start, m.size));
  }

  /** A bitfield member (`u8 level : 3`); a plain integer member reads whole. */
  bits(name: string): number {
    const m = this.find(name);
    if (m.bitOffset === undefined || m.bitSize === undefined) return Number(this.unsigned(name));
    const bytes = Math.ceil((m.bitOffset + m.bitSize) / 8);
    const start = m.offset - this.start;
    if (start + bytes > this.bytes.length) throw new RangeError(`bitfield ${name} was not part of the read of struct ${this.layout.name}`);
    return Number((unsignedAt(this.bytes, start, bytes) >> BigInt(m.bitOffset)) & ((1n << BigInt(m.bitSize)) - 1n));
  }

  /** A char array member read up to its first NUL, like `comm`. */
  string(name: string): string {
    const m = this.find(name);
    return cString(this.bytes.subarray(m.offset - this.start, m.offset - this.start + m.size));
  }

  private find(name: string): MemberLayout {
    const m = member(this.layout, name);
    if (m.offset < this.start || m.offset + m.size > this.start + this.bytes.length) {
      throw new RangeError(`member ${name} was not part of the read of struct ${this.layout.name}`);
    }
    return m;
  }
}

/** Reads the span of `struct` at `address` that covers `members`, in one readVirtual. */
export async function readStruct(target: Target, address: bigint, layout: StructLayout, members: readonly string[]): Promise<StructView> {
  if (members.length === 0) throw new RangeError('readStruct needs at least one member');
  const wanted = members.map((name) => member(layout, name));
  const start = Math.min(...wanted.map((m) => m.offset));
  const end = Math.max(...wanted.map((m) => m.offset + m.size));
  const bytes = await target.readVirtual(address + BigInt(start), end - start);
  return new StructView(address, layout, bytes, start);
}

/** Little-endian (both supported arches) unsigned integer of `size` bytes at `offset`. */
export function unsignedAt(bytes: Uint8Array, offset: number, size: number): bigint {
  if (offset < 0 || offset + size > bytes.length) throw new RangeError(`${size} bytes at ${offset} are outside a ${bytes.length}-byte buffer`);
  let value = 0n;
  for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[offset + i]);
  return value;
}

export async function readU64(target: Target, address: bigint): Promise<bigint> {
  return unsignedAt(await target.readVirtual(address, 8), 0, 8);
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Bytes up to the first NUL (or all of them). comm is set from argv[0], so it may be UTF-8. */
export function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return utf8.decode(bytes.subarray(0, end < 0 ? bytes.length : end));
}
