/**
 * The runner's counts against node's own TAP output: a test file with every outcome is run by
 * the node that runs the tiers, and its stream read back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isFixtureSkip, readTap } from '../../support/tap-summary';

const sample = `
const { describe, it, test, before, after } = require('node:test');
describe('whole suite', { skip: 'missing fixture arm64_16k: not downloaded' }, () => { it('a', () => {}); it('b', () => {}); });
describe('mixed', () => {
  it('passes', () => {});
  it('static skip', { skip: 'llvm-mc not installed' }, () => {});
  it('later', { todo: 'not written' }, () => {});
  it('dynamic skip', (t) => { t.skip('no kgdb fixture'); });
  it('fails', () => { throw new Error('x'); });
});
test.skip('top skip', () => {});
describe('before fails', () => { before(() => { throw new Error('boom'); }); it('c1', () => {}); it('c2', () => {}); });
describe('after fails', () => { after(() => { throw new Error('leak'); }); it('d1', () => {}); });
`;

function runTap(source: string): { text: string; status: number | null } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-tap-'));
  try {
    const file = path.join(dir, 'sample.test.js');
    fs.writeFileSync(file, source);
    // NODE_TEST_CONTEXT would make the child report to this runner instead of writing TAP.
    const env = { ...process.env, NODE_TEST_CONTEXT: undefined };
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { encoding: 'utf8', timeout: 60_000, env });
    return { text: r.stdout, status: r.status };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('every outcome of node:test is counted, whole skipped suites and failing hooks included', () => {
  const { text, status } = runTap(sample);
  assert.notEqual(status, 0);
  const c = readTap(text);
  assert.equal(c.complete, true);
  // passes, d1
  assert.equal(c.passed, 2);
  // fails + c1, c2 cancelled + the after hook
  assert.equal(c.cancelled, 2);
  assert.equal(c.failed, 4);
  // static skip, dynamic skip, top skip, the todo, the whole suite
  assert.equal(c.todo, 1);
  assert.equal(c.skippedSuites, 1);
  assert.equal(c.skipped, 5);
  assert.deepEqual(
    c.skips.map((s) => [s.name, s.reason, s.kind, s.suite]),
    [
      ['whole suite', 'missing fixture arm64_16k: not downloaded', 'skip', true],
      ['mixed › static skip', 'llvm-mc not installed', 'skip', false],
      ['mixed › later', 'not written', 'todo', false],
      ['mixed › dynamic skip', 'no kgdb fixture', 'skip', false],
      ['top skip', '', 'skip', false],
    ],
  );
  assert.deepEqual(c.failures, ['mixed › fails', 'before fails › c1', 'before fails › c2', 'after fails']);
});

test('a stream without a summary is incomplete', () => {
  const c = readTap('TAP version 13\nok 1 - a\n');
  assert.equal(c.complete, false);
});

test('fixture skips are told apart from others', () => {
  assert.ok(isFixtureSkip('missing fixture arm64_16k: not downloaded'));
  assert.ok(isFixtureSkip('kernel fixtures are not ready (no /x/fixtures.json)'));
  assert.ok(isFixtureSkip('no arm64 dummy.ko fixture'));
  assert.ok(!isFixtureSkip('llvm-mc not installed'));
  assert.ok(!isFixtureSkip('x86_64 only (KDAP_E2E_ARCH=arm64)'));
});
