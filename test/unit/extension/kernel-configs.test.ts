import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { KernelBuild } from '../../../src/engine/kernel-tree';
import { buildItem, buildPlace, chooseSourceTree, configForBuild, inFolder, isLaunchable, launchAppend } from '../../../src/extension/kernel-configs';

const arm: KernelBuild = {
  dir: '/home/me/linux/build-arm64',
  source: '/home/me/linux',
  inTree: false,
  arch: 'arm64',
  image: '/home/me/linux/build-arm64/arch/arm64/boot/Image',
  vmlinux: '/home/me/linux/build-arm64/vmlinux',
  release: '6.1.176-dirty',
  gdbScript: '/home/me/linux/build-arm64/vmlinux-gdb.py',
  crossCompile: 'aarch64-linux-gnu-',
};
const x86: KernelBuild = {
  dir: '/home/me/linux',
  source: '/home/me/linux',
  inTree: true,
  arch: 'x86_64',
  image: '/home/me/linux/arch/x86/boot/bzImage',
  vmlinux: '/home/me/linux/vmlinux',
  release: '6.1.176',
  crossCompile: '',
};

describe('launch configurations from kernel builds', () => {
  test('an O= arm64 build: its image and vmlinux, the serial console, its tree, the lx- scripts', () => {
    assert.ok(isLaunchable(arm));
    assert.deepEqual(configForBuild(arm, { folders: ['/home/me/linux'], gdbPath: '/usr/bin/aarch64-linux-gnu-gdb' }), {
      type: 'kdap',
      request: 'launch',
      name: 'QEMU arm64 · build-arm64',
      kernel: arm.image,
      vmlinux: arm.vmlinux,
      append: 'console=ttyAMA0',
      smp: 2,
      memory: '512M',
      stopAt: 'start_kernel',
      sourceRoot: '/home/me/linux',
      gdbPath: '/usr/bin/aarch64-linux-gnu-gdb',
      setupCommands: ['source /home/me/linux/build-arm64/vmlinux-gdb.py'],
    });
  });

  test('for a launch.json, paths inside the folder are written with ${workspaceFolder}', () => {
    const c = configForBuild(x86 as Parameters<typeof configForBuild>[0], { folder: '/home/me/linux' });
    assert.equal(c.kernel, '${workspaceFolder}/arch/x86/boot/bzImage');
    assert.equal(c.vmlinux, '${workspaceFolder}/vmlinux');
    assert.equal(c.sourceRoot, '${workspaceFolder}');
    assert.equal(c.append, 'console=ttyS0');
    assert.equal(c.name, 'QEMU x86_64 · linux');
    assert.equal('setupCommands' in c, false);
    assert.equal(inFolder('/elsewhere/vmlinux', '/home/me/linux'), '/elsewhere/vmlinux');
    assert.equal(inFolder('/home/me/linux-next/vmlinux', '/home/me/linux'), '/home/me/linux-next/vmlinux', 'a sibling is not inside');
  });

  test('a build without an image or vmlinux is not offered', () => {
    assert.equal(isLaunchable({ ...arm, image: undefined }), false);
    assert.equal(isLaunchable({ ...arm, vmlinux: undefined }), false);
    assert.equal(isLaunchable({ ...arm, arch: undefined }), false);
  });

  test('quick-pick lines say arch, place, release and what kind of build', () => {
    assert.deepEqual(buildItem(arm as Parameters<typeof buildItem>[0], ['/home/me/linux']), {
      label: 'arm64 · build-arm64',
      description: '6.1.176-dirty',
      detail: 'arch/arm64/boot/Image (make O=, source /home/me/linux)',
    });
    assert.equal(buildPlace({ ...arm, dir: '/srv/builds/arm64' }, ['/home/me/linux']), '/srv/builds/arm64');
    assert.equal(launchAppend('arm64'), 'console=ttyAMA0');
  });
});

describe('which source tree goes with a vmlinux', () => {
  const debianBanner = 'Linux version 6.1.0-50-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)';
  const trees = [
    { root: '/src/linux-6.13', version: '6.13.0-rc1' },
    { root: '/src/linux-6.1', version: '6.1.176' },
  ];

  test('the build it came from wins', () => {
    assert.deepEqual(chooseSourceTree({ build: { source: '/home/me/linux' }, sources: trees }), { root: '/home/me/linux', why: 'build' });
  });

  test('a workspace tree of the same version is used without asking', () => {
    assert.deepEqual(chooseSourceTree({ identity: { banner: debianBanner, buildId: 'bb60' }, sources: trees }), { root: '/src/linux-6.1', why: 'workspace' });
  });

  test('no matching tree: the one located before for this build id, else ask once, never after a no', () => {
    const id = { banner: debianBanner, buildId: 'bb60' };
    const others = [trees[0]];
    assert.deepEqual(chooseSourceTree({ identity: id, sources: others, remembered: '/mnt/src' }), { root: '/mnt/src', why: 'remembered' });
    assert.deepEqual(chooseSourceTree({ identity: id, sources: others }), { ask: true });
    assert.deepEqual(chooseSourceTree({ identity: id, sources: others, remembered: { declined: true } }), { none: true });
    assert.deepEqual(chooseSourceTree({ identity: { banner: debianBanner }, sources: others }), { none: true }, 'nothing to remember it by');
  });
});
