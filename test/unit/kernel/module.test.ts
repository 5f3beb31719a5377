/**
 * Module enumeration over planted `struct module`s in each layout the kernel has had: the
 * 6.1 one (core_layout, attrs[nsections]) with the offsets gdb prints for Debian's 6.1
 * kernel, the 6.4 `mem[]` one, the 6.14 `bin_attrs` one and the pre-4.5/pre-5.8 ones.
 * Addresses are those measured on the fixture kernels.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { findModule, kernelRelease, listModules, parseBuildIdNote, readCString, readModule } from '../../../src/kernel/module';
import { DebugInfoError } from '../../../src/kernel/struct';
import { FaultError, type StructLayout } from '../../../src/kernel/target';
import { layout, window } from './planted';

const HEAP = 0xffff888004000000n;
const MODULES_HEAD = 0xffffffff82b273e0n;

type Shape = '6.1' | '6.4' | '6.14' | '4.4';

interface PlantedModule {
  name: string;
  state: number;
  /** Regions in the shape's own terms: core/init, or the seven mem[] types. */
  regions: Array<{ base: bigint; size: number }>;
  sections: Array<[string, bigint]>;
  percpu?: bigint;
  srcversion?: string;
  buildIdNote?: Uint8Array;
}

function layouts(shape: Shape): StructLayout[] {
  const common: Record<string, [number, number, string]> = {
    state: [0, 4, 'enum module_state'],
    list: [8, 16, 'struct list_head'],
    name: [24, 56, 'char [56]'],
    srcversion: [192, 8, 'const char *'],
    sect_attrs: [584, 8, 'struct module_sect_attrs *'],
    percpu: [608, 8, 'void *'],
    percpu_size: [616, 4, 'unsigned int'],
  };
  const out: StructLayout[] = [
    layout('attribute', 16, { name: [0, 8], mode: [8, 2] }),
    layout('bin_attribute', 64, { attr: [0, 16], size: [16, 8], private: [24, 8] }),
    layout('uts_namespace', 440, { name: [4, 390] }),
    layout('new_utsname', 390, { sysname: [0, 65], nodename: [65, 65], release: [130, 65] }),
  ];
  if (shape === '6.1') {
    out.push(
      layout('module', 896, { ...common, core_layout: [320, 80], init_layout: [400, 80] }),
      layout('module_layout', 80, { base: [0, 8], size: [8, 4], text_size: [12, 4] }),
      layout('module_sect_attrs', 48, { grp: [0, 40], nsections: [40, 4], attrs: [48, 0] }),
      layout('module_sect_attr', 72, { battr: [0, 64], address: [64, 8] }),
    );
  } else if (shape === '6.4') {
    // mem[] right after the common members; struct module_memory is 80 bytes here.
    out.push(
      layout('module', 1280, { ...common, mem: [640, 7 * 80, 'struct module_memory [7]'] }),
      layout('module_memory', 80, { base: [0, 8], size: [8, 4], is_rox: [12, 1] }),
      layout('module_sect_attrs', 48, { grp: [0, 40], nsections: [40, 4], attrs: [48, 0] }),
      layout('module_sect_attr', 72, { battr: [0, 64], address: [64, 8] }),
    );
  } else if (shape === '6.14') {
    out.push(
      layout('module', 1280, { ...common, mem: [640, 7 * 72, 'struct module_memory [7]'], build_id: [1200, 20, 'unsigned char [20]'] }),
      layout('module_memory', 72, { base: [0, 8], size: [8, 4] }),
      layout('module_sect_attrs', 40, { grp: [0, 40], battrs: [40, 0] }),
      // The transition kernels named it bin_attrs_new, in a union with bin_attrs.
      layout('attribute_group', 40, { name: [0, 8], bin_attrs_new: [32, 8] }),
    );
  } else {
    out.push(
      layout('module', 768, { ...common, module_init: [320, 8], module_core: [328, 8], init_size: [336, 4], core_size: [340, 4] }),
      layout('module_sect_attrs', 48, { grp: [0, 40], nsections: [40, 4], attrs: [48, 0] }),
      layout('module_sect_attr', 56, { mattr: [0, 40], name: [40, 8], address: [48, 8] }),
    );
  }
  return out;
}

