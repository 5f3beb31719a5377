/**
 * Finding module symbol files: search order, `-`/`_` names, build-id preference and
 * `.build-id` trees, compressed modules, and the warnings for a file that is not the loaded
 * module. The .ko files are small ELF64 relocatables written here, with the sections,
 * `.modinfo` and build-id note a real module has.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { moduleFileName, ModuleFiles, sectionFit } from '../../../src/engine/module-files';
import { placeSections } from '../../../src/engine/module-sections';
import type { KernelModule } from '../../../src/kernel/module';

interface Section {
  name: string;
  type: number;
  flags: number;
  data: Uint8Array;
}

const SHT_PROGBITS = 1;
const SHT_STRTAB = 3;
const SHT_NOTE = 7;
const SHT_NOBITS = 8;
const SHF_ALLOC = 2;
const SHF_EXEC = 4;

/** A minimal ELF64 little-endian ET_REL (x86_64) with the given sections. */
function elf(sections: Section[]): Buffer {
  const names = ['', ...sections.map((s) => s.name), '.shstrtab'];
  const shstr = Buffer.from(names.join('\0') + '\0');
  const nameOffset = (i: number) => names.slice(0, i).reduce((n, s) => n + s.length + 1, 0);
  const all = [...sections, { name: '.shstrtab', type: SHT_STRTAB, flags: 0, data: shstr }];
  let offset = 64;
  const placed = all.map((s) => {
    const at = offset;
    if (s.type !== SHT_NOBITS) offset += (s.data.length + 7) & ~7;
    return at;
  });
  const shoff = offset;
  const out = Buffer.alloc(shoff + 64 * (all.length + 1));
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  out.writeUInt16LE(1, 16); // ET_REL
  out.writeUInt16LE(62, 18); // EM_X86_64
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(shoff), 40);
  out.writeUInt16LE(64, 52);
  out.writeUInt16LE(64, 58);
  out.writeUInt16LE(all.length + 1, 60);
  out.writeUInt16LE(all.length, 62);
  all.forEach((s, i) => {
    if (s.type !== SHT_NOBITS) out.set(s.data, placed[i]);
    const h = shoff + 64 * (i + 1);
    out.writeUInt32LE(nameOffset(i + 1), h);
    out.writeUInt32LE(s.type, h + 4);
    out.writeBigUInt64LE(BigInt(s.flags), h + 8);
    out.writeBigUInt64LE(BigInt(placed[i]), h + 24);
    out.writeBigUInt64LE(BigInt(s.data.length), h + 32);
    out.writeBigUInt64LE(1n, h + 48);
  });
  return out;
}

function note(buildId: string): Uint8Array {
  const desc = Buffer.from(buildId, 'hex');
  const b = Buffer.alloc(16 + desc.length);
  b.writeUInt32LE(4, 0);
  b.writeUInt32LE(desc.length, 4);
  b.writeUInt32LE(3, 8);
  b.write('GNU\0', 12, 'latin1');
  desc.copy(b, 16);
  return b;
}

interface KoOptions {
  buildId?: string;
  srcversion?: string;
  debug?: boolean;
  textSize?: number;
}

function ko(o: KoOptions = {}): Buffer {
  const modinfo = ['license=GPL', ...(o.srcversion ? [`srcversion=${o.srcversion}`] : []), 'name=kdap_test'].join('\0') + '\0';
  const sections: Section[] = [
    { name: '.text', type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_EXEC, data: new Uint8Array(o.textSize ?? 0x1a0) },
    { name: '.init.text', type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_EXEC, data: new Uint8Array(0x40) },
    { name: '.data', type: SHT_PROGBITS, flags: SHF_ALLOC | 1, data: new Uint8Array(0x10) },
    { name: '.modinfo', type: SHT_PROGBITS, flags: SHF_ALLOC, data: Buffer.from(modinfo) },
    { name: '.bss', type: SHT_NOBITS, flags: SHF_ALLOC | 1, data: new Uint8Array(0x20) },
  ];
  if (o.buildId) sections.push({ name: '.note.gnu.build-id', type: SHT_NOTE, flags: SHF_ALLOC, data: note(o.buildId) });
  if (o.debug) sections.push({ name: '.debug_info', type: SHT_PROGBITS, flags: 0, data: new Uint8Array(0x30) });
  return elf(sections);
}

