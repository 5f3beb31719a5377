/**
 * A small ELF reader: header, section headers, symbol table, build id. ELF32 and ELF64, either
 * byte order. Everything is read with positional reads of one file handle, only the parts
 * asked for: a 600 MB vmlinux costs its section headers plus `.symtab` and `.strtab` (a few MB).
 */
import * as fs from 'node:fs/promises';

export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const SHT_SYMTAB = 2;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;
export const SHT_SYMTAB_SHNDX = 18;
export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_XINDEX = 0xffff;
export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STT_FILE = 4;
const NT_GNU_BUILD_ID = 3;

export interface ElfHeader {
  class: 32 | 64;
  littleEndian: boolean;
  /** e_type: ET_REL (.ko), ET_EXEC (vmlinux), ET_DYN. */
  type: number;
  machine: number;
  entry: bigint;
}

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: bigint;
  size: bigint;
  link: number;
  info: number;
  entsize: bigint;
}

export interface ElfSymbol {
  /** Index in the symbol table (readelf's `Num:`). */
  index: number;
  name: string;
  value: bigint;
  size: bigint;
  type: number;
  bind: number;
  visibility: number;
  /** Section index, with SHN_XINDEX already resolved through `.symtab_shndx`. */
  shndx: number;
  /** shndx is a reserved value (SHN_ABS, SHN_COMMON …), not a section; only ambiguous past 0xff00 sections. */
  special: boolean;
}

export class ElfError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'ElfError';
  }
}

/** Fixed-layout field access for one class and byte order. */
class Fields {
  constructor(
    private readonly b: Buffer,
    private readonly le: boolean,
    readonly is64: boolean,
  ) {}
  u8(at: number): number {
    return this.b[at];
  }
  u16(at: number): number {
    return this.le ? this.b.readUInt16LE(at) : this.b.readUInt16BE(at);
  }
  u32(at: number): number {
    return this.le ? this.b.readUInt32LE(at) : this.b.readUInt32BE(at);
  }
  u64(at: number): bigint {
    return this.le ? this.b.readBigUInt64LE(at) : this.b.readBigUInt64BE(at);
  }
  /** An address/offset/size field: 8 bytes in ELF64, 4 in ELF32. */
  word(at: number): bigint {
    return this.is64 ? this.u64(at) : BigInt(this.u32(at));
  }
}

function toNumber(v: bigint, path: string, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError(path, `${what} too large`);
  return Number(v);
}

function cString(b: Buffer, at: number): string {
  if (at >= b.length) return '';
  const end = b.indexOf(0, at);
  return b.toString('utf8', at, end < 0 ? b.length : end);
}

/**
 * A string table read once: the 100k names of a vmlinux are sliced from one string instead of
 * decoded one by one. Latin-1 maps bytes to characters one to one, so offsets stay byte
 * offsets; a name with non-ASCII bytes is decoded as UTF-8 instead.
 */
class StringTable {
  private readonly text: string;
  private readonly ascii: boolean;
  constructor(private readonly b: Buffer) {
    this.text = b.toString('latin1');
    this.ascii = !/[^\x00-\x7f]/.test(this.text);
  }
  get(at: number): string {
    if (at >= this.text.length) return '';
    let end = this.text.indexOf('\0', at);
    if (end < 0) end = this.text.length;
    return this.ascii ? this.text.slice(at, end) : cString(this.b, at);
  }
}

export class ElfFile {
  private constructor(
    readonly path: string,
    private readonly fh: fs.FileHandle,
    readonly header: ElfHeader,
    readonly sections: ElfSection[],
  ) {}

