/**
 * Boots each fixture kernel under QEMU (no debugger) and checks the guest side that every other
 * e2e test relies on: the shell, the kernel release, our test module and its crash paths, and
 * readable module section addresses. One boot per architecture, shared by its tests.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { QemuProcess } from '../../src/engine/qemu';
import { loadFixtures, fixtureArches, ArchFixture, Fixtures } from '../support/fixtures';
import { GuestConsole, escapeRegExp } from '../support/guest';

const BOOT_TIMEOUT_MS = 180_000;

const fixtures: Fixtures = loadFixtures();

for (const arch of fixtureArches) {
  describe(`boot ${arch}`, () => {
    const fx: ArchFixture = fixtures.arches[arch];
    let qemu: QemuProcess | undefined;
    let guest: GuestConsole;

    before(async () => {
      qemu = await QemuProcess.start({
        arch,
        kernel: fx.kernel,
        initrd: fx.initrd,
        append: fx.append,
        machine: fx.machine,
        cpu: fx.cpu,
        smp: 2,
        memory: '512M',
        gdb: false,
      });
      guest = new GuestConsole(qemu, fixtures.guest.prompt);
      const ready = await guest.waitFor(new RegExp(`${fixtures.guest.readyMarker} release=(\\S+)`), BOOT_TIMEOUT_MS);
      await guest.waitForPrompt(BOOT_TIMEOUT_MS, ready.end);
    });

    after(async () => {
      await qemu?.kill();
    });

    test('reaches the shell and runs the fixture kernel', async () => {
      const release = await guest.sh('uname -r');
      assert.ok(release.split('\n').includes(fx.release), `uname -r printed ${JSON.stringify(release)}`);
      assert.equal(await guest.sh('cat /proc/sys/kernel/kptr_restrict'), '0');
    });

    test('insmod kdap_test runs its init', async () => {
      const from = guest.mark();
      await guest.sh(`insmod ${fx.kmod.guestPath}`);
      await guest.waitFor(/kdap_test: init ok percpu=0x6b640000 level=3/, 10_000, from);
      const state = await guest.sh(`cat ${fx.kmod.procFile}`);
      assert.match(state, /ticks=0 init_done=1 level=3/);
      assert.equal(await guest.sh('cat /sys/module/kdap_test/parameters/level'), '3');
    });

    test('t calls kdap_test_tick', async () => {
      const from = guest.mark();
      await guest.sh(`echo t > ${fx.kmod.procFile}`);
      await guest.waitFor(/kdap_test: tick 1\n/, 10_000, from);
      assert.match(await guest.sh(`cat ${fx.kmod.procFile}`), /ticks=1 /);
    });

    test('w WARNs in kdap_test_warn at the marked line and the kernel goes on', async () => {
      const from = guest.mark();
      await guest.sh(`echo w > ${fx.kmod.procFile}`);
      const line = fx.kmod.lines.warn;
      const m = await guest.waitFor(/WARNING: CPU: \d+ PID: \d+ at (\S+):(\d+) (kdap_test_warn)\+0x[0-9a-f]+\/0x[0-9a-f]+ \[kdap_test\]/, 10_000, from);
      assert.equal(m[1], fx.kmod.sourceFile, 'WARN names the copy of kdap_test.c in the fixture cache');
      assert.equal(Number(m[2]), line, 'WARN names the LINE:warn line');
      await guest.waitFor(/---\[ end trace [0-9a-f]+ \]---/, 10_000, from);
      assert.equal(await guest.sh('echo alive'), 'alive');
    });

    test('module sections are readable under /sys/module', async () => {
      const text = await guest.sh('cat /sys/module/kdap_test/sections/.text');
      assert.match(text, /^0x[0-9a-f]{16}$/);
      assert.notEqual(BigInt(text), 0n, 'section addresses are not hidden (kptr_restrict)');
      const unlikely = await guest.sh('cat /sys/module/kdap_test/sections/.text.unlikely');
      assert.match(unlikely, /^0x[0-9a-f]{16}$/);
      const modules = await guest.sh('cat /proc/modules');
      const base = new RegExp(`^kdap_test \\d+ \\d+ - Live (0x[0-9a-f]+)`, 'm').exec(modules);
      assert.ok(base, `kdap_test in /proc/modules:\n${modules}`);
      assert.equal(BigInt(base[1]), BigInt(text), '.text starts at the module base');
    });

    test('the stock modules of the initramfs load', async () => {
      for (const [name, m] of Object.entries(fx.modules)) {
        await guest.sh(`insmod ${m.guestPath}`);
        assert.match(await guest.sh('cat /proc/modules'), new RegExp(`^${name} `, 'm'));
      }
    });

    test('c runs the .text.unlikely function', async () => {
      const from = guest.mark();
      await guest.sh(`echo c > ${fx.kmod.procFile}`);
      await guest.waitFor(/kdap_test: cold path for 'c'/, 10_000, from);
    });

    test('o Oopses on a NULL read in a child shell and the guest survives', async () => {
      const report = await guest.crash(`sh -c 'echo o > ${fx.kmod.procFile}'`);
      const fault = arch === 'x86_64'
        ? /BUG: kernel NULL pointer dereference, address: 0000000000000028/
        : /Unable to handle kernel NULL pointer dereference at virtual address 0000000000000028/;
      assert.match(report, fault);
      const pc = arch === 'x86_64' ? /RIP: 0010:kdap_test_oops\+0x[0-9a-f]+\/0x[0-9a-f]+ \[kdap_test\]/ : /pc : kdap_test_oops\+0x[0-9a-f]+\/0x[0-9a-f]+ \[kdap_test\]/;
      assert.match(report, pc);
      assert.equal(await guest.sh('echo alive'), 'alive');
    });

    // Last: on arm64 a BUG() leaves the CPU's context tracking unbalanced and idle WARNs after it.
    test('b hits BUG() at the marked line in a child shell', async () => {
      const report = await guest.crash(`sh -c 'echo b > ${fx.kmod.procFile}'`);
      assert.match(report, new RegExp(`kernel BUG at ${escapeRegExp(fx.kmod.sourceFile)}:${fx.kmod.lines.bug}!`));
      assert.match(report, /kdap_test_bug\+0x[0-9a-f]+\/0x[0-9a-f]+ \[kdap_test\]/);
      assert.equal(await guest.sh('echo alive'), 'alive');
    });
  });
}