/** A kernel image holding `modules` (newest first, like the kernel's list) in one shape. */
function plant(shape: Shape, modules: PlantedModule[], arch: 'x86_64' | 'arm64' = 'x86_64') {
  const image = new MemoryImage(arch);
  for (const l of layouts(shape)) image.setLayout(l);
  const heap = window(image, HEAP, 0x4000000n, 0x100000n);
  const globals = window(image, MODULES_HEAD & ~0xfffn, 0x2b27000n, 0x1000n);
  let next = HEAP;
  const alloc = (size: number) => {
    const at = next;
    next += BigInt((size + 63) & ~63);
    return at;
  };
  const l = (name: string) => layouts(shape).find((x) => x.name === name)!;
  const off = (struct: string, m: string) => l(struct).members.get(m)!.offset;
  const structs = modules.map(() => alloc(l('module').size));
  image.setSymbol('modules', MODULES_HEAD);
  const links = [MODULES_HEAD, ...structs.map((s) => s + 8n), MODULES_HEAD];
  globals.int(MODULES_HEAD, links[1]);
  modules.forEach((m, i) => {
    const mod = structs[i];
    heap.int(mod + 8n, links[i + 2]);
    heap.int(mod, m.state, 4);
    heap.text(mod + 24n, m.name, 56);
    if (shape === '6.1') {
      heap.int(mod + 320n, m.regions[0].base);
      heap.int(mod + 328n, m.regions[0].size, 4);
      heap.int(mod + 400n, m.regions[1].base);
      heap.int(mod + 408n, m.regions[1].size, 4);
    } else if (shape === '4.4') {
      heap.int(mod + 328n, m.regions[0].base);
      heap.int(mod + 340n, m.regions[0].size, 4);
      heap.int(mod + 320n, m.regions[1].base);
      heap.int(mod + 336n, m.regions[1].size, 4);
    } else {
      const stride = BigInt(l('module_memory').size);
      m.regions.forEach((r, k) => {
        heap.int(mod + 640n + BigInt(k) * stride, r.base);
        heap.int(mod + 648n + BigInt(k) * stride, r.size, 4);
      });
    }
    if (m.percpu !== undefined) {
      heap.int(mod + 608n, m.percpu);
      heap.int(mod + 616n, 8, 4);
    }
    if (m.srcversion) {
      const s = alloc(m.srcversion.length + 1);
      heap.text(s, m.srcversion, m.srcversion.length + 1);
      heap.int(mod + 192n, s);
    }
    const names = m.sections.map(([name]) => {
      const s = alloc(name.length + 1);
      heap.text(s, name, name.length + 1);
      return s;
    });
    if (shape === '6.14') {
      const attrs = alloc(40 + 64 * m.sections.length);
      const list = alloc(8 * (m.sections.length + 1));
      m.sections.forEach(([, address], k) => {
        const battr = attrs + 40n + BigInt(64 * k);
        heap.int(battr + 0n, names[k]);
        heap.int(battr + 24n, address);
        heap.int(list + BigInt(8 * k), battr);
      });
      heap.int(attrs + 32n, list);
      heap.int(mod + 584n, attrs);
    } else {
      const stride = l('module_sect_attr').size;
      const attrs = alloc(48 + stride * m.sections.length);
      heap.int(attrs + BigInt(off('module_sect_attrs', 'nsections')), m.sections.length, 4);
      m.sections.forEach(([, address], k) => {
        const entry = attrs + 48n + BigInt(stride * k);
        heap.int(entry + BigInt(shape === '4.4' ? 40 : 0), names[k]);
        heap.int(entry + BigInt(off('module_sect_attr', 'address')), address);
      });
      heap.int(mod + 584n, attrs);
    }
    if (m.buildIdNote) {
      const note = m.sections.find(([n]) => n === '.note.gnu.build-id');
      if (note) heap.bytes(note[1], m.buildIdNote);
    }
  });
  return { image, structs, heap };
}

