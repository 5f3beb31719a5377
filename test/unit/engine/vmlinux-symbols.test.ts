import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LayoutCache } from '../../../src/engine/layout-cache';
import { linkedAddresses } from '../../../src/engine/vmlinux-symbols';

type Sym = [name: string, value: bigint, type: number, shndx: number];

/** An ELF64 little-endian file with a .symtab of `symbols` (and the null symbol first). */
function elfWith(symbols: readonly Sym[]): string {
  const strtab = [0];
  const nameAt = (n: string) => {
    const at = strtab.length;
    strtab.push(...Buffer.from(n, 'latin1'), 0);
    return at;
  };
  const symtab = Buffer.alloc(24 * (symbols.length + 1));
  symbols.forEach(([name, value, type, shndx], i) => {
    const at = 24 * (i + 1);
    symtab.writeUInt32LE(nameAt(name), at);
    symtab[at + 4] = (1 << 4) | type; // GLOBAL
    symtab.writeUInt16LE(shndx, at + 6);
    symtab.writeBigUInt64LE(value, at + 8);
  });
  const shstr = Buffer.from('\0.symtab\0.strtab\0.shstrtab\0', 'latin1');
  const str = Buffer.from(strtab);
  const offsets = [64, 64 + symtab.length, 64 + symtab.length + str.length];
  const shoff = offsets[2] + shstr.length;
  const header = Buffer.alloc(64);
  header.writeUInt32BE(0x7f454c46, 0);
  header[4] = 2; // 64-bit
  header[5] = 1; // little-endian
  header[6] = 1;
  header.writeUInt16LE(2, 16); // ET_EXEC
  header.writeUInt16LE(62, 18); // x86_64
  header.writeBigUInt64LE(BigInt(shoff), 40);
  header.writeUInt16LE(64, 58);
  header.writeUInt16LE(4, 60);
  header.writeUInt16LE(3, 62);
  const section = (name: number, type: number, offset: number, size: number, link = 0, entsize = 0) => {
    const s = Buffer.alloc(64);
    s.writeUInt32LE(name, 0);
    s.writeUInt32LE(type, 4);
    s.writeBigUInt64LE(BigInt(offset), 24);
    s.writeBigUInt64LE(BigInt(size), 32);
    s.writeUInt32LE(link, 40);
    s.writeBigUInt64LE(BigInt(entsize), 56);
    return s;
  };
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-vmlinux-')), 'vmlinux');
  fs.writeFileSync(
    file,
    Buffer.concat([header, symtab, str, shstr, Buffer.alloc(64), section(1, 2, offsets[0], symtab.length, 2, 24), section(9, 3, offsets[1], str.length), section(17, 3, offsets[2], shstr.length)]),
  );
  return file;
}

const [OBJECT, FUNC, NOTYPE, SECTION] = [1, 2, 0, 3];
const vmlinux = () =>
  elfWith([
    ['runqueues', 0x31980n, OBJECT, 33],
    ['prb', 0xffffffff82a62540n, OBJECT, 24],
    ['_text', 0xffffffff81000000n, NOTYPE, 1],
    ['start_kernel', 0xffffffff83200000n, FUNC, 1],
    ['once_twice', 0xffffffff82000000n, OBJECT, 24],
    ['once_twice', 0xffffffff82000000n, OBJECT, 24],
    ['two_statics', 0xffffffff82000010n, OBJECT, 24],
    ['two_statics', 0xffffffff82000020n, OBJECT, 24],
    ['undefined_here', 0n, NOTYPE, 0],
    ['.data', 0xffffffff82000000n, SECTION, 24],
    ['prb_tail', 0xffffffff82a62600n, OBJECT, 24],
  ]);

test('link addresses of the names asked for; null for a name absent or undefined there; nothing for one at two addresses', async () => {
  const got = await linkedAddresses(vmlinux(), ['runqueues', 'prb', '_text', 'start_kernel', 'once_twice', 'two_statics', 'undefined_here', '.data', 'pcpu_hot', 'pr']);
  assert.deepEqual(Object.fromEntries(got), {
    runqueues: 0x31980n,
    prb: 0xffffffff82a62540n,
    _text: 0xffffffff81000000n,
    start_kernel: 0xffffffff83200000n,
    once_twice: 0xffffffff82000000n,
    undefined_here: null,
    '.data': null,
    pcpu_hot: null,
    pr: null,
  });
});

test('a file without a symbol table answers nothing', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-vmlinux-')), 'stripped');
  const bytes = fs.readFileSync(vmlinux());
  bytes.writeUInt32LE(7, bytes.length - 3 * 64 + 4); // .symtab becomes a note
  fs.writeFileSync(file, bytes);
  assert.equal((await linkedAddresses(file, ['prb', 'pcpu_hot'])).size, 0);
});

test('a symbol asked for in one session is stored for the next with its link address', async () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-layouts-'));
  const file = vmlinux();
  const id = 'cd'.repeat(20);
  const first = (await LayoutCache.forBuildId(d, id, file))!;
  assert.equal(first.linked('prb'), undefined, 'not known in the first session');
  first.linked('two_statics');
  first.linked('pcpu_hot');
  await first.flush();
  const second = (await LayoutCache.forBuildId(d, id, file))!;
  assert.equal(second.linked('prb'), 0xffffffff82a62540n);
  assert.equal(second.linked('two_statics'), undefined, 'gdb decides between two statics');
  assert.equal(second.linked('pcpu_hot'), null);
  // Layouts put meanwhile are kept beside them.
  second.put('page', { name: 'page', size: 8, members: new Map([['flags', { offset: 0, size: 8, type: 'unsigned long' }]]) });
  second.linked('runqueues');
  await second.flush();
  const third = (await LayoutCache.forBuildId(d, id))!;
  assert.equal(third.linked('runqueues'), 0x31980n);
  assert.equal(third.linked('prb'), 0xffffffff82a62540n);
  assert.equal(third.get('page')?.size, 8);
});
