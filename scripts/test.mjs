#!/usr/bin/env node
// Runs the test tiers: unit (pure), e2e (real QEMU + gdb + Debian kernels), vscode (real VS Code).
//   node scripts/test.mjs            all tiers, fixtures ensured first
//   node scripts/test.mjs unit e2e   only those tiers
// Each tier's passed, failed (cancelled included), skipped (todo and whole skipped suites
// included) are printed with every skip's reason, and summed into the closing line
// "tests: N passed, N failed, N skipped". What a filter left out (tiers not selected,
// KDAP_E2E_ARCH, KDAP_VSCODE_PARTS) is said before it and on it.
//
// Under CI=true a missing fixture is a failure: fixtures.sh must succeed, and a test skipped
// for a missing fixture counts as failed, named with the fixture. Elsewhere a fixture that
// cannot be prepared is reported and its tests skip, so the rest can still run.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(root);
const ci = process.env.CI === 'true' || process.env.CI === '1';
const allTiers = ['unit', 'e2e', 'vscode'];
const tiers = process.argv.slice(2).filter((a) => allTiers.includes(a));
const selected = tiers.length ? tiers : allTiers;
const artifacts = path.join(root, 'test-artifacts');
fs.mkdirSync(artifacts, { recursive: true });

// Results of an earlier run must never be read as this run's.
for (const tier of selected) {
  for (const stale of [`${tier}.tap`, tier, `${tier}-summary.json`, `${tier}-mocha.log`]) {
    fs.rmSync(path.join(artifacts, stale), { recursive: true, force: true });
  }
}

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
    console.log(`tests: 0 passed, 1 failed, 0 skipped (setup step failed: ${cmd} ${args.join(' ')})`);
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

const empty = () => ({ passed: 0, failed: 0, skipped: 0, todo: 0, cancelled: 0, skippedSuites: 0, skips: [], failures: [] });

/** Runs node's test runner over files; counts from its TAP stream. */
function nodeTests(tier, files, extra = []) {
  if (files.length === 0) return { ...empty(), failed: 1, failures: [`${tier}: no test files`] };
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
  const { readTap } = require(path.join(root, 'out', 'test', 'support', 'tap-summary.js'));
  const r = readTap(fs.existsSync(tap) ? fs.readFileSync(tap, 'utf8') : '');
  if (!r.complete) {
    r.failed++;
    r.failures.push(`${tier}: the test runner wrote no summary (exit ${status})`);
  } else if (status !== 0 && r.failed === 0) {
    r.failed++;
    r.failures.push(`${tier}: the test runner exited ${status} with no failed test`);
  }
  return r;
}

/** The vscode tier's own summary (test/vscode/run.mjs). */
function vscodeTests() {
  const summary = path.join(artifacts, 'vscode-summary.json');
  const status = run(process.execPath, ['test/vscode/run.mjs']);
  if (!fs.existsSync(summary)) return { ...empty(), failed: 1, failures: [`vscode: no ${path.relative(root, summary)} (exit ${status})`] };
  const s = JSON.parse(fs.readFileSync(summary, 'utf8'));
  const r = empty();
  for (const t of s.tests ?? []) {
    if (t.status === 'skipped') {
      r.skipped++;
      r.skips.push({ name: t.name, reason: t.reason ?? '', kind: 'skip', suite: false });
    } else if (t.status === 'passed') r.passed++;
    else {
      r.failed++;
      r.failures.push(t.name);
    }
  }
  if (status !== 0 && r.failed === 0) {
    r.failed++;
    r.failures.push(`vscode: run.mjs exited ${status} with no failed test`);
  }
  return r;
}

const needsTarget = selected.includes('e2e') || selected.includes('vscode');
const notes = [];
if (needsTarget) {
  if (ci) must('bash', ['scripts/fixtures.sh']);
  else if (run('bash', ['scripts/fixtures.sh']) !== 0) {
    notes.push('fixtures.sh failed (see above): tests that need the missing fixtures skip and name them; under CI=true this run would fail');
  }
}
must(process.execPath, ['scripts/build.mjs']);
must(process.execPath, [path.join('node_modules', 'eslint', 'bin', 'eslint.js'), 'src']);
must(process.execPath, [path.join('node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.test.json']);
const { isFixtureSkip } = require(path.join(root, 'out', 'test', 'support', 'tap-summary.js'));

const results = [];
if (selected.includes('unit')) results.push(['unit', nodeTests('unit', listTests('out/test/unit'))]);
if (selected.includes('e2e')) {
  // One kernel boot at a time: the machine has two cores and TCG is CPU-bound.
  results.push(['e2e', nodeTests('e2e', listTests('out/test/e2e'), ['--test-concurrency=1', '--test-timeout=600000'])]);
}
if (selected.includes('vscode')) {
  must('bash', ['scripts/setup-vscode.sh']);
  must('npm', ['run', '--silent', 'package']);
  results.push(['vscode', vscodeTests()]);
}

// What was left out on purpose.
const notRun = allTiers.filter((t) => !selected.includes(t)).map((t) => `the ${t} tier`);
const arch = process.env.KDAP_E2E_ARCH;
if (selected.includes('e2e') && arch) notRun.push(`the e2e tests of ${['x86_64', 'arm64'].filter((a) => a !== arch).join(', ') || 'every arch'} (KDAP_E2E_ARCH=${arch})`);
const parts = process.env.KDAP_VSCODE_PARTS;
if (selected.includes('vscode') && parts) {
  const dropped = { suite: 'the extension-host mocha suite', ui: 'the UI scenarios', untrusted: 'the untrusted-folder scenario', kgdb: 'the kgdb-over-a-pty scenario' };
  const off = Object.keys(dropped).filter((p) => !parts.split(',').includes(p));
  if (off.length) notRun.push(`${off.map((p) => dropped[p]).join(' and ')} (KDAP_VSCODE_PARTS=${parts})`);
}

const totals = { passed: 0, failed: 0, skipped: 0 };
console.log('');
for (const [tier, r] of results) {
  // Under CI, a test that skipped for want of a fixture failed.
  if (ci) {
    for (const s of r.skips.filter((x) => isFixtureSkip(x.reason))) {
      s.ciFailure = true;
      r.skipped--;
      r.failed++;
      r.failures.push(`${s.name} (CI: ${s.reason})`);
    }
  }
  const left = r.skips.filter((x) => !x.ciFailure);
  const todo = left.filter((x) => x.kind === 'todo').length;
  const suites = left.filter((x) => x.suite).length;
  const extra = [todo && `${todo} todo`, suites && `${suites} whole suites`, r.cancelled && `${r.cancelled} cancelled`].filter(Boolean);
  console.log(`[test] ${tier}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${extra.length ? ` (${extra.join(', ')})` : ''}`);
  for (const s of left) console.log(`[test]   ${s.kind === 'todo' ? 'todo' : 'skipped'}: ${s.name}${s.reason ? ` — ${s.reason}` : ''}`);
  for (const f of r.failures) console.log(`[test]   FAILED: ${f}`);
  totals.passed += r.passed;
  totals.failed += r.failed;
  totals.skipped += r.skipped;
}
for (const n of notes) console.log(`[test] note: ${n}`);
if (notRun.length) console.log(`[test] not run: ${notRun.join('; ')}`);
const tail = notRun.length ? ` (not run: ${notRun.join('; ')})` : '';
console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped${tail}`);
process.exit(totals.failed === 0 && totals.passed > 0 ? 0 : 1);