const ID_A = '13136f384b4f8bee72ee87351ceffd5065eea7d6';
const ID_B = '2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a';

let tmp: string;
function dir(...parts: string[]): string {
  const d = path.join(tmp, ...parts);
  fs.mkdirSync(d, { recursive: true });
  return d;
}
function write(file: string, content: Buffer): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-module-files-'));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('module file names', () => {
  test('a module file gives its kernel name; anything else gives none', () => {
    assert.equal(moduleFileName('/x/brd.ko'), 'brd');
    assert.equal(moduleFileName('nf-nat.ko.xz'), 'nf_nat');
    assert.equal(moduleFileName('kdap_test.ko.zst'), 'kdap_test');
    assert.equal(moduleFileName('loop.ko.debug'), 'loop');
    assert.equal(moduleFileName('loop.ko.gz'), 'loop');
    assert.equal(moduleFileName('loop.o'), undefined);
    assert.equal(moduleFileName('loop.mod.c'), undefined);
  });
});

describe('ModuleFiles search', () => {
  test('folders: modulePaths, a build-tree vmlinux folder, then the release folders', () => {
    const build = dir('order', 'build');
    fs.writeFileSync(path.join(build, 'modules.order'), '');
    fs.writeFileSync(path.join(build, 'vmlinux'), '');
    const files = new ModuleFiles({ modulePaths: ['/work/mods'], release: '6.1.0-50-cloud-amd64', vmlinux: path.join(build, 'vmlinux'), cacheDir: dir('order', 'cache'), systemRoot: '/sysroot' });
    assert.deepEqual(files.folders(), [
      '/work/mods',
      build,
      '/sysroot/lib/modules/6.1.0-50-cloud-amd64/updates',
      '/sysroot/lib/modules/6.1.0-50-cloud-amd64/extra',
      '/sysroot/lib/modules/6.1.0-50-cloud-amd64/kernel',
      '/sysroot/lib/modules/6.1.0-50-cloud-amd64/build',
      '/sysroot/usr/lib/debug/lib/modules/6.1.0-50-cloud-amd64',
    ]);
    // A vmlinux outside a build tree adds nothing; no release, no release folders.
    const plain = new ModuleFiles({ vmlinux: '/boot/vmlinux-6.1', cacheDir: '/tmp/x' });
    assert.deepEqual(plain.folders(), []);
  });

  test('finds a module by name in nested folders, with - and _ the same', async () => {
    const root = dir('names');
    const file = write(path.join(root, 'drivers', 'misc', 'kdap-test.ko'), ko({ debug: true }));
    const found = await new ModuleFiles({ modulePaths: [root], cacheDir: dir('names-cache') }).find({ name: 'kdap_test' });
    assert.equal(found?.path, file);
    assert.equal(found?.elf, file);
    assert.equal(found?.debugInfo, true);
    assert.deepEqual(found?.warnings, []);
    assert.deepEqual([...found!.sections.keys()], ['.text', '.init.text', '.data', '.modinfo', '.bss']);
    assert.equal(await new ModuleFiles({ modulePaths: [root], cacheDir: dir('names-cache') }).find({ name: 'loop' }), undefined);
  });

  test('the system folders of the kernel release are searched', async () => {
    const sys = dir('sys');
    const file = write(path.join(sys, 'usr/lib/debug/lib/modules/6.1.0-50-cloud-arm64/kernel/drivers/block/brd.ko'), ko({ debug: true }));
    write(path.join(sys, 'lib/modules/6.1.0-50-cloud-arm64/kernel/drivers/block/brd.ko'), ko());
    const files = new ModuleFiles({ release: '6.1.0-50-cloud-arm64', cacheDir: dir('sys-cache'), systemRoot: sys });
    // The stripped runtime .ko is found first, but the -dbg one has DWARF.
    assert.equal((await files.candidates('brd')).length, 2);
    assert.equal((await files.find({ name: 'brd' }))?.path, file);
  });

  test('a build-id match beats DWARF and search order', async () => {
    const first = dir('bid', 'first');
    const second = dir('bid', 'second');
    write(path.join(first, 'loop.ko'), ko({ buildId: ID_B, debug: true }));
    const right = write(path.join(second, 'loop.ko'), ko({ buildId: ID_A }));
    const found = await new ModuleFiles({ modulePaths: [first, second], cacheDir: dir('bid-cache') }).find({ name: 'loop', buildId: ID_A });
    assert.equal(found?.path, right);
    assert.equal(found?.buildId, ID_A);
    assert.deepEqual(found?.warnings, ['loop.ko has no debug info (DWARF): functions get names but no source lines']);
  });

  test('a .build-id tree finds the file whatever it is named', async () => {
    const root = dir('tree');
    const file = write(path.join(root, '.build-id', ID_A.slice(0, 2), `${ID_A.slice(2)}.debug`), ko({ buildId: ID_A, debug: true }));
    const files = new ModuleFiles({ modulePaths: [root], cacheDir: dir('tree-cache') });
    assert.deepEqual(await files.candidates('dummy'), [], '.build-id is not scanned by name');
    assert.equal((await files.find({ name: 'dummy', buildId: ID_A }))?.path, file);
  });

  test('compressed modules are unpacked once into the cache', async () => {
    const root = dir('packed');
    const plain = ko({ debug: true, buildId: ID_A });
    write(path.join(root, 'gz', 'brd.ko.gz'), zlib.gzipSync(plain));
    const tools: Array<['xz' | 'zstd', string]> = [['xz', 'dummy.ko.xz'], ['zstd', 'loop.ko.zst']];
    for (const [tool, name] of tools) {
      const r = spawnSync(tool, ['-c', '-q'], { input: plain });
      assert.equal(r.status, 0, `${tool} is installed (setup installs it)`);
      write(path.join(root, tool, name), r.stdout);
    }
    const cache = dir('packed-cache');
    const files = new ModuleFiles({ modulePaths: [root], cacheDir: cache });
    for (const name of ['brd', 'dummy', 'loop']) {
      const found = await files.find({ name, buildId: ID_A });
      assert.ok(found, name);
      assert.ok(found.elf.startsWith(cache), found.elf);
      assert.ok(found.elf.endsWith(`${name}.ko`), found.elf);
      assert.deepEqual(fs.readFileSync(found.elf), plain);
      assert.equal(found.buildId, ID_A);
    }
    const elf = (await files.find({ name: 'dummy' }))!.elf;
    const mtime = fs.statSync(elf).mtimeMs;
    const again = await new ModuleFiles({ modulePaths: [root], cacheDir: cache }).find({ name: 'dummy' });
    assert.equal(again?.elf, elf);
    assert.equal(fs.statSync(elf).mtimeMs, mtime, 'unpacked again');
  });

  test('a corrupt compressed file is skipped, not fatal', async () => {
    const root = dir('corrupt');
    write(path.join(root, 'a', 'brd.ko.xz'), Buffer.from('not xz at all'));
    const good = write(path.join(root, 'b', 'brd.ko'), ko({ debug: true }));
    assert.equal((await new ModuleFiles({ modulePaths: [root], cacheDir: dir('corrupt-cache') }).find({ name: 'brd' }))?.path, good);
  });

  test('a symlink loop in a module folder does not hang the scan', async () => {
    const root = dir('loop-links');
    write(path.join(root, 'm', 'brd.ko'), ko());
    fs.symlinkSync(root, path.join(root, 'm', 'back'));
    assert.equal((await new ModuleFiles({ modulePaths: [root], cacheDir: dir('loop-cache') }).candidates('brd')).length, 1);
  });
});