/** An NT_GNU_BUILD_ID note as the linker writes it. */
function buildIdNote(hex: string): Uint8Array {
  const desc = Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
  const out = new Uint8Array(16 + desc.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, 4, true);
  v.setUint32(4, desc.length, true);
  v.setUint32(8, 3, true);
  out.set([0x47, 0x4e, 0x55, 0], 12);
  out.set(desc, 16);
  return out;
}

// Module memory lives in the planted heap window here: bases are HEAP-relative so that the
// build-id note (which sits in the module's own memory) can be written.
const CORE = HEAP + 0x80000n;
const BRD_BUILD_ID = '13136f384b4f8bee72ee87351ceffd5065eea7d6';

/** brd after init (init freed, stale .init.text/.symtab), and kdap_test caught while COMING. */
function debian61() {
  const brd: PlantedModule = {
    name: 'brd',
    state: 0,
    regions: [{ base: CORE, size: 20480 }, { base: 0n, size: 0 }],
    sections: [
      ['.text', CORE],
      ['.note.gnu.build-id', CORE + 0x1000n],
      ['.init.text', CORE + 0x6000n],
      ['.data', CORE + 0x2000n],
      ['.symtab', CORE + 0x7000n],
      ['.bss', CORE + 0x3c0n + 0x2000n],
    ],
    srcversion: 'A1B2C3D4E5F60718293A4B5',
    buildIdNote: buildIdNote(BRD_BUILD_ID),
  };
  const coming: PlantedModule = {
    name: 'kdap_test',
    state: 1,
    regions: [{ base: CORE + 0xb000n, size: 16384 }, { base: CORE + 0x10000n, size: 12288 }],
    sections: [
      ['.text', CORE + 0xb000n],
      ['.text.unlikely', CORE + 0xb1bdn],
      ['.init.text', CORE + 0x10000n],
      ['.init.data', CORE + 0x11000n],
      ['.data', CORE + 0xd018n],
    ],
    percpu: 0x2d3a8n,
  };
  return plant('6.1', [coming, brd]);
}

describe('listModules on the 6.1 layout (core_layout, attrs[nsections])', () => {
  test('lists modules newest first with name, state, base and /proc/modules size', async () => {
    const { image, structs } = debian61();
    const mods = await listModules(image);
    assert.deepEqual(mods.map((m) => [m.name, m.state, m.base, m.size, m.address]), [
      ['kdap_test', 'coming', CORE + 0xb000n, 16384 + 12288, structs[0]],
      ['brd', 'live', CORE, 20480, structs[1]],
    ]);
  });

  test('drops sections whose init memory was freed, keeps them while the module is COMING', async () => {
    const [coming, brd] = await listModules(debian61().image);
    assert.deepEqual([...brd.sections.keys()], ['.text', '.note.gnu.build-id', '.data', '.bss']);
    assert.deepEqual(brd.freedSections, ['.init.text', '.symtab']);
    assert.deepEqual([...coming.sections], [
      ['.text', CORE + 0xb000n],
      ['.text.unlikely', CORE + 0xb1bdn],
      ['.init.text', CORE + 0x10000n],
      ['.init.data', CORE + 0x11000n],
      ['.data', CORE + 0xd018n],
    ]);
    assert.deepEqual(coming.freedSections, []);
  });

  test('reads the build id from the loaded note, srcversion and the per-CPU area', async () => {
    const [coming, brd] = await listModules(debian61().image);
    assert.equal(brd.buildId, BRD_BUILD_ID);
    assert.equal(brd.srcversion, 'A1B2C3D4E5F60718293A4B5');
    assert.equal(brd.percpu, undefined);
    assert.equal(coming.buildId, undefined);
    assert.equal(coming.srcversion, undefined);
    assert.deepEqual(coming.percpu, { base: 0x2d3a8n, size: 8 });
  });

  test('regions are core and init, init marked as such', async () => {
    const [, brd] = await listModules(debian61().image);
    assert.deepEqual(brd.regions, [
      { kind: 'core', base: CORE, size: 20480, init: false },
      { kind: 'init', base: 0n, size: 0, init: true },
    ]);
  });

  test('readModule reads one module by its struct module pointer; findModule by name', async () => {
    const { image, structs } = debian61();
    assert.equal((await readModule(image, structs[1])).name, 'brd');
    assert.equal((await findModule(image, 'kdap-test'))?.address, structs[0]);
    assert.equal(await findModule(image, 'loop'), undefined);
  });

  test('reads in bulk: one read per struct module, two per section table, one per name', async () => {
    const { image } = debian61();
    image.resetReads();
    await listModules(image);
    // head + (struct + nsections + table + names + build-id header) per module (+ srcversion for brd)
    const expected = 1 + (1 + 2 + 5) + (1 + 2 + 6 + 1 + 1);
    assert.equal(image.count('virtual'), expected);
  });

  test('an empty list is an empty array', async () => {
    const { image } = plant('6.1', []);
    assert.deepEqual(await listModules(image), []);
  });

  test('a module before sysfs setup (sect_attrs NULL) has no sections', async () => {
    const { image, structs, heap } = plant('6.1', [{ name: 'loop', state: 3, regions: [{ base: CORE, size: 4096 }, { base: 0n, size: 0 }], sections: [] }]);
    heap.int(structs[0] + 584n, 0);
    const [loop] = await listModules(image);
    assert.equal(loop.state, 'unformed');
    assert.equal(loop.sections.size, 0);
  });

  test('a list that never returns to its head is reported, not walked forever', async () => {
    const { image, structs, heap } = plant('6.1', [{ name: 'dummy', state: 0, regions: [{ base: CORE, size: 4096 }, { base: 0n, size: 0 }], sections: [] }]);
    heap.int(structs[0] + 584n, 0);
    heap.int(structs[0] + 8n, structs[0] + 8n); // list.next points at itself
    await assert.rejects(listModules(image), /more than 10000 entries/);
  });
});

