#!/usr/bin/env node
// Runs the extension-host test suite (test/vscode/suite) under @vscode/test-electron, the
// usual way on a desktop with internet access: it downloads a VS Code build (engines.vscode's
// minimum by default, KDAP_VSCODE_VERSION to choose) and runs the same mocha suite the vscode
// tier runs inside code-server's VS Code. CI does not run this: it cannot download VS Code.
//   npm run build && npx tsc -p tsconfig.test.json && npm run test:electron
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const suite = path.join(root, 'out', 'test', 'vscode', 'suite', 'index.js');
if (!fs.existsSync(suite)) {
  console.error('test-electron: build the suite first: npx tsc -p tsconfig.test.json');
  process.exit(2);
}

const { runTests } = require('@vscode/test-electron');
// The suite expects a workspace like the one the vscode tier copies for it.
const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-electron-ws-'));
fs.cpSync(path.join(root, 'test', 'vscode', 'workspace'), workspace, { recursive: true });
const results = path.join(root, 'test-artifacts', 'electron-results.json');
fs.mkdirSync(path.dirname(results), { recursive: true });

try {
  await runTests({
    version: process.env.KDAP_VSCODE_VERSION ?? '1.100.3',
    extensionDevelopmentPath: root,
    extensionTestsPath: suite,
    extensionTestsEnv: { KDAP_VSCODE_RESULTS: results },
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
  });
  console.log(`test-electron: passed (details in ${path.relative(root, results)})`);
} catch (err) {
  console.error(`test-electron: failed: ${err instanceof Error ? err.message : err}`);
  process.exitCode = 1;
} finally {
  fs.rmSync(workspace, { recursive: true, force: true });
}