describe('warnings for a file that is not the loaded module', () => {
  test('build id, srcversion and sections that do not fit are each reported', async () => {
    const root = dir('warn');
    write(path.join(root, 'kdap_test.ko'), ko({ buildId: ID_B, srcversion: 'OLDOLDOLD', debug: true, textSize: 0x2000 }));
    const found = await new ModuleFiles({ modulePaths: [root], cacheDir: dir('warn-cache') }).find({
      name: 'kdap_test',
      buildId: ID_A,
      srcversion: 'NEWNEWNEW',
      sections: new Map([['.text', 0xffffffffc0207000n], ['.data', 0xffffffffc0208000n], ['.orc_unwind', 0xffffffffc0208100n], ['.symtab', 0xffffffffc020a000n]]),
    });
    assert.deepEqual(found?.warnings, [
      `kdap_test.ko has build id ${ID_B}, the loaded kdap_test has ${ID_A}: it is another build`,
      'kdap_test.ko has srcversion OLDOLDOLD, the loaded kdap_test has NEWNEWNEW',
      'kdap_test.ko lacks section .orc_unwind of the loaded module',
      'kdap_test.ko: .text is 0x2000 bytes, but the loaded module has only 0x1000 before its next section',
    ]);
  });

  test('sectionFit passes a file whose sections fit the gaps', () => {
    const file = { sections: new Map([['.text', 0x1a0n], ['.data', 0x10n], ['.bss', 0x20n]]) };
    assert.deepEqual(sectionFit(file, new Map([['.text', 0x1000n], ['.data', 0x11a0n], ['.bss', 0x11b0n]]), 'x.ko'), []);
  });
});

