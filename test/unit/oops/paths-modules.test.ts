/**
 * Source-path mapping and module-file lookup on small trees built in a temporary folder:
 * Debian's two build prefixes, learned mappings, the confinement of log paths to the configured
 * roots, `-`/`_` module names, DWARF and build-id preference.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModuleLocator, moduleNameOfFile } from '../../../src/oops/symbolize/modules-lookup';
import { SourcePaths } from '../../../src/oops/symbolize/paths';
import { run, tool } from './readelf';

let dir: string;
let root: string;

function touch(p: string, text = ''): string {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
}

describe('SourcePaths', () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-paths-'));
    root = path.join(dir, 'linux');
    for (const f of ['fs/proc/inode.c', 'init/main.c', 'arch/x86/entry/entry_64.S', 'include/linux/atomic.h', 'main.c']) touch(path.join(root, f), `// ${f}\n`);
    touch(path.join(dir, 'outside', 'secret.c'), 'no\n');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('maps the relative build directory and the absolute reproducible path of a Debian kernel', () => {
    const p = new SourcePaths({ sourceRoot: root });
    assert.deepEqual(p.map('debian/build/build_amd64_none_cloud-amd64/fs/proc/inode.c'), { display: 'fs/proc/inode.c', path: path.join(root, 'fs/proc/inode.c') });
    assert.deepEqual(p.map('/build/reproducible-path/linux-6.1.176/arch/x86/entry/entry_64.S'), {
      display: 'arch/x86/entry/entry_64.S',
      path: path.join(root, 'arch/x86/entry/entry_64.S'),
    });
    // Learned: a one-component suffix would never match by search, but the build prefix is known now.
    const learned = new SourcePaths({ sourceRoot: root });
    learned.map('debian/build/b/fs/proc/inode.c');
    assert.equal(learned.map('debian/build/b/main.c').path, path.join(root, 'main.c'));
  });

  it('never matches on the file name alone, and leaves unknown paths as recorded', () => {
    const p = new SourcePaths({ sourceRoot: root });
    assert.deepEqual(p.map('/usr/src/other/main.c'), { display: '/usr/src/other/main.c', path: undefined });
    assert.deepEqual(p.map('lib/nowhere.c'), { display: 'lib/nowhere.c', path: undefined });
  });

  it('explicit mappings come first; a build prefix learned from start_kernel strips the display', () => {
    const alt = path.join(dir, 'alt');
    touch(path.join(alt, 'fs/proc/inode.c'));
    const p = new SourcePaths({ sourceRoot: root, mappings: [{ from: '/b/linux', to: alt }] });
    assert.equal(p.map('/b/linux/fs/proc/inode.c').path, path.join(alt, 'fs/proc/inode.c'));
    const bare = new SourcePaths();
    bare.learnBuildPrefix('debian/build/build_arm64_none_cloud-arm64');
    assert.deepEqual(bare.map('debian/build/build_arm64_none_cloud-arm64/drivers/net/dummy.c'), { display: 'drivers/net/dummy.c', path: undefined });
  });

  it('log paths open only inside the roots', () => {
    const link = path.join(root, 'escape.c');
    fs.symlinkSync(path.join(dir, 'outside', 'secret.c'), link);
    const p = new SourcePaths({ sourceRoot: root });
    assert.equal(p.fromLog('fs/proc/inode.c')?.path, path.join(root, 'fs/proc/inode.c'));
    assert.equal(p.fromLog(path.join(root, 'init/main.c'))?.display, 'init/main.c');
    assert.equal(p.fromLog('/build/reproducible-path/linux-6.1.176/init/main.c')?.path, path.join(root, 'init/main.c'));
    assert.equal(p.fromLog('../outside/secret.c'), undefined);
    assert.equal(p.fromLog('fs/../../outside/secret.c'), undefined);
    assert.equal(p.fromLog(path.join(dir, 'outside', 'secret.c')), undefined);
    assert.equal(p.fromLog('escape.c'), undefined, 'a symlink out of the root is refused');
    assert.equal(p.fromLog('/etc/passwd'), undefined);
    assert.equal(new SourcePaths().fromLog('fs/proc/inode.c'), undefined, 'no roots, nothing opens');
  });
});

const missing = ['gcc', 'readelf'].find((t) => !tool(t));

describe('ModuleLocator', { skip: missing ? `${missing} not installed` : undefined }, () => {
  let mods: string;
  before(() => {
    mods = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-mods-'));
    const src = touch(path.join(mods, 'm.c'), 'int f(int x) { return x + 1; }\n');
    const build = (out: string, args: string[]) => {
      fs.mkdirSync(path.dirname(out), { recursive: true });
      const r = run('gcc', [...args, '-o', out, src]);
      assert.equal(r.status, 0, r.stderr);
      return out;
    };
    build(path.join(mods, 'a', 'foo-bar.ko'), ['-c']);
    build(path.join(mods, 'b', 'deep', 'foo_bar.ko'), ['-c', '-g']);
    build(path.join(mods, 'c', 'foo_bar.ko'), ['-shared', '-fPIC', '-Wl,--build-id=0x0123456789abcdef0123456789abcdef01234567']);
    touch(path.join(mods, 'a', 'broken.ko'), 'not an ELF');
    touch(path.join(mods, 'a', 'zipped.ko.xz'), 'xz');
    build(path.join(mods, 'sys', 'usr/lib/debug/lib/modules/6.1.0-test/kernel/x.ko'), ['-c', '-g']);
  });
  after(() => fs.rmSync(mods, { recursive: true, force: true }));

  it('names: - and _ are one, compressed and other files are not modules', () => {
    assert.equal(moduleNameOfFile('/x/nf-nat.ko'), 'nf_nat');
    assert.equal(moduleNameOfFile('foo.ko.debug'), 'foo');
    assert.equal(moduleNameOfFile('foo.ko.xz'), undefined);
    assert.equal(moduleNameOfFile('foo.o'), undefined);
  });

  it('prefers the build id, then DWARF, then the earlier folder', async () => {
    const loc = new ModuleLocator({ modulePaths: [path.join(mods, 'a'), path.join(mods, 'b'), path.join(mods, 'c')] });
    assert.equal((await loc.candidates('foo-bar')).length, 3);
    assert.equal((await loc.find('foo_bar'))?.path, path.join(mods, 'b', 'deep', 'foo_bar.ko'));
    const byId = await loc.find('foo_bar', '0123456789ABCDEF0123456789abcdef01234567');
    assert.equal(byId?.path, path.join(mods, 'c', 'foo_bar.ko'));
    assert.equal(byId?.buildId, '0123456789abcdef0123456789abcdef01234567');
    const stripped = new ModuleLocator({ modulePaths: [path.join(mods, 'a')] });
    assert.equal((await stripped.find('foo_bar'))?.debugInfo, false);
    assert.equal(await stripped.find('broken'), undefined);
    assert.equal(await stripped.find('zipped'), undefined);
  });

  it('the release adds the distribution folders; a strange release adds nothing', async () => {
    const loc = new ModuleLocator({ systemRoot: path.join(mods, 'sys') });
    assert.equal((await loc.find('x', undefined, '6.1.0-test'))?.debugInfo, true);
    assert.deepEqual(loc.folders('../../etc'), []);
  });
});
