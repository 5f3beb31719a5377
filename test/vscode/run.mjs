#!/usr/bin/env node
// The vscode test tier: kdap inside a real VS Code, driven headless.
//
//   node test/vscode/run.mjs        (after scripts/setup-vscode.sh, npm run package, tsc -p tsconfig.test.json)
//
// VS Code is the server bundled in the code-server npm package (lib/vscode/out/server-main.js,
// the real Node extension host); its web workbench runs in Debian's chromium under
// playwright-core. kdap is always dist/kdap.vsix, installed into the server's profile as a
// user installs it. Parts, each on a fresh server, browser and workspace copy:
//   suite      the mocha suite inside the extension host (scenarios/suite.mjs);
//   ui         UI scenarios: crash logs and views without a kernel (scenarios/static.mjs), then a
//              live session on the x86_64 fixture kernel checked against gdb, QEMU's monitor and
//              the guest's /proc and /sys (scenarios/live.mjs);
//   untrusted  F5 in a folder VS Code does not trust (scenarios/untrusted.mjs);
//   dump       "Kernel: Open Crash Dump…" on the x86_64 kdump fixture, checked against what that
//              guest printed before it panicked (scenarios/dump.mjs);
//   kgdb       the platform vsix attaches to the kgdb fixture kernel through a socat pty
//              (scenarios/kgdb-pty.mjs).
// Screenshots go to test-artifacts/vscode/. Writes test-artifacts/vscode-summary.json
// {passed, failed, skipped, tests: [{name, status, error?, reason?}]} and exits 0 only if no
// test failed. Environment: KDAP_CACHE (where setup-vscode.sh installed and the fixtures are),
// KDAP_VSCODE_PARTS (comma list of parts, default all: a quicker iteration; the summary of
// scripts/test.mjs names what it left out), KDAP_VSCODE_TIMEOUT_S (whole run, default 900),
// VERBOSE=1 (echo the browser console).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { artifacts, cache, chromiumPath, copyWorkspace, log, record, results, root, runCleanups, serverMain, shots, started, tmp, vsix } from './harness/context.mjs';
import { launchBrowser, openFolder } from './harness/browser.mjs';
import { installVsix, printDiagnostics, startServer } from './harness/server.mjs';
import { dumpScenarios } from './scenarios/dump.mjs';
import { kgdbPtyScenario } from './scenarios/kgdb-pty.mjs';
import { hoverFile, hoverSource, launchConfiguration, liveScenarios } from './scenarios/live.mjs';
import { staticScenarios } from './scenarios/static.mjs';
import { runExtensionTests } from './scenarios/suite.mjs';
import { untrustedScenario } from './scenarios/untrusted.mjs';

const summaryFile = path.join(artifacts, 'vscode-summary.json');
const overallTimeoutMs = Number(process.env.KDAP_VSCODE_TIMEOUT_S || 900) * 1000;
const allParts = ['suite', 'ui', 'dump', 'untrusted', 'kgdb'];
const parts = (process.env.KDAP_VSCODE_PARTS || allParts.join(',')).split(',').filter((p) => allParts.includes(p));

function readManifest() {
  return JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
}