describe('a file the user picks (ModuleFiles.open)', () => {
  test('loads whatever its name, and says when it is another module', async () => {
    const root = dir('pick');
    const file = write(path.join(root, 'renamed.ko'), ko({ buildId: ID_A, debug: true }));
    const files = new ModuleFiles({ cacheDir: dir('pick-cache') });
    const picked = await files.open(file, { name: 'hello', buildId: ID_A });
    assert.equal(picked.path, file);
    assert.deepEqual(picked.warnings, ['renamed.ko is the module kdap_test, not hello']);
    assert.deepEqual((await files.open(file, { name: 'kdap_test', buildId: ID_A })).warnings, []);
  });

  test('a missing, non-file, non-ELF or sectionless file is an error that says which', async () => {
    const root = dir('pick-bad');
    const files = new ModuleFiles({ cacheDir: dir('pick-bad-cache') });
    const facts = { name: 'kdap_test' };
    await assert.rejects(files.open(path.join(root, 'gone.ko'), facts), /gone\.ko does not exist/);
    await assert.rejects(files.open(root, facts), /is not a file/);
    await assert.rejects(files.open(write(path.join(root, 'text.ko'), Buffer.from('hello\n')), facts), /text\.ko is not an ELF file/);
    await assert.rejects(files.open(write(path.join(root, 'bad.ko.gz'), Buffer.from('not gzip')), facts), /incorrect header|unexpected end|invalid/i);
    await assert.rejects(files.open(write(path.join(root, 'empty.ko'), elf([])), facts), /no sections that load/);
  });
});

describe('placing sections', () => {
  const module = (sections: Array<[string, bigint]>, percpu?: bigint): KernelModule => ({
    address: 0xffffffffc0209040n,
    name: 'kdap_test',
    state: 'live',
    base: 0xffffffffc0207000n,
    size: 0x4000,
    regions: [],
    sections: new Map(sections),
    freedSections: ['.init.text'],
    ...(percpu !== undefined ? { percpu: { base: percpu, size: 8 } } : {}),
  });

  test('live sections at the kernel\'s addresses, .data..percpu in the per-CPU area, the rest parked', () => {
    const file = { sections: new Map([['.text', 0x1a0n], ['.init.text', 0x40n], ['.data..percpu', 8n], ['.modinfo', 0x2100n], ['.data', 0x10n]]) };
    const park = 0x7f00_0000_0000_0000n;
    const placed = placeSections(module([['.text', 0xffffffffc0207000n], ['.data', 0xffffffffc0209018n]], 0x2d3a8n), file, park);
    assert.deepEqual([...placed], [
      ['.text', 0xffffffffc0207000n],
      ['.init.text', park],
      ['.data..percpu', 0x2d3a8n],
      ['.modinfo', park + 0x1000n],
      ['.data', 0xffffffffc0209018n],
    ]);
  });

  test('.data..percpu without a per-CPU area is parked like the rest', () => {
    const file = { sections: new Map([['.data..percpu', 8n]]) };
    assert.deepEqual([...placeSections(module([]), file, 0x7f00_0000_0100_0000n)], [['.data..percpu', 0x7f00_0000_0100_0000n]]);
  });
});