describe('the other layouts', () => {
  test('6.4 mem[MOD_*]: base is MOD_TEXT, size sums every type, init types are init', async () => {
    const text = CORE;
    const mod: PlantedModule = {
      name: 'dummy',
      state: 0,
      regions: [
        { base: text, size: 0x1000 },
        { base: text + 0x3000n, size: 0x1000 },
        { base: text + 0x1000n, size: 0x1000 },
        { base: text + 0x2000n, size: 0x1000 },
        { base: 0n, size: 0 },
        { base: 0n, size: 0 },
        { base: 0n, size: 0 },
      ],
      sections: [['.text', text], ['.rodata', text + 0x1000n + 0x20n], ['.data', text + 0x3000n], ['.init.text', text + 0x5000n]],
    };
    const [dummy] = await listModules(plant('6.4', [mod]).image);
    assert.equal(dummy.base, text);
    assert.equal(dummy.size, 0x4000);
    assert.deepEqual(dummy.regions.map((r) => [r.kind, r.init]), [
      ['text', false], ['data', false], ['rodata', false], ['ro_after_init', false], ['init_text', true], ['init_data', true], ['init_rodata', true],
    ]);
    assert.deepEqual([...dummy.sections.keys()], ['.text', '.rodata', '.data']);
    assert.deepEqual(dummy.freedSections, ['.init.text']);
  });

  test('6.14 bin_attrs: names and addresses from bin_attribute.private; build_id member preferred', async () => {
    const mod: PlantedModule = {
      name: 'loop',
      state: 1,
      regions: [{ base: CORE, size: 0x2000 }, { base: CORE + 0x4000n, size: 0x1000 }, { base: 0n, size: 0 }, { base: 0n, size: 0 }, { base: CORE + 0x8000n, size: 0x1000 }, { base: 0n, size: 0 }, { base: 0n, size: 0 }],
      sections: [['.text', CORE], ['.data', CORE + 0x4000n], ['.init.text', CORE + 0x8000n]],
    };
    const { image, structs, heap } = plant('6.14', [mod], 'arm64');
    heap.bytes(structs[0] + 1200n, Uint8Array.from({ length: 20 }, (_, i) => i + 1));
    const [loop] = await listModules(image);
    assert.deepEqual([...loop.sections], [['.text', CORE], ['.data', CORE + 0x4000n], ['.init.text', CORE + 0x8000n]]);
    assert.equal(loop.buildId, '0102030405060708090a0b0c0d0e0f1011121314');
  });

  test('before 4.5 (module_core/module_init) and 5.8 (name in module_sect_attr)', async () => {
    const mod: PlantedModule = {
      name: 'binfmt_misc',
      state: 0,
      regions: [{ base: CORE, size: 0x7000 }, { base: 0n, size: 0 }],
      sections: [['.text', CORE], ['.bss', CORE + 0x6000n], ['.init.text', CORE + 0x8000n]],
    };
    const [m] = await listModules(plant('4.4', [mod]).image);
    assert.equal(m.base, CORE);
    assert.equal(m.size, 0x7000);
    assert.deepEqual([...m.sections.keys()], ['.text', '.bss']);
  });

  test('a struct module of no known shape is a DebugInfoError', async () => {
    const image = new MemoryImage('x86_64').setSymbol('modules', MODULES_HEAD).setLayout(layout('module', 64, { state: [0, 4], list: [8, 16], name: [24, 32] }));
    window(image, MODULES_HEAD & ~0xfffn, 0x2b27000n, 0x1000n).int(MODULES_HEAD, MODULES_HEAD + 0x100n);
    await assert.rejects(listModules(image), DebugInfoError);
  });

  test('a kernel without struct module in its debug info says so once a module is listed', async () => {
    const image = new MemoryImage('arm64').setSymbol('modules', MODULES_HEAD);
    window(image, MODULES_HEAD & ~0xfffn, 0x2b27000n, 0x1000n).int(MODULES_HEAD, MODULES_HEAD + 0x100n);
    await assert.rejects(listModules(image), (e: unknown) => e instanceof DebugInfoError && /struct module/.test(e.message));
  });

  test('an empty module list needs no struct module layout', async () => {
    const image = new MemoryImage('arm64').setSymbol('modules', MODULES_HEAD);
    window(image, MODULES_HEAD & ~0xfffn, 0x2b27000n, 0x1000n).int(MODULES_HEAD, MODULES_HEAD);
    assert.deepEqual(await listModules(image), []);
  });
});

