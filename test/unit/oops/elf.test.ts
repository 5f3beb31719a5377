/**
 * The ELF reader and the faddr2line lookup against binutils as the oracle: objects compiled or
 * assembled here for every class and byte order (skipped when the toolchain is missing), then
 * `readelf` output parsed independently and compared field by field.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElfFile, ET_DYN, ET_EXEC, ET_REL, STT_SECTION } from '../../../src/oops/elf';
import { kallsymsSize, loadSymbolTable, lookupFuncOffset } from '../../../src/oops/symbols';
import { oracleKallsymsSizes, readelfHeader, readelfSections, readelfSymbols, run, tool } from './readelf';

let dir: string;
const MANY = 66_000;
const obj = (name: string) => path.join(dir, name);

const C_A = `
int counter;
static __attribute__((noinline)) int helper(int x) { return x * 3 + counter; }
__attribute__((noinline, aligned(64))) int f1(int a) { return helper(a) + 1; }
__attribute__((noinline, aligned(64))) int f2(int a) { return helper(a) * helper(a + 1); }
int main(void) { return f1(counter) + f2(counter); }
`;
// A second static helper of a different length: ld -r makes the duplicate faddr2line lists twice.
const C_B = `
extern int counter;
static __attribute__((noinline)) int helper(int x) { int s = 0; for (int i = 0; i < x; i++) s += i * counter; return s; }
__attribute__((noinline)) int g1(int a) { return helper(a); }
`;
// arm64: the literal pool after .size carries a $d mapping symbol that must not end f1.
const A64 = `
.text
.globl f1
.type f1,%function
f1: ldr x0, =0x1122334455667788
    ret
.size f1, .-f1
.ltorg
.globl f2
.type f2,%function
f2: ret
.size f2, .-f2
`;
const MIPS = `.text\n.globl f1\nf1: nop\n jr $ra\n nop\n.globl f2\nf2: jr $ra\n nop\n`;

interface Built {
  file: string;
  class: 32 | 64;
  littleEndian: boolean;
  type: number;
}
const built: Built[] = [];

function build(file: string, cls: 32 | 64, le: boolean, type: number, cmd: string, args: string[]): void {
  if (!tool(cmd)) return;
  const r = run(cmd, args);
  if (r.status === 0) built.push({ file, class: cls, littleEndian: le, type });
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-elf-'));
  fs.writeFileSync(obj('a.c'), C_A);
  fs.writeFileSync(obj('b.c'), C_B);
  fs.writeFileSync(obj('f.s'), A64);
  fs.writeFileSync(obj('m.s'), MIPS);
  const flags = ['-O1', '-fno-asynchronous-unwind-tables', '-c'];
  build(obj('a.o'), 64, true, ET_REL, 'gcc', [...flags, obj('a.c'), '-o', obj('a.o')]);
  build(obj('b.o'), 64, true, ET_REL, 'gcc', [...flags, '-ffunction-sections', obj('b.c'), '-o', obj('b.o')]);
  if (fs.existsSync(obj('a.o')) && fs.existsSync(obj('b.o'))) build(obj('ab.o'), 64, true, ET_REL, 'ld', ['-r', obj('a.o'), obj('b.o'), '-o', obj('ab.o')]);
  build(obj('a32.o'), 32, true, ET_REL, 'gcc', ['-m32', ...flags, obj('a.c'), '-o', obj('a32.o')]);
  build(obj('pie'), 64, true, ET_DYN, 'gcc', ['-O1', obj('a.c'), '-o', obj('pie')]);
  build(obj('exec'), 64, true, ET_EXEC, 'gcc', ['-O1', '-no-pie', obj('a.c'), '-o', obj('exec')]);
  build(obj('a64le.o'), 64, true, ET_REL, 'aarch64-linux-gnu-as', [obj('f.s'), '-o', obj('a64le.o')]);
  build(obj('a64be.o'), 64, false, ET_REL, 'aarch64-linux-gnu-as', ['-EB', obj('f.s'), '-o', obj('a64be.o')]);
  build(obj('mips.o'), 32, false, ET_REL, 'llvm-mc', ['-triple=mips-linux-gnu', '-filetype=obj', obj('m.s'), '-o', obj('mips.o')]);
  // More sections than SHN_LORESERVE: e_shnum, e_shstrndx and st_shndx move to extensions.
  let many = '';
  for (let i = 0; i < MANY; i++) many += `.section .text.f${i},"ax",@progbits\n.globl f${i}\n.type f${i},@function\nf${i}: ret\n.size f${i}, .-f${i}\n`;
  fs.writeFileSync(obj('many.s'), many);
  if (tool('as')) run('as', [obj('many.s'), '-o', obj('many.o')]);
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('ELF reader vs readelf', () => {
  it('built objects for every class and byte order the toolchain here can make', (t) => {
    const kinds = new Set(built.map((b) => `${b.class}${b.littleEndian ? 'le' : 'be'}`));
    if (!tool('readelf')) return t.skip('readelf not installed');
    t.diagnostic(`built: ${built.map((b) => path.basename(b.file)).join(' ')}`);
    assert.ok(kinds.has('64le'), 'gcc must work');
  });

  it('header, sections and every symbol match readelf', async (t) => {
    if (!tool('readelf')) return t.skip('readelf not installed');
    for (const b of built) {
      const elf = await ElfFile.open(b.file);
      try {
        const h = readelfHeader(b.file);
        assert.deepEqual([elf.header.class, elf.header.littleEndian, elf.header.type], [b.class, b.littleEndian, b.type], b.file);
        assert.deepEqual([elf.header.class, elf.header.littleEndian, elf.header.machine], [h.class, h.littleEndian, h.machine], b.file);
        const sections = readelfSections(b.file);
        assert.deepEqual(
          elf.sections.slice(1).map((s) => [s.index, s.name, s.addr, s.offset, s.size]),
          sections.map((s) => [s.index, s.name, s.addr, s.offset, s.size]),
          b.file,
        );
        const ours = await elf.symbols();
        const theirs = readelfSymbols(b.file);
        assert.equal(ours.length, theirs.length, b.file);
        for (let i = 0; i < ours.length; i++) {
          const o = ours[i];
          const r = theirs[i];
          // readelf shows a section symbol under its section's name; the symbol itself has none.
          const name = o.type === STT_SECTION ? r.name : o.name;
          assert.deepEqual([o.index, o.value, o.size, o.type, o.bind, o.shndx, name], [r.index, r.value, r.size, r.type, r.bind, r.shndx, r.name], `${b.file} #${i}`);
        }
      } finally {
        await elf.close();
      }
    }
  });

  it('build id of linked binaries matches readelf -n', async (t) => {
    const linked = built.filter((b) => b.type !== ET_REL);
    if (!tool('readelf') || linked.length === 0) return t.skip('no linked binary');
    for (const b of linked) {
      const m = /Build ID: ([0-9a-f]+)/.exec(run('readelf', ['-n', b.file]).stdout);
      const elf = await ElfFile.open(b.file);
      assert.equal(await elf.buildId(), m?.[1], b.file);
      await elf.close();
    }
  });

  it('extended section numbering (66k sections, SHN_XINDEX symbols)', async (t) => {
    if (!fs.existsSync(obj('many.o'))) return t.skip('assembler not installed');
    const table = await loadSymbolTable(obj('many.o'));
    const sections = readelfSections(obj('many.o'));
    assert.equal(table.sections.length, sections.length + 1);
    const last = table.byName.get(`f${MANY - 1}`)![0];
    assert.ok(last.shndx > 0xff00);
    assert.equal(table.sections[last.shndx].name, `.text.f${MANY - 1}`);
    assert.deepEqual(
      lookupFuncOffset(table, `f${MANY - 1}`, 0n, 1n).matches.map((m) => m.sectionName),
      [`.text.f${MANY - 1}`],
    );
  });

  it('rejects what is not ELF without leaking the file handle', async () => {
    const junk = obj('junk');
    fs.writeFileSync(junk, 'not an elf file at all, just text that is long enough to look at');
    await assert.rejects(ElfFile.open(junk), /not an ELF file/);
    fs.writeFileSync(junk, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 9, 1]));
    await assert.rejects(ElfFile.open(junk));
  });
});

describe('faddr2line lookup', () => {
  it('kallsyms sizes agree with an independent computation from readelf', async (t) => {
    if (!tool('readelf')) return t.skip('readelf not installed');
    for (const b of built) {
      const table = await loadSymbolTable(b.file);
      const expected = oracleKallsymsSizes(readelfSymbols(b.file), readelfSections(b.file));
      for (const s of table.symbols) {
        if (!expected.has(s.index)) continue;
        assert.equal(kallsymsSize(table, s), expected.get(s.index), `${b.file} ${s.name}`);
      }
    }
  });

  it('padding counts, /size filters, offset == size is accepted', async (t) => {
    if (!fs.existsSync(obj('a.o'))) return t.skip('gcc could not build');
    const table = await loadSymbolTable(obj('a.o'));
    const f1 = table.byName.get('f1')![0];
    assert.ok(f1.size < 64n, `st_size ${f1.size} is below the 64-byte alignment`);
    assert.equal(kallsymsSize(table, f1), 64n);
    const ok = lookupFuncOffset(table, 'f1', 0x10n, 0x40n);
    assert.deepEqual(
      ok.matches.map((m) => [m.symbol.name, m.size, m.address, m.sectionName]),
      [['f1', 0x40n, f1.value + 0x10n, '.text']],
    );
    assert.match(lookupFuncOffset(table, 'f1', 0x10n, 0x20n).skipped[0].reason, /size mismatch/);
    assert.match(lookupFuncOffset(table, 'f1', 0x41n).skipped[0].reason, /beyond size/);
    assert.equal(lookupFuncOffset(table, 'f1', 0x40n).matches.length, 1);
    assert.deepEqual(lookupFuncOffset(table, 'no_such_function', 0n), { matches: [], skipped: [] });
  });

  it('duplicate static functions: all candidates, and /size picks one', async (t) => {
    if (!fs.existsSync(obj('ab.o'))) return t.skip('ld -r could not link');
    const table = await loadSymbolTable(obj('ab.o'));
    const all = lookupFuncOffset(table, 'helper', 0x1n).matches;
    assert.equal(all.length, 2);
    // b.o was built with -ffunction-sections: its helper is at 0 of its own section.
    assert.deepEqual(all.map((m) => m.sectionName).sort(), ['.text', '.text.helper']);
    const [x, y] = all.map((m) => m.size);
    if (x !== y) assert.equal(lookupFuncOffset(table, 'helper', 0x1n, x).matches.length, 1);
    assert.equal(lookupFuncOffset(table, 'helper', 0x1n, undefined, { funcOnly: true }).matches.length, 2);
  });

  it('arm64 mapping symbols do not shorten a function (LE and BE)', async (t) => {
    const objs = ['a64le.o', 'a64be.o'].map(obj).filter((f) => fs.existsSync(f));
    if (objs.length === 0) return t.skip('aarch64 assembler not installed');
    for (const f of objs) {
      const table = await loadSymbolTable(f);
      const f1 = table.byName.get('f1')![0];
      const f2 = table.byName.get('f2')![0];
      assert.ok(table.symbols.some((s) => s.name === '$d' && s.value >= f1.value + f1.size && s.value < f2.value), 'literal pool after .size');
      assert.equal(kallsymsSize(table, f1), f2.value - f1.value, f);
    }
  });

  it('executables use absolute addresses and no section name', async (t) => {
    if (!fs.existsSync(obj('exec'))) return t.skip('gcc could not link');
    const table = await loadSymbolTable(obj('exec'));
    const m = lookupFuncOffset(table, 'f2', 0x4n).matches;
    assert.equal(m.length, 1);
    assert.equal(m[0].sectionName, undefined);
    assert.equal(m[0].address, table.byName.get('f2')![0].value + 4n);
    assert.ok(m[0].address > 0x400000n);
  });
});
