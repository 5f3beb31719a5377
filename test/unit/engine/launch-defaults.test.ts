/**
 * A launch that names only its kernel image: the vmlinux of the image's build, the arch from
 * that ELF, the arch's serial console, and an initramfs (or why there is none), each said.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLaunchDefaults, type LaunchFiles } from '../../../src/engine/launch-defaults';
import { kaslrDisabled } from '../../../src/engine/kaslr-locate';
import { elfHeader, writeFile as write } from '../../support/fake-files';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-launch-defaults-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

describe('launch defaults for "kernel" alone', () => {
  const build = path.join(root, 'build-arm64');
  const image = write(path.join(build, 'arch/arm64/boot/Image'), 'not really an Image');
  const vmlinux = write(path.join(build, 'vmlinux'), elfHeader(183));
  // No static arm64 busybox in an empty cache (the host's, if any, is not arm64).
  const saved = process.env.KDAP_CACHE;
  after(() => (saved === undefined ? delete process.env.KDAP_CACHE : (process.env.KDAP_CACHE = saved)));

  test('vmlinux from the build, the arm64 serial console, and why there is no initramfs', async () => {
    process.env.KDAP_CACHE = path.join(root, 'cache');
    const said: string[] = [];
    const r = await withLaunchDefaults<LaunchFiles>({ kernel: image }, (line) => said.push(line));
    assert.equal(r.vmlinux, vmlinux);
    assert.equal(r.append, 'console=ttyAMA0');
    assert.equal(r.initrd, undefined);
    assert.equal(said.length, 3, said.join('\n'));
    assert.match(said[0], /^vmlinux: .*build-arm64\/vmlinux/);
    assert.match(said[2], /No working init found/);
  });

  test('what the configuration names is kept, and nothing is said about it', async () => {
    const initrd = write(path.join(root, 'initrd.cpio'), 'x');
    const said: string[] = [];
    const r = await withLaunchDefaults({ kernel: image, vmlinux, append: 'console=ttyAMA0 quiet', initrd }, (line) => said.push(line));
    assert.deepEqual(r, { kernel: image, vmlinux, append: 'console=ttyAMA0 quiet', initrd });
    assert.deepEqual(said, []);
  });

  test('an image outside a build, or missing, is left to the launch checks', async () => {
    const lone = write(path.join(root, 'bzImage'), 'x');
    assert.deepEqual(await withLaunchDefaults({ kernel: lone }, () => assert.fail('nothing to say')), { kernel: lone });
    assert.deepEqual(await withLaunchDefaults({ kernel: path.join(root, 'nope') }, () => undefined), { kernel: path.join(root, 'nope') });
  });

  test('nokaslr is a word of the command line, not part of one', () => {
    assert.equal(kaslrDisabled('console=ttyS0 nokaslr'), true);
    assert.equal(kaslrDisabled('nokaslr'), true);
    assert.equal(kaslrDisabled('console=ttyS0 nokaslrx'), false);
    assert.equal(kaslrDisabled(undefined), false);
  });
});
