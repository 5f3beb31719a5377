/**
 * The facts KASLR detection takes from a vmlinux, checked on the Debian fixture kernels against
 * their System.map and the package's own release name (skipped, with the reason, when the
 * fixtures have not been fetched), and on files that are not what they claim.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bannerOfFacts } from '../../../src/engine/banner';
import { readVmlinuxFacts, type FactsStore, type VmlinuxFacts } from '../../../src/engine/linked-kernel';
import { symbolTable, type Definition } from '../../../src/engine/vmlinux-symbols';

interface ArchEntry {
  vmlinux: string;
  systemMap: string;
  release: string;
  buildId: string;
  kmod?: unknown;
}

function manifest(): Record<string, ArchEntry> | string {
  const file = path.join(process.env.KDAP_CACHE || path.join(os.homedir(), '.cache', 'kdap'), 'fixtures.json');
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { arches: Record<string, ArchEntry> }).arches;
  } catch {
    return `no ${file}; run \`npm run fixtures\` to fetch the Debian kernels`;
  }
}

const arches = manifest();

for (const arch of ['x86_64', 'arm64']) {
  const fx = typeof arches === 'string' ? undefined : arches[arch];
  const skip = typeof arches === 'string' ? arches : !fx || !fs.existsSync(fx.vmlinux) ? `no ${arch} vmlinux in the fixtures` : false;
  describe(`vmlinux facts (${arch} Debian fixture)`, () => {
    test('link addresses equal System.map; the banner names the package release; build id', { skip }, async () => {
      const facts = await readVmlinuxFacts(fx!.vmlinux);
      const map = new Map<string, bigint>();
      for (const line of fs.readFileSync(fx!.systemMap, 'utf8').split('\n')) {
        const [addr, , name] = line.split(' ');
        if (name && !map.has(name)) map.set(name, BigInt(`0x${addr}`));
      }
      assert.equal(facts.arch, arch);
      assert.ok(facts.symbols.size >= 10, `${facts.symbols.size} symbols`);
      for (const [name, value] of facts.symbols) assert.equal(value, map.get(name), name);
      assert.equal(facts.buildId, fx!.buildId);
      assert.ok(facts.bannerText.startsWith(`Linux version ${fx!.release} (debian-kernel@lists.debian.org)`), facts.bannerText);
      assert.match(facts.bannerText, / Debian 6\.1\.\d+-\d+ \(\d{4}-\d\d-\d\d\)$/);
      assert.equal(facts.banner[facts.banner.length - 1], 0x0a, 'the banner ends with its newline, as in memory');
      assert.equal(facts.banner.length, Number(facts.sizes!.get('linux_banner')) - 1, 'the NUL is not part of it');
      // System.map: x86_64 SMP links the per-CPU area at 0 (offsets KASLR does not move), arm64 inside the image.
      assert.deepEqual(facts.unmovedSections, map.get('__per_cpu_start') === 0n ? ['.data..percpu'] : []);
    });

    test('the symbol table: names defined once have their System.map address, names defined at several addresses none', { skip }, async () => {
      const table = await symbolTable(fx!.vmlinux);
      const all = new Map<string, Set<bigint>>();
      for (const line of fs.readFileSync(fx!.systemMap, 'utf8').split('\n')) {
        const [addr, , name] = line.split(' ');
        if (name) all.set(name, (all.get(name) ?? new Set()).add(BigInt(`0x${addr}`)));
      }
      // What the task layer looks up before gdb connects.
      for (const name of ['init_task', '__per_cpu_offset', 'runqueues', 'init_pid_ns', 'linux_banner']) {
        assert.deepEqual([...all.get(name)!], [table!.get(name)], name);
      }
      assert.equal(table!.has('pcpu_hot'), all.has('pcpu_hot'));
      const several = [...all].filter(([, at]) => at.size > 1).slice(0, 50);
      assert.ok(several.length > 0, 'System.map has statics of the same name');
      for (const [name] of several) assert.equal(table!.get(name), null, name);
      const banner = bannerOfFacts(await readVmlinuxFacts(fx!.vmlinux));
      assert.equal(banner?.address, table!.get('linux_banner'));
      assert.ok(banner?.text.startsWith(`Linux version ${fx!.release} `));
      assert.equal(banner?.size, banner!.text.length + 2, 'the text, its newline and the NUL');
    });
  });
}

/** A store of definitions for one build id that counts what it is asked and told. */
function storeFor(buildId: string, held?: Map<string, Definition | null>): FactsStore & { asked: number; told: number; held: Map<string, Definition | null> } {
  const store = {
    buildId,
    asked: 0,
    told: 0,
    held: held ?? new Map<string, Definition | null>(),
    definitions(names: readonly string[]) {
      store.asked++;
      return names.every((n) => store.held.has(n)) ? new Map(names.map((n) => [n, store.held.get(n)!])) : undefined;
    },
    define(found: ReadonlyMap<string, Definition | null>) {
      store.told++;
      for (const [n, d] of found) store.held.set(n, d);
    },
  };
  return store;
}