async function runUi() {
  const manifest = readManifest();
  const fx = manifest.arches.x86_64;
  const server = await startServer('ui');
  installVsix(server);
  log('ui: kdap.vsix installed');
  const ws = copyWorkspace('ui-workspace');
  const monitorSocket = path.join(tmp, 'qemu-monitor.sock');
  fs.mkdirSync(path.join(ws, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(ws, '.vscode', 'launch.json'), JSON.stringify({ version: '0.2.0', configurations: [launchConfiguration(manifest, monitorSocket)] }, null, 2));
  // Crash-log navigation needs the same vmlinux and source tree the oracle uses.
  fs.writeFileSync(
    path.join(ws, '.vscode', 'settings.json'),
    JSON.stringify({ 'kdap.vmlinux': fx.vmlinux, 'kdap.modulePaths': [path.dirname(fx.kmod.ko)], 'kdap.sourceRoot': manifest.sourceRoot }, null, 2),
  );
  fs.writeFileSync(path.join(ws, hoverFile), hoverSource);

  const browser = await launchBrowser('ui');
  const { page } = browser;
  const failedBefore = results.filter((r) => r.status === 'failed').length;
  try {
    await openFolder(page, server, ws);
    log('ui: workbench ready');
    await staticScenarios(page, manifest);
    await liveScenarios({ page, server, manifest, monitorSocket });
  } catch (err) {
    record('ui: workbench', 'failed', err.message.split('\n')[0]);
    await page.screenshot({ path: path.join(shots, 'ui-failure.png') }).catch(() => {});
  }
  if (results.filter((r) => r.status === 'failed').length > failedBefore) printDiagnostics(server, browser);
}

function writeSummary() {
  const count = (s) => results.filter((r) => r.status === s).length;
  const summary = { passed: count('passed'), failed: count('failed'), skipped: count('skipped') };
  fs.mkdirSync(artifacts, { recursive: true });
  fs.writeFileSync(summaryFile, JSON.stringify({ ...summary, parts, seconds: Math.round((Date.now() - started) / 100) / 10, tests: results }, null, 2) + '\n');
  return summary;
}

async function main() {
  fs.rmSync(shots, { recursive: true, force: true });
  fs.rmSync(summaryFile, { force: true });
  fs.mkdirSync(shots, { recursive: true });
  const missing = [
    [serverMain, 'run scripts/setup-vscode.sh'],
    [chromiumPath, 'run scripts/setup-vscode.sh'],
    [vsix, 'run npm run package'],
    [path.join(root, 'out', 'test', 'vscode', 'suite', 'index.js'), 'run tsc -p tsconfig.test.json'],
    [path.join(cache, 'fixtures.json'), 'missing fixture: run scripts/fixtures.sh'],
  ].filter(([f]) => !fs.existsSync(f));
  if (missing.length) {
    for (const [f, fix] of missing) record(`prerequisite ${path.relative(root, f) || f}`, 'failed', `missing: ${fix}`);
    return;
  }
  const steps = {
    suite: ['extension host: harness', runExtensionTests],
    ui: ['ui: harness', runUi],
    dump: ['ui: crash dump harness', () => dumpScenarios(readManifest())],
    untrusted: ['ui: untrusted harness', () => untrustedScenario(launchConfiguration(readManifest(), path.join(tmp, 'unused.sock')))],
    kgdb: ['ui: kgdb-pty harness', kgdbPtyScenario],
  };
  for (const part of parts) {
    const [name, fn] = steps[part];
    try {
      await fn();
    } catch (err) {
      record(name, 'failed', err.stack ?? err.message);
    }
    // Each part's server and browser are done: free their memory before the next.
    await runCleanups();
  }
}

let finished = false;
async function finish(code) {
  if (finished) return;
  finished = true;
  await runCleanups();
  fs.rmSync(tmp, { recursive: true, force: true });
  const { passed, failed, skipped } = writeSummary();
  log(`wrote ${path.relative(root, summaryFile)}`);
  const left = allParts.filter((p) => !parts.includes(p));
  console.log(`vscode: ${passed} passed, ${failed} failed, ${skipped} skipped${left.length ? ` (not run: ${left.join(', ')}; KDAP_VSCODE_PARTS)` : ''}`);
  process.exit(code ?? (failed === 0 && passed > 0 ? 0 : 1));
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    record(`interrupted by ${sig}`, 'failed', 'the run was stopped');
    void finish(1);
  });
}
const watchdog = setTimeout(() => {
  record('vscode tier finished in time', 'failed', `still running after ${overallTimeoutMs / 1000} s`);
  void finish(1);
}, overallTimeoutMs);

main()
  .catch((err) => record('vscode harness', 'failed', err.stack ?? String(err)))
  .finally(() => {
    clearTimeout(watchdog);
    void finish();
  });
