#!/usr/bin/env node
// Finding the kernel builds of a workspace, on the fixture kernel tree (linux-6.1.176, ~75k
// files) and the two make O= builds of scripts/fixtures-kgdb.sh:
//
//   node bench/kernel-tree.mjs [runs]
//
// The workspace is a scratch folder holding links to them (`linux`, `build-x86_64`,
// `build-arm64`), as a developer's ~/src would. Contenders, each asked for the build directories
// within 3 levels: kdap's findKernelBuilds (engine/kernel-tree.ts) and `find -L WS -maxdepth 3
// -name .config`, the obvious bounded walk. Both must report the same two builds. First run and
// the median of the rest (warm page cache), ratio against find. Needs `npx tsc -p
// tsconfig.test.json` (out/) first; no lock (no QEMU).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const built = path.join(root, 'out', 'src', 'engine', 'kernel-tree.js');
if (!fs.existsSync(built)) {
  console.error('missing out/src/engine/kernel-tree.js: run npx tsc -p tsconfig.test.json first');
  process.exit(2);
}
const { findKernelBuilds } = require(built);
const runs = Math.max(2, Number(process.argv[2] ?? 6));
const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
const builds = Object.fromEntries(['x86_64', 'arm64'].map((a) => [a, manifest.kgdb?.[a]?.buildDir ?? path.join(cache, 'kgdb', a, 'build')]));
for (const dir of [manifest.sourceRoot, ...Object.values(builds)]) {
  if (!fs.existsSync(path.join(dir, 'Makefile'))) {
    console.error(`missing ${dir}: run bash scripts/fixtures.sh first`);
    process.exit(2);
  }
}

const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-bench-tree-'));
fs.symlinkSync(manifest.sourceRoot, path.join(ws, 'linux'));
for (const [arch, dir] of Object.entries(builds)) fs.symlinkSync(dir, path.join(ws, `build-${arch}`));
const files = Number(spawnSync('find', [manifest.sourceRoot, '-type', 'f'], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout.split('\n').length - 1);

const contenders = [
  {
    name: 'find -L -maxdepth 3 -name .config',
    run: async () => {
      const out = spawnSync('find', ['-L', ws, '-maxdepth', '3', '-name', '.config'], { encoding: 'utf8' }).stdout.trim().split('\n');
      return out.filter(Boolean).map((f) => fs.realpathSync(path.dirname(f))).sort();
    },
  },
  {
    name: 'kdap findKernelBuilds',
    run: async () => (await findKernelBuilds([ws])).builds.map((b) => b.dir).sort(),
  },
];

const want = Object.values(builds).map((d) => fs.realpathSync(d)).sort();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = [];
for (const c of contenders) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const found = await c.run();
    times.push(performance.now() - t);
    if (JSON.stringify(found) !== JSON.stringify(want)) throw new Error(`${c.name} found ${JSON.stringify(found)}, not ${JSON.stringify(want)}`);
  }
  results.push({ name: c.name, first: times[0], warm: median(times.slice(1)) });
}
const visited = (await findKernelBuilds([ws])).visited;
fs.rmSync(ws, { recursive: true, force: true });
console.log(`kernel builds of a workspace holding the ${files}-file source tree and 2 O= builds (both contenders found both; ${runs} runs)`);
for (const r of results) {
  console.log(`  ${r.name.padEnd(36)} first ${r.first.toFixed(1).padStart(8)} ms   warm ${r.warm.toFixed(1).padStart(8)} ms  ×${(r.warm / results[0].warm).toFixed(3)}`);
}
console.log(`  kdap looked at ${visited} directories`);