const sameFacts = (a: VmlinuxFacts, b: VmlinuxFacts) => {
  assert.deepEqual(b.symbols, a.symbols);
  assert.deepEqual(b.sizes, a.sizes);
  assert.equal(b.bannerText, a.bannerText);
  assert.deepEqual([...b.banner], [...a.banner]);
  assert.deepEqual([...b.fileHead], [...a.fileHead]);
  assert.deepEqual(b.fileWords, a.fileWords);
  assert.deepEqual(b.unmovedSections, a.unmovedSections);
  assert.equal(b.buildId, a.buildId);
};

for (const arch of ['x86_64', 'arm64']) {
  const fx = typeof arches === 'string' ? undefined : arches[arch];
  const other = typeof arches === 'string' ? undefined : arches[arch === 'x86_64' ? 'arm64' : 'x86_64'];
  const skip = typeof arches === 'string' ? arches : !fx || !other || !fs.existsSync(fx.vmlinux) || !fs.existsSync(other.vmlinux) ? 'the fixtures lack a vmlinux of each arch' : false;
  describe(`vmlinux facts kept per build id (${arch} Debian fixture)`, () => {
    test('the next read takes the definitions from the store, not the symbol table, and gives the same facts', { skip }, async () => {
      const table = await readVmlinuxFacts(fx!.vmlinux);
      const store = storeFor(fx!.buildId);
      sameFacts(table, await readVmlinuxFacts(fx!.vmlinux, [], { store }));
      assert.equal(store.told, 1, 'the first read tells the store what the table holds');
      assert.equal(store.held.get('linux_banner')?.value, table.symbols.get('linux_banner'));
      assert.equal(store.held.get('no_such_symbol'), undefined);
      sameFacts(table, await readVmlinuxFacts(fx!.vmlinux, [], { store }));
      assert.equal(store.told, 1, 'the second read was answered by the store');
      // A name it has not been asked for sends the read to the table again.
      const extra = await readVmlinuxFacts(fx!.vmlinux, ['schedule'], { store });
      assert.equal(store.told, 2);
      assert.ok(extra.symbols.has('schedule'));
    });

    test('a store that does not lead to the banner, or holds another build, is not believed', { skip }, async () => {
      const table = await readVmlinuxFacts(fx!.vmlinux);
      // The other arch's definitions filed under this build id (a store gone wrong).
      const theirs = storeFor(other!.buildId);
      await readVmlinuxFacts(other!.vmlinux, [], { store: theirs });
      const forged = storeFor(fx!.buildId, new Map(theirs.held));
      sameFacts(table, await readVmlinuxFacts(fx!.vmlinux, [], { store: forged }));
      assert.equal(forged.told, 1, 'read from the table, and the store corrected');
      assert.equal(forged.held.get('linux_banner')?.value, table.symbols.get('linux_banner'));
      // This build's definitions, but linux_banner where _text is: the bytes there are no banner.
      const moved = storeFor(fx!.buildId, new Map(forged.held));
      moved.held.set('linux_banner', { value: table.symbols.get('_text')!, size: 200n, twice: false });
      sameFacts(table, await readVmlinuxFacts(fx!.vmlinux, [], { store: moved }));
      assert.equal(moved.told, 1);
      // A store of another build id (a rebuilt vmlinux) is not even asked.
      const rebuilt = storeFor(other!.buildId, new Map(forged.held));
      sameFacts(table, await readVmlinuxFacts(fx!.vmlinux, [], { store: rebuilt }));
      assert.deepEqual([rebuilt.asked, rebuilt.told], [0, 0]);
    });
  });
}

describe('vmlinux facts of files that are not a vmlinux', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-linked-'));
  test('a bzImage-like file: not ELF', async () => {
    const f = path.join(dir, 'bzImage');
    fs.writeFileSync(f, Buffer.alloc(512, 0x4d));
    await assert.rejects(readVmlinuxFacts(f), /not an ELF file/);
  });

  test('an ELF of another arch, and one without linux_banner, say so', async () => {
    const header = (machine: number) => {
      const b = Buffer.alloc(64);
      b.writeUInt32BE(0x7f454c46, 0);
      b[4] = 2;
      b[5] = 1;
      b[6] = 1;
      b.writeUInt16LE(2, 16);
      b.writeUInt16LE(machine, 18);
      return b;
    };
    const riscv = path.join(dir, 'riscv');
    fs.writeFileSync(riscv, header(243));
    await assert.rejects(readVmlinuxFacts(riscv), /ELF machine 243; kdap debugs x86_64 and arm64/);
    const bare = path.join(dir, 'bare');
    fs.writeFileSync(bare, header(62));
    await assert.rejects(readVmlinuxFacts(bare), /no linux_banner symbol: is it a vmlinux\?/);
  });
});
