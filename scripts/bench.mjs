#!/usr/bin/env node
// Runs one benchmark from bench/ after a build and test compile (benchmarks load out/ and dist/).
//   npm run bench                 lists them with their first comment line
//   npm run bench -- NAME [args]  runs bench/NAME.mjs with args
// Benchmarks print figures and ratios; they never pass or fail.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const benchDir = path.join(root, 'bench');
const [name, ...rest] = process.argv.slice(2);
const all = fs.readdirSync(benchDir).filter((f) => f.endsWith('.mjs')).map((f) => f.slice(0, -4)).sort();

if (!name) {
  for (const b of all) {
    const first = fs.readFileSync(path.join(benchDir, `${b}.mjs`), 'utf8').split('\n').find((l) => l.startsWith('// '));
    console.log(`${b.padEnd(12)} ${first ? first.slice(3) : ''}`);
  }
  process.exit(0);
}
if (!all.includes(name)) {
  console.error(`no benchmark '${name}': one of ${all.join(', ')}`);
  process.exit(2);
}
const step = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
step(process.execPath, [path.join(root, 'scripts', 'build.mjs')]);
step(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.test.json']);
step(process.execPath, [path.join(benchDir, `${name}.mjs`), ...rest]);
