#!/usr/bin/env node
// Runs the test tiers: unit (pure), e2e (real QEMU + gdb + Debian kernels), vscode (real VS Code).
//   node scripts/test.mjs            all tiers, fixtures ensured first
//   node scripts/test.mjs unit e2e   only those tiers
// Every tier's pass/fail counts are summed into one closing line "tests: N passed, N failed".
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(root);
const allTiers = ['unit', 'e2e', 'vscode'];
const tiers = process.argv.slice(2).filter((a) => allTiers.includes(a));
const selected = tiers.length ? tiers : allTiers;
const artifacts = path.join(root, 'test-artifacts');
fs.mkdirSync(artifacts, { recursive: true });

function run(cmd, args, opts = {}) {
  const started = Date.now();
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`[test] ${cmd} ${args.join(' ')} -> ${r.status ?? r.signal} (${secs} s)`);
  return r.status ?? 1;
}

function must(cmd, args, opts) {
  const status = run(cmd, args, opts);
  if (status !== 0) {
    console.log(`tests: 0 passed, 1 failed (setup step failed: ${cmd} ${args.join(' ')})`);
    process.exit(1);
  }
}

function listTests(dir) {
  if (!fs.existsSync(dir)) return [];
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTests(p));
    else if (entry.name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

/** Runs node's test runner over files; returns {pass, fail} read from its TAP summary. */
function nodeTests(tier, files, extra = []) {
  if (files.length === 0) {
    console.log(`[test] ${tier}: no test files`);
    return { pass: 0, fail: 1 };
  }
  const tap = path.join(artifacts, `${tier}.tap`);
  const status = run(process.execPath, [
    '--enable-source-maps',
    '--test',
    ...extra,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...files,
  ]);
  const text = fs.existsSync(tap) ? fs.readFileSync(tap, 'utf8') : '';
  const pass = Number(/^# pass (\d+)/m.exec(text)?.[1] ?? 0);
  let fail = Number(/^# fail (\d+)/m.exec(text)?.[1] ?? 0);
  if (status !== 0 && fail === 0) fail = 1;
  console.log(`[test] ${tier}: ${pass} passed, ${fail} failed`);
  return { pass, fail };
}

const needsTarget = selected.includes('e2e') || selected.includes('vscode');
if (needsTarget) must('bash', ['scripts/fixtures.sh']);
must(process.execPath, ['scripts/build.mjs']);
must(process.execPath, [path.join('node_modules', 'eslint', 'bin', 'eslint.js'), 'src']);
must(process.execPath, [path.join('node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.test.json']);

const totals = { pass: 0, fail: 0 };
const add = (r) => {
  totals.pass += r.pass;
  totals.fail += r.fail;
};

if (selected.includes('unit')) add(nodeTests('unit', listTests('out/test/unit')));
if (selected.includes('e2e')) {
  // One kernel boot at a time: the machine has two cores and TCG is CPU-bound.
  add(nodeTests('e2e', listTests('out/test/e2e'), ['--test-concurrency=1', '--test-timeout=600000']));
}
if (selected.includes('vscode')) {
  must('bash', ['scripts/setup-vscode.sh']);
  must('npm', ['run', '--silent', 'package']);
  const summary = path.join(artifacts, 'vscode-summary.json');
  fs.rmSync(summary, { force: true });
  const status = run(process.execPath, ['test/vscode/run.mjs']);
  let r = { pass: 0, fail: status === 0 ? 0 : 1 };
  if (fs.existsSync(summary)) {
    const s = JSON.parse(fs.readFileSync(summary, 'utf8'));
    r = { pass: s.passed ?? 0, fail: Math.max(s.failed ?? 0, status === 0 ? 0 : 1) };
  }
  console.log(`[test] vscode: ${r.pass} passed, ${r.fail} failed`);
  add(r);
}

console.log(`tests: ${totals.pass} passed, ${totals.fail} failed`);
process.exit(totals.fail === 0 && totals.pass > 0 ? 0 : 1);
