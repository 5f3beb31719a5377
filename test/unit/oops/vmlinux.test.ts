/**
 * The Debian 6.1 vmlinux and modules that scripts/fixtures.sh downloads: our symbol table
 * against `nm`, and every frame of the captured crash logs against the sizes the kernel printed.
 * Skipped, with the reason, when the fixtures have not been fetched.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SHN_UNDEF, STT_FILE, STT_SECTION } from '../../../src/oops/elf';
import { loadSymbolTable, lookupFuncOffset, type SymbolTable } from '../../../src/oops/symbols';
import { parseFixture } from './helpers';
import { run, tool } from './readelf';

interface ArchEntry {
  vmlinux?: string;
  buildId?: string;
  modules?: Record<string, { debug?: string }>;
}

function manifest(): Record<string, ArchEntry> | string {
  const file = path.join(process.env.KDAP_CACHE || path.join(os.homedir(), '.cache', 'kdap'), 'fixtures.json');
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { arches?: Record<string, ArchEntry> }).arches ?? `${file} lists no arches`;
  } catch {
    return `no ${file}; run \`npm run fixtures\` to fetch the Debian kernels`;
  }
}

const CASES: Array<{ arch: string; nm: string[]; logs: string[] }> = [
  { arch: 'x86_64', nm: ['nm', 'llvm-nm'], logs: ['x86_64/null-deref.log', 'x86_64/warn.log', 'x86_64/bug.log', 'x86_64/sysrq-l.log', 'x86_64/sysrq-c-panic.log'] },
  {
    arch: 'arm64',
    nm: ['aarch64-linux-gnu-nm', 'llvm-nm'],
    logs: ['arm64/debian61-cortexa57-fatal-oops-panic_on_oops.log', 'arm64/debian61-cortexa57-sysrq-c-panic.log'],
  },
];

const tables = new Map<string, SymbolTable>();
async function table(file: string): Promise<SymbolTable> {
  let t = tables.get(file);
  if (!t) {
    t = await loadSymbolTable(file);
    tables.set(file, t);
  }
  return t;
}

describe('Debian 6.1 vmlinux fixtures', () => {
  for (const c of CASES) {
    const m = manifest();
    const entry = typeof m === 'string' ? undefined : m[c.arch];
    const missing = typeof m === 'string' ? m : !entry?.vmlinux || !fs.existsSync(entry.vmlinux) ? `no ${c.arch} vmlinux in the fixtures` : undefined;

    it(`${c.arch}: symbols and build id match nm and the manifest`, { skip: missing }, async (t) => {
      const nm = c.nm.find(tool);
      if (!nm) return t.skip(`none of ${c.nm.join(', ')} installed`);
      const started = process.hrtime.bigint();
      const tab = await table(entry!.vmlinux!);
      t.diagnostic(`${tab.symbols.length} symbols read in ${Number(process.hrtime.bigint() - started) / 1e6} ms`);
      assert.equal(tab.buildId, entry!.buildId);
      const ours = tab.symbols
        // nm hides file and section symbols and the arm `$x`/`$d` mapping symbols (not `.LC0`).
        .filter((s) => s.shndx !== SHN_UNDEF && s.type !== STT_FILE && s.type !== STT_SECTION && s.name !== '' && !s.name.startsWith('$'))
        .map((s) => `${s.value.toString(16).padStart(16, '0')} ${s.name}`)
        .sort();
      const theirs = run(nm, ['--defined-only', entry!.vmlinux!])
        .stdout.split('\n')
        .filter((l) => l !== '')
        .map((l) => {
          const [value, , name] = l.split(' ');
          return `${value} ${name}`;
        })
        .sort();
      assert.equal(ours.length, theirs.length);
      assert.deepEqual(ours, theirs);
    });

    it(`${c.arch}: every built-in frame of the captured logs has exactly one candidate of the printed size`, { skip: missing }, async () => {
      const tab = await table(entry!.vmlinux!);
      let checked = 0;
      for (const log of c.logs) {
        for (const r of parseFixture(log).reports) {
          for (const f of r.frames) {
            if (f.module || f.symbol === undefined || f.offset === undefined) continue;
            const res = lookupFuncOffset(tab, f.symbol, f.offset, f.size);
            assert.equal(res.matches.length, 1, `${log}:${f.line} ${f.symbol} ${res.skipped.map((s) => s.reason).join('; ')}`);
            checked++;
          }
        }
      }
      assert.ok(checked > 30, `${checked} frames`);
    });
  }

  const m = manifest();
  const dummy = typeof m === 'string' ? undefined : m.arm64?.modules?.dummy?.debug;
  it('arm64 dummy.ko (ET_REL): the module frame resolves in .text', { skip: dummy && fs.existsSync(dummy) ? undefined : 'no arm64 dummy.ko fixture' }, async () => {
    const tab = await table(dummy!);
    const res = lookupFuncOffset(tab, 'dummy_get_stats64', 0x20n, 0x30n);
    assert.deepEqual(
      res.matches.map((x) => [x.sectionName, x.size]),
      [['.text', 0x30n]],
    );
  });
});
