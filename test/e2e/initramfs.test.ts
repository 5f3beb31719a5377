/**
 * kdap's minimal initramfs (engine/initramfs.ts) boots the Debian kernels of both arches to a
 * shell on the serial console: busybox as init, /dev/console from the archive, the applets
 * installed at boot. The guest's own `uname -m` and /proc/version answer.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { QemuProcess } from '../../src/engine/qemu';
import { minimalInitramfs } from '../../src/engine/initramfs';
import { serialConsole } from '../../src/engine/kernel-tree';
import { fixtureArches, fixturesCacheDir, loadFixtures } from '../support/fixtures';
import { GuestConsole } from '../support/guest';

const fixtures = loadFixtures();
const machine = { x86_64: 'x86_64', arm64: 'aarch64' } as const;
const started: QemuProcess[] = [];
after(async () => {
  for (const q of started.splice(0)) await q.kill().catch(() => undefined);
});

for (const arch of fixtureArches) {
  describe(`minimal initramfs on the Debian ${arch} kernel`, () => {
    test('boots to a busybox shell on the console', { timeout: 300_000 }, async (t) => {
      const fx = fixtures.arches[arch];
      const r = await minimalInitramfs(arch, { cacheDir: fixturesCacheDir() });
      assert.ok('path' in r, 'missing' in r ? r.missing : '');
      t.diagnostic(`${r.path} (${r.cached ? 'cached' : 'built'}) around ${r.busybox}`);
      const qemu = await QemuProcess.start({
        kernel: fx.kernel, initrd: r.path, append: `${serialConsole(arch)} nokaslr`, arch, machine: fx.machine, cpu: fx.cpu, smp: 2, memory: '512M', gdb: false,
      });
      started.push(qemu);
      const guest = new GuestConsole(qemu, '# ');
      await guest.waitFor(/kdap: minimal initramfs \(busybox\)/, 180_000);
      await guest.waitFor(/# $/, 60_000);
      const mark = guest.mark();
      guest.sendLine('echo KDAP-$((6*7)) $(uname -m); cat /proc/version');
      const m = await guest.waitFor(/KDAP-42 (\S+)\n(Linux version \S+) /, 60_000, mark);
      assert.equal(m[1], machine[arch]);
      assert.equal(m[2], `Linux version ${fx.release}`);
      assert.doesNotMatch(guest.text, /No working init found|Kernel panic/);
      await qemu.kill();
    });
  });
}
