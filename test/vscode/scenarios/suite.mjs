// a. The mocha suite (out/test/vscode/suite) inside the extension host, against kdap as users get
// it: dist/kdap.vsix installed into the server's profile. VS Code runs `extensionTestsPath` only
// inside a development extension's folder, and gives a test file the `vscode` API object of the
// extension whose folder holds it (a test that replaces window.showOpenDialog must share kdap's).
// So the installed copy is also the development path, and the compiled tests are copied into it,
// beside the vsix's own files, which stay as installed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { artifacts, copyWorkspace, log, record, root, shots, tmp, verbose, withTimeout } from '../harness/context.mjs';
import { launchBrowser } from '../harness/browser.mjs';
import { installVsix, printDiagnostics, startServer } from '../harness/server.mjs';

const suiteIndex = path.join(root, 'out', 'test', 'vscode', 'suite', 'index.js');

/**
 * The compiled suite (and the sources and support files it imports) inside the installed extension,
 * with the kdap_test sources that test/support/fixtures.ts checks the cache's module against.
 */
function placeTests(installed) {
  const dir = path.join(installed, '.kdap-tests');
  for (const sub of [['src'], ['test', 'vscode'], ['test', 'support']]) {
    fs.cpSync(path.join(root, 'out', ...sub), path.join(dir, 'out', ...sub), { recursive: true });
  }
  fs.cpSync(path.join(root, 'test', 'fixtures', 'kmod'), path.join(dir, 'test', 'fixtures', 'kmod'), { recursive: true });
  // mocha and the protocol packages the suite imports; kdap's own code comes from the vsix.
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  return path.join(dir, 'out', 'test', 'vscode', 'suite', 'index.js');
}

export async function runExtensionTests() {
  if (!fs.existsSync(suiteIndex)) throw new Error(`${suiteIndex} is missing: run tsc -p tsconfig.test.json`);
  const resultsFile = path.join(tmp, 'suite-results.json');
  const server = await startServer('suite', { env: { KDAP_VSCODE_RESULTS: resultsFile } });
  const installed = installVsix(server);
  const index = placeTests(installed);
  log(`suite: kdap.vsix installed at ${installed}; tests placed in it`);
  const browser = await launchBrowser('suite');
  const { page } = browser;
  const mochaLog = path.join(artifacts, 'vscode-mocha.log');
  fs.writeFileSync(mochaLog, '');
  let exit;
  const exited = new Promise((resolve) => (exit = resolve));
  await page.exposeFunction('codeAutomationLog', (type, args) => {
    const text = (Array.isArray(args) ? args : [args]).map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
    fs.appendFileSync(mochaLog, text + '\n');
    if (verbose || /^\s*(✔|✓|\d+\) |\d+ (passing|failing|pending)|- )/.test(text) || type === 'error') {
      for (const line of text.split('\n')) if (line.trim()) console.log(`  [ext-host] ${line}`);
    }
  });
  await page.exposeFunction('codeAutomationExit', (code) => exit(code));

  const ws = copyWorkspace('suite-workspace');
  // The web workbench parses these as URIs: a bare path would be file://, which only a local
  // (browser) extension host could load. vscode-remote:// puts them in the server's Node host.
  const remote = (p) => `vscode-remote://127.0.0.1:${server.port}${p}`;
  const payload = [
    ['extensionDevelopmentPath', remote(installed)],
    ['extensionTestsPath', remote(index)],
  ];
  const url = `${server.url}/?folder=${encodeURIComponent(ws)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  log('extension tests: opening the workbench');
  try {
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 30_000 });
    const code = await withTimeout('extension tests', exited, 240_000);
    log(`extension tests finished with exit code ${code}`);
    let tests = [];
    if (fs.existsSync(resultsFile)) tests = JSON.parse(fs.readFileSync(resultsFile, 'utf8')).tests;
    for (const t of tests) record(`extension host: ${t.name}`, t.status, t.status === 'skipped' ? t.reason ?? 'pending' : t.error);
    if (tests.length === 0) record('extension host: mocha suite ran', 'failed', `no per-test results (exit code ${code})`);
    else if (code !== 0 && tests.every((t) => t.status !== 'failed')) record('extension host: mocha suite exit code', 'failed', `exit code ${code}`);
    if (code !== 0) printDiagnostics(server, browser);
  } catch (err) {
    record('extension host: mocha suite', 'failed', err.message);
    await page.screenshot({ path: path.join(shots, 'suite-failure.png') }).catch(() => {});
    printDiagnostics(server, browser);
  }
}
