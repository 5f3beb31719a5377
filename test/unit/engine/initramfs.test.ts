import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cpioNewc, findBusybox, inittab, minimalEntries, minimalInitramfs } from '../../../src/engine/initramfs';

const hasCpio = spawnSync('cpio', ['--version']).status === 0;

/** An ELF64 LE executable: header + one program header (PT_INTERP when dynamic, else PT_LOAD) + padding. */
function fakeElf(machine: number, dynamic: boolean, filler = 'x'): Buffer {
  const b = Buffer.alloc(64 + 56 + 64, filler);
  b.fill(0, 0, 120);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2;
  b[5] = 1;
  b[6] = 1;
  b.writeUInt16LE(2, 16);
  b.writeUInt16LE(machine, 18);
  b.writeBigUInt64LE(64n, 0x20); // e_phoff
  b.writeUInt16LE(56, 0x36); // e_phentsize
  b.writeUInt16LE(1, 0x38); // e_phnum
  b.writeUInt32LE(dynamic ? 3 : 1, 64);
  return b;
}

function scratch(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-initramfs-'));
}

describe('cpio newc', () => {
  test('GNU cpio reads back every entry: names, types, device numbers, link targets, data', { skip: !hasCpio && 'cpio is not installed' }, () => {
    const archive = cpioNewc([
      { name: 'bin', type: 'dir' },
      { name: 'bin/hello', type: 'file', data: Buffer.from('hello world\n') },
      { name: 'bin/odd', type: 'file', data: Buffer.from('12345') }, // length not a multiple of 4
      { name: 'bin/sh', type: 'symlink', target: 'hello' },
      { name: 'dev', type: 'dir' },
      { name: 'dev/console', type: 'char', major: 5, minor: 1 },
      { name: 'etc/inittab', type: 'file', mode: 0o644, data: Buffer.from(inittab) },
    ]);
    const list = spawnSync('cpio', ['-itv', '--quiet'], { input: archive, encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    const lines = list.stdout.trim().split('\n');
    const byName = new Map(lines.map((l) => [/ 1970 (.*)$/.exec(l)?.[1] ?? l, l]));
    assert.deepEqual([...byName.keys()], ['bin', 'bin/hello', 'bin/odd', 'bin/sh -> hello', 'dev', 'dev/console', 'etc/inittab']);
    assert.match(byName.get('bin')!, /^drwxr-xr-x/);
    assert.match(byName.get('dev/console')!, /^crw------- +1 root +root +5, +1 /);
    assert.match(byName.get('bin/sh -> hello')!, /^lrwxrwxrwx/);
    assert.match(byName.get('etc/inittab')!, /^-rw-r--r--/);

    const out = scratch();
    const extract = spawnSync('cpio', ['-id', '--quiet', '--no-absolute-filenames', 'bin/*', 'etc/*'], { input: archive, cwd: out });
    assert.equal(extract.status, 0, String(extract.stderr));
    assert.equal(fs.readFileSync(path.join(out, 'bin/hello'), 'utf8'), 'hello world\n');
    assert.equal(fs.readFileSync(path.join(out, 'bin/odd'), 'utf8'), '12345');
    assert.equal(fs.readFileSync(path.join(out, 'etc/inittab'), 'utf8'), inittab);
  });

  test('the same entries give the same bytes; the archive ends with the trailer, 4-byte aligned', () => {
    const entries = minimalEntries(Buffer.from('busybox'));
    const a = cpioNewc(entries);
    assert.deepEqual(a, cpioNewc(entries));
    assert.equal(a.length % 4, 0);
    assert.ok(a.includes(Buffer.from('TRAILER!!!\0')));
    assert.equal(a.subarray(0, 6).toString(), '070701');
  });

  test('names that would escape the archive root are refused', () => {
    assert.throws(() => cpioNewc([{ name: '/etc/passwd', type: 'file' }]), /bad cpio entry name/);
    assert.throws(() => cpioNewc([{ name: 'a/../../x', type: 'file' }]), /bad cpio entry name/);
  });
});

describe('minimal initramfs', () => {
  test('a static busybox of the target arch is taken; foreign and dynamic ones are passed over, with why', async () => {
    const cache = scratch();
    const dyn = path.join(cache, 'dynamic-busybox');
    fs.writeFileSync(dyn, fakeElf(183, true));
    const x86 = path.join(cache, 'x86-busybox');
    fs.writeFileSync(x86, fakeElf(62, false));
    const good = path.join(cache, 'busybox', 'arm64', 'bin', 'busybox');
    fs.mkdirSync(path.dirname(good), { recursive: true });
    fs.writeFileSync(good, fakeElf(183, false));

    const r = await findBusybox('arm64', { busybox: dyn, cacheDir: cache });
    assert.equal(r.path, good);
    assert.deepEqual(r.passed, [`${dyn} (dynamically linked)`]);
    const wrong = await findBusybox('arm64', { busybox: x86, cacheDir: path.join(cache, 'empty') });
    assert.equal(wrong.path, undefined, 'the host busybox (x86_64) does not fit an arm64 guest');
    assert.ok(wrong.passed.some((p) => p === `${x86} (built for x86_64)`), wrong.passed.join('; '));
  });

  test('built once per content, then reused; another busybox makes another archive', async () => {
    const cache = scratch();
    const bb = path.join(cache, 'busybox', 'arm64', 'bin', 'busybox');
    fs.mkdirSync(path.dirname(bb), { recursive: true });
    fs.writeFileSync(bb, fakeElf(183, false, 'a'));
    const first = await minimalInitramfs('arm64', { cacheDir: cache });
    assert.ok('path' in first && !first.cached);
    const again = await minimalInitramfs('arm64', { cacheDir: cache });
    assert.ok('path' in again && again.cached && again.path === first.path);
    fs.writeFileSync(bb, fakeElf(183, false, 'b'));
    const other = await minimalInitramfs('arm64', { cacheDir: cache });
    assert.ok('path' in other && !other.cached && other.path !== first.path);
    assert.deepEqual(fs.readdirSync(path.join(cache, 'initramfs')).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
  });

  test('without a busybox the answer says what the kernel will do and how to fix it', async () => {
    const cache = scratch();
    const r = await minimalInitramfs('arm64', { cacheDir: cache, busybox: path.join(cache, 'nope') });
    assert.ok('missing' in r);
    assert.match(r.missing, /No working init found/);
    assert.match(r.missing, /"initrd"/);
    assert.ok(r.missing.includes(path.join(cache, 'busybox', 'arm64', 'bin', 'busybox')), r.missing);
    assert.ok(r.missing.includes(`${path.join(cache, 'nope')} (absent)`), r.missing);
  });
});
