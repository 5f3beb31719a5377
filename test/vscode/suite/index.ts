/**
 * Mocha entry point VS Code calls in the extension host (`extensionTestsPath`). Runs every
 * *.test.js beside it, activation first (it checks that nothing activated kdap yet), and
 * writes one result per test (passed, failed or skipped) to $KDAP_VSCODE_RESULTS for the
 * harness's summary.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';

export interface TestResult {
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  error?: string;
  /** Why a pending test did not run. */
  reason?: string;
  ms?: number;
}

const first = ['activation.test.js'];

export function run(): Promise<void> {
  // KDAP_VSCODE_GREP narrows the suite to the tests whose full title matches (development).
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 30_000, reporter: 'spec', grep: process.env.KDAP_VSCODE_GREP || undefined });
  const files = fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.test.js'))
    .sort((a, b) => Number(!first.includes(a)) - Number(!first.includes(b)) || a.localeCompare(b));
  for (const f of files) mocha.addFile(path.join(__dirname, f));

  const results: TestResult[] = [];
  const resultsFile = process.env.KDAP_VSCODE_RESULTS;
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      if (resultsFile) fs.writeFileSync(resultsFile, JSON.stringify({ tests: results }, null, 2));
      if (failures > 0) reject(new Error(`${failures} of ${results.length} extension tests failed`));
      else resolve();
    });
    runner.on('pass', (t) => results.push({ name: t.fullTitle(), status: 'passed', ms: t.duration }));
    runner.on('fail', (t, err: Error) => results.push({ name: t.fullTitle(), status: 'failed', error: err?.message ?? String(err) }));
    // it.skip, this.skip() and it() without a body: counted, never silently dropped.
    runner.on('pending', (t) => results.push({ name: t.fullTitle(), status: 'skipped', reason: 'pending (mocha)' }));
  });
}