describe('strings, notes, release', () => {
  test('readCString stops at the end of a mapped page without touching the next', async () => {
    const image = new MemoryImage('x86_64');
    const w = window(image, 0xffff888000000000n, 0x1000000n, 0x1000n);
    w.text(0xffff888000000ffcn, '.bss', 4); // no NUL in this page
    await assert.rejects(readCString(image, 0xffff888000000ffcn, 64), FaultError);
    w.text(0xffff888000000ff8n, '.bss', 5);
    assert.equal(await readCString(image, 0xffff888000000ff8n, 64), '.bss');
    w.text(0xffff888000000100n, 'x'.repeat(100), 101);
    assert.equal(await readCString(image, 0xffff888000000100n, 256), 'x'.repeat(100));
    assert.equal(await readCString(image, 0xffff888000000100n, 10), 'x'.repeat(10));
  });

  test('parseBuildIdNote skips other notes and rejects a truncated one', () => {
    const other = new Uint8Array(20);
    new DataView(other.buffer).setUint32(0, 6, true);
    new DataView(other.buffer).setUint32(4, 0, true);
    new DataView(other.buffer).setUint32(8, 0x100, true);
    other.set([0x4c, 0x69, 0x6e, 0x75, 0x78, 0], 12);
    const both = new Uint8Array(other.length + 36);
    both.set(other);
    both.set(buildIdNote(BRD_BUILD_ID), other.length);
    assert.equal(parseBuildIdNote(both), BRD_BUILD_ID);
    assert.equal(parseBuildIdNote(buildIdNote(BRD_BUILD_ID).subarray(0, 30)), undefined);
  });

  test('kernelRelease reads init_uts_ns.name.release', async () => {
    const image = new MemoryImage('x86_64');
    for (const l of layouts('6.1')) image.setLayout(l);
    const w = window(image, 0xffffffff82bf9000n, 0x2bf9000n, 0x1000n);
    image.setSymbol('init_uts_ns', 0xffffffff82bf9b60n);
    w.text(0xffffffff82bf9b60n + 4n + 130n, '6.1.0-50-cloud-amd64', 65);
    assert.equal(await kernelRelease(image), '6.1.0-50-cloud-amd64');
  });
});