  static async open(path: string): Promise<ElfFile> {
    const fh = await fs.open(path, 'r');
    try {
      const ident = await readAt(fh, 0n, 64, path);
      if (ident.length < 52 || ident.readUInt32BE(0) !== 0x7f454c46) throw new ElfError(path, 'not an ELF file');
      if (ident[4] !== 1 && ident[4] !== 2) throw new ElfError(path, `bad ELF class ${ident[4]}`);
      if (ident[5] !== 1 && ident[5] !== 2) throw new ElfError(path, `bad ELF data encoding ${ident[5]}`);
      const is64 = ident[4] === 2;
      const f = new Fields(ident, ident[5] === 1, is64);
      const header: ElfHeader = {
        class: is64 ? 64 : 32,
        littleEndian: ident[5] === 1,
        type: f.u16(16),
        machine: f.u16(18),
        entry: f.word(24),
      };
      const shoff = is64 ? f.u64(40) : BigInt(f.u32(32));
      const shentsize = f.u16(is64 ? 58 : 46);
      let shnum = f.u16(is64 ? 60 : 48);
      let shstrndx = f.u16(is64 ? 62 : 50);
      const sections: ElfSection[] = [];
      if (shoff !== 0n) {
        if (shentsize < (is64 ? 64 : 40)) throw new ElfError(path, `bad section header size ${shentsize}`);
        // Extended numbering: with ≥ SHN_LORESERVE sections the real counts live in section 0.
        const first = await readAt(fh, shoff, shentsize, path);
        const f0 = new Fields(first, header.littleEndian, is64);
        if (shnum === 0) shnum = toNumber(f0.word(is64 ? 32 : 20), path, 'section count');
        if (shstrndx === SHN_XINDEX) shstrndx = f0.u32(is64 ? 40 : 24);
        const table = await readAt(fh, shoff, shnum * shentsize, path);
        if (table.length < shnum * shentsize) throw new ElfError(path, 'truncated section header table');
        const ft = new Fields(table, header.littleEndian, is64);
        for (let i = 0; i < shnum; i++) sections.push(sectionAt(ft, i * shentsize, i));
        const names = sections[shstrndx];
        const strtab =
          names && names.type !== SHT_NOBITS
            ? await readAt(fh, names.offset, toNumber(names.size, path, 'section name table'), path)
            : Buffer.alloc(0);
        for (let i = 0; i < shnum; i++) sections[i].name = cString(strtab, ft.u32(i * shentsize));
      }
      return new ElfFile(path, fh, header, sections);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  async readSection(s: ElfSection): Promise<Buffer> {
    if (s.type === SHT_NOBITS) return Buffer.alloc(0);
    return readAt(this.fh, s.offset, toNumber(s.size, this.path, `section ${s.name}`), this.path);
  }

  /** `.symtab` (or `.dynsym` when stripped), in table order, index 0 included as readelf shows it. */
  async symbols(): Promise<ElfSymbol[]> {
    const tab = this.sections.find((s) => s.type === SHT_SYMTAB) ?? this.sections.find((s) => s.type === SHT_DYNSYM);
    if (!tab) return [];
    const strs = this.sections[tab.link];
    if (!strs) throw new ElfError(this.path, `symbol table ${tab.name} has no string table`);
    const [raw, names] = await Promise.all([this.readSection(tab), this.readSection(strs)]);
    const xindex = this.sections.find((s) => s.type === SHT_SYMTAB_SHNDX && s.link === tab.index);
    const ext = xindex ? await this.readSection(xindex) : undefined;
    const is64 = this.header.class === 64;
    const entsize = tab.entsize > 0n ? Number(tab.entsize) : is64 ? 24 : 16;
    const f = new Fields(raw, this.header.littleEndian, is64);
    const fx = ext ? new Fields(ext, this.header.littleEndian, is64) : undefined;
    const out: ElfSymbol[] = [];
    const strings = new StringTable(names);
    for (let i = 0, at = 0; at + entsize <= raw.length; i++, at += entsize) {
      const info = f.u8(at + (is64 ? 4 : 12));
      let shndx = f.u16(at + (is64 ? 6 : 14));
      const special = shndx >= SHN_LORESERVE && shndx !== SHN_XINDEX;
      if (shndx === SHN_XINDEX && fx && i * 4 + 4 <= ext!.length) shndx = fx.u32(i * 4);
      out.push({
        index: i,
        name: strings.get(f.u32(at)),
        value: is64 ? f.u64(at + 8) : BigInt(f.u32(at + 4)),
        size: is64 ? f.u64(at + 16) : BigInt(f.u32(at + 8)),
        type: info & 0xf,
        bind: info >> 4,
        visibility: f.u8(at + (is64 ? 5 : 13)) & 0x3,
        shndx,
        special,
      });
    }
    return out;
  }

  /** GNU build id (hex) from a `SHT_NOTE` section, the id `[mod <build-id>]` frames carry. */
  async buildId(): Promise<string | undefined> {
    const notes = this.sections.filter((s) => s.type === SHT_NOTE);
    notes.sort((a, b) => Number(b.name === '.note.gnu.build-id') - Number(a.name === '.note.gnu.build-id'));
    for (const s of notes) {
      const b = await this.readSection(s);
      const f = new Fields(b, this.header.littleEndian, false);
      for (let at = 0; at + 12 <= b.length; ) {
        const namesz = f.u32(at);
        const descsz = f.u32(at + 4);
        const type = f.u32(at + 8);
        const name = at + 12;
        const desc = name + ((namesz + 3) & ~3);
        if (desc + descsz > b.length) break;
        if (type === NT_GNU_BUILD_ID && b.toString('latin1', name, name + namesz) === 'GNU\0') {
          return b.toString('hex', desc, desc + descsz);
        }
        at = desc + ((descsz + 3) & ~3);
      }
    }
    return undefined;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

function sectionAt(f: Fields, at: number, index: number): ElfSection {
  const is64 = f.is64;
  return {
    index,
    name: '',
    type: f.u32(at + 4),
    flags: f.word(at + 8),
    addr: f.word(at + (is64 ? 16 : 12)),
    offset: f.word(at + (is64 ? 24 : 16)),
    size: f.word(at + (is64 ? 32 : 20)),
    link: f.u32(at + (is64 ? 40 : 24)),
    info: f.u32(at + (is64 ? 44 : 28)),
    entsize: f.word(at + (is64 ? 56 : 36)),
  };
}

async function readAt(fh: fs.FileHandle, position: bigint, length: number, path: string): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, toNumber(position, path, 'file offset') + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}
