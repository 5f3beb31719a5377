/**
 * The kdap_test module's sources in the fixture cache (scripts/kmod-build.sh): one copy per
 * content, whatever checkout it came from, and the check that tells a module built from other
 * sources than this checkout's (test/support/fixtures.ts). The shell helper is run by bash, as
 * the fixture scripts run it; sha256sum names the content independently of it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkoutKmodDir, kmodMismatch } from '../../support/fixtures';

const helper = path.resolve(__dirname, '..', '..', '..', '..', 'scripts', 'kmod-build.sh');

function sourceCopy(cache: string, from: string): string {
  const script = 'set -euo pipefail; die() { echo "$*" >&2; exit 1; }; source "$1"; kmod_source_copy "$2" "$3"';
  const r = spawnSync('bash', ['-c', script, 'bash', helper, cache, from], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/** A checkout's test/fixtures/kmod at some path, with this checkout's files unless `c` is given. */
function checkoutAt(dir: string, c?: string): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(checkoutKmodDir, 'Kbuild'), path.join(dir, 'Kbuild'));
  if (c === undefined) fs.copyFileSync(path.join(checkoutKmodDir, 'kdap_test.c'), path.join(dir, 'kdap_test.c'));
  else fs.writeFileSync(path.join(dir, 'kdap_test.c'), c);
  return dir;
}

/** What `cd dir && sha256sum kdap_test.c Kbuild | sha256sum | cut -c1-16` prints, computed here. */
function contentKey(dir: string): string {
  const list = ['kdap_test.c', 'Kbuild']
    .map((f) => `${crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex')}  ${f}\n`)
    .join('');
  return crypto.createHash('sha256').update(list).digest('hex').slice(0, 16);
}

test('the copy is named for the content, shared by checkouts at other paths, and read-only', (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-kmod-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const cache = path.join(tmp, 'cache');
  const one = checkoutAt(path.join(tmp, 'a', 'test', 'fixtures', 'kmod'));
  const two = checkoutAt(path.join(tmp, 'elsewhere', 'b', 'test', 'fixtures', 'kmod'));
  const edited = checkoutAt(path.join(tmp, 'c'), '/* another module */\n');

  const copy = sourceCopy(cache, one);
  assert.equal(copy, path.join(cache, 'kmod', `src-${contentKey(one)}`));
  for (const f of ['kdap_test.c', 'Kbuild']) {
    assert.ok(fs.readFileSync(path.join(copy, f)).equals(fs.readFileSync(path.join(one, f))), f);
    assert.equal(fs.statSync(path.join(copy, f)).mode & 0o222, 0, `${f} is read-only`);
  }
  assert.equal(sourceCopy(cache, two), copy, 'another checkout path, the same copy');
  const other = sourceCopy(cache, edited);
  assert.notEqual(other, copy);
  assert.ok(fs.existsSync(path.join(copy, 'kdap_test.c')), 'the older copy stays');
  assert.deepEqual(fs.readdirSync(path.join(cache, 'kmod')).sort(), [path.basename(copy), path.basename(other)].sort(), 'no temporary folder left');
});

test('a copy edited by hand is made again', (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-kmod-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const from = checkoutAt(path.join(tmp, 'repo'));
  const copy = sourceCopy(path.join(tmp, 'cache'), from);
  const c = path.join(copy, 'kdap_test.c');
  fs.chmodSync(c, 0o644);
  fs.appendFileSync(c, '/* edited */\n');
  assert.equal(sourceCopy(path.join(tmp, 'cache'), from), copy);
  assert.ok(fs.readFileSync(c).equals(fs.readFileSync(path.join(from, 'kdap_test.c'))));
});

test('kmodMismatch: this checkout against the copy a module was built from', (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-kmod-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const same = checkoutAt(path.join(tmp, 'same'));
  const other = checkoutAt(path.join(tmp, 'other'), '/* another module */\n');
  assert.equal(kmodMismatch(same), undefined);
  assert.match(kmodMismatch(other) ?? '', /^kdap_test\.ko was built from .*\/other\/kdap_test\.c, which differs from .*test\/fixtures\/kmod\/kdap_test\.c$/);
  assert.match(kmodMismatch(path.join(tmp, 'gone')) ?? '', /gone\/kdap_test\.c is missing$/);
  assert.match(kmodMismatch(same, path.join(tmp, 'no-checkout')) ?? '', /no-checkout\/kdap_test\.c is missing$/);
});
