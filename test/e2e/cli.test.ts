/**
 * `kdap cpus`, `kdap walk` and `kdap dmesg` (the bundled dist/cli.js) against a QEMU that is
 * already running the fixture kernel, one boot per architecture. The answers are checked against
 * the guest's shell (its own dmesg too) and QEMU's `monitor gva2gpa`; the kernel helpers behind
 * them (per-CPU pointers, DWARF layouts) are also checked in-process against gdb's own
 * expression evaluator.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import type { CpuInfo, DmesgResult } from '../../src/adapter/protocol';
import { QemuProcess } from '../../src/engine/qemu';
import { monitor, withKernel } from '../../src/cli/attach';
import type { WalkResult } from '../../src/kernel/pagetable';
import { perCpuOffset, perCpuPtr } from '../../src/kernel/percpu';
import { timestamp } from '../../src/kernel/printk';
import { readU64 } from '../../src/kernel/struct';
import { repoRoot } from '../support/dap';
import { loadFixtures, type ArchFixture } from '../support/fixtures';
import { GuestConsole } from '../support/guest';

const fixtures = loadFixtures();
const cli = path.join(repoRoot, 'dist', 'cli.js');

function kdap(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const only = process.env.KDAP_E2E_ARCH;
for (const arch of (['x86_64', 'arm64'] as const).filter((a) => !only || a === only)) {
  const fx: ArchFixture = fixtures.arches[arch];
  describe(`kdap cpus and kdap walk on ${arch}`, { concurrency: false }, () => {
    let qemu: QemuProcess;
    let guest: GuestConsole;
    let remote = '';
    let busyPid = 0;
    let moduleText = 0n;
    let thisModule = 0n;
    let percpuKey: bigint | undefined;

    before(async () => {
      qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch, gdb: true, startPaused: false });
      remote = qemu.gdbAddress!;
      guest = new GuestConsole(qemu, fixtures.guest.prompt);
      await guest.waitForPrompt(180_000);
      await guest.sh(`insmod ${fx.kmod.guestPath}`);
      // Kernel messages can land in a command's output: pick the answers out by their shape.
      moduleText = BigInt(/0x[0-9a-f]+/.exec(await guest.sh('cat /sys/module/kdap_test/sections/.text'))![0]);
      thisModule = BigInt(/0x[0-9a-f]+/.exec(await guest.sh('cat /sys/module/kdap_test/sections/.gnu.linkonce.this_module'))![0]);
      const sym = /^([0-9a-f]{16}) \w kdap_test_percpu/m.exec((await guest.run('grep -w kdap_test_percpu /proc/kallsyms')).output);
      if (sym) percpuKey = BigInt(`0x${sym[1]}`);
      busyPid = Number(/^(\d+)$/m.exec(await guest.sh("taskset -c 1 sh -c 'while :; do :; done' & echo $!"))![1]);
      await new Promise((r) => setTimeout(r, 1000));
    });

    after(async () => {
      await qemu?.kill();
    });

    test('kdap cpus --json: CPU 1 runs the busy loop the shell started, and the guest keeps running', async () => {
      let cpus: CpuInfo[] = [];
      // A kworker may run on CPU 1 at the instant of the stop; the loop gets it back at once.
      for (let tries = 0; tries < 3; tries++) {
        const r = kdap('cpus', '--json', '--remote', remote, '--vmlinux', fx.vmlinux);
        assert.equal(r.status, 0, r.stderr);
        cpus = JSON.parse(r.stdout) as CpuInfo[];
        if (cpus[1]?.task?.pid === busyPid) break;
      }
      assert.equal(cpus.length, 2);
      assert.deepEqual([cpus[1].task?.pid, cpus[1].task?.comm], [busyPid, 'sh']);
      for (const c of cpus) {
        assert.match(c.pc!, /^0x[0-9a-f]+$/);
        assert.ok(['kernel', 'user'].includes(c.mode), c.mode);
        assert.ok(['running', 'idle', 'halted'].includes(c.state), c.state);
        assert.equal(typeof c.task?.comm, 'string');
      }
      // Detaching resumed the guest: its shell still answers.
      assert.equal(await guest.sh('echo alive'), 'alive');
    });

    test('kdap cpus prints a table', () => {
      const r = kdap('cpus', '--remote', remote, '--vmlinux', fx.vmlinux);
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.match(lines[0], /^CPU\s+STATE\s+MODE\s+PID\s+COMM/);
      assert.equal(lines.length, 3);
    });

    test('kdap walk --json gives what QEMU’s gva2gpa gives', async () => {
      const vas = ['&jiffies_64', '&schedule', `0x${moduleText.toString(16)}`];
      const r = kdap('walk', '--json', '--cpu', '0', '--remote', remote, '--vmlinux', fx.vmlinux, ...vas);
      assert.equal(r.status, 0, r.stderr);
      const walks = JSON.parse(r.stdout) as WalkResult[];
      assert.equal(walks.length, vas.length);
      // The oracle, in a second attach: QEMU's own translation on a CPU in the kernel.
      const truth = await withKernel({ remote, vmlinux: fx.vmlinux }, async (views, engine) => {
        const cpu = (await views.target.threads()).find((t) => t.cpu === 0)!.cpu;
        assert.equal(await views.target.mode(cpu), 'kernel', 'CPU 0 idles in the kernel');
        await monitor(engine, `cpu ${cpu}`);
        const out: string[] = [];
        for (const w of walks) out.push(await monitor(engine, `gva2gpa ${w.va}`));
        return out;
      });
      walks.forEach((w, i) => {
        const gpa = /gpa: (0x[0-9a-f]+)/.exec(truth[i]);
        assert.ok(gpa, `${vas[i]}: gva2gpa said ${truth[i]}`);
        assert.equal(w.phys, gpa[1], vas[i]);
        assert.equal(w.fault, null);
      });
    });

    test('kdap walk exits 1 for an unmapped address and prints the fault', () => {
      const r = kdap('walk', '--remote', remote, '--vmlinux', fx.vmlinux, `0x${(moduleText + 0x4000000n).toString(16)}`);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stdout, /fault: /);
    });

    test('kdap dmesg prints what the guest’s dmesg prints; --json has the records', async () => {
      const marker = `kdap-cli-marker-${arch}-${process.pid}`;
      await guest.sh(`echo ${marker} > /dev/kmsg`);
      const oracle = (await guest.sh('dmesg')).split('\n').filter((l) => /^\[\s*\d+\.\d{6}\] /.test(l));
      const r = kdap('dmesg', '--remote', remote, '--vmlinux', fx.vmlinux);
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trimEnd().split('\n');
      const at = lines.indexOf(oracle[oracle.length - 1]);
      assert.ok(at >= 0, `the guest's last line is in kdap dmesg: ${oracle[oracle.length - 1]}`);
      const n = Math.min(40, oracle.length);
      assert.deepEqual(lines.slice(at - n + 1, at + 1), oracle.slice(-n));
      assert.equal(lines.filter((l) => l.endsWith(`] ${marker}`)).length, 1);
      const json = kdap('dmesg', '--json', '--remote', remote, '--vmlinux', fx.vmlinux);
      assert.equal(json.status, 0, json.stderr);
      const body = JSON.parse(json.stdout) as Omit<DmesgResult, 'text'>;
      const rec = body.records.find((x) => x.text === marker);
      assert.ok(rec, 'the marker is a record');
      assert.match(rec.tsNsec, /^\d+$/);
      assert.equal(lines.find((l) => l.endsWith(`] ${marker}`)), `${timestamp(BigInt(rec.tsNsec))} ${marker}`);
      assert.equal(await guest.sh('echo alive'), 'alive');
      assert.equal(kdap('dmesg', '--remote', remote, '--vmlinux', fx.vmlinux, '--bogus').status, 2);
    });

    test('usage errors exit 2', () => {
      assert.equal(kdap('walk', '--remote', remote).status, 2);
      // Without --remote, cpus attaches to localhost:1234 (QEMU -s); without --vmlinux it cannot.
      assert.equal(kdap('cpus', '--remote', remote).status, 2);
      assert.equal(kdap('cpus', '--remote', 'nohostport', '--vmlinux', fx.vmlinux).status, 2);
    });

    test('the helpers against gdb: per-CPU pointers, offsets and DWARF layouts', async () => {
      await withKernel({ remote, vmlinux: fx.vmlinux }, async (views) => {
        const t = views.target;
        // The module's only per-CPU variable starts its per-CPU area (mod->percpu, read by gdb).
        const modPercpu = await t.evaluateAddress(`((struct module *)0x${thisModule.toString(16)})->percpu`);
        if (percpuKey !== undefined) assert.equal(modPercpu, percpuKey, 'kallsyms and mod->percpu agree');
        for (const cpu of [0, 1]) {
          assert.equal(await perCpuOffset(t, cpu), await t.evaluateAddress(`__per_cpu_offset[${cpu}]`));
          const value = await readU64(t, await perCpuPtr(t, percpuKey ?? modPercpu, cpu));
          assert.equal(value, BigInt(fx.kmod.percpuBase) + BigInt(cpu), `kdap_test_percpu on CPU ${cpu}`);
        }
        const members: Record<string, string[]> = {
          task_struct: ['comm', 'pid', 'tgid', 'tasks', 'mm', 'stack', 'se.vruntime', 'thread_info.flags'],
          rq: ['curr', 'nr_running', 'cfs.nr_running'],
          mm_struct: ['pgd'],
          module: ['percpu', 'list'],
        };
        for (const [struct, names] of Object.entries(members)) {
          const layout = await t.layout(struct);
          assert.ok(layout, struct);
          assert.equal(BigInt(layout.size), await t.evaluateAddress(`sizeof(struct ${struct})`), `sizeof(struct ${struct})`);
          for (const name of names) {
            const truth = await t.evaluateAddress(`&((struct ${struct} *)0)->${name}`);
            assert.equal(BigInt(layout.members.get(name)?.offset ?? -1), truth, `${struct}.${name}`);
          }
        }
      });
      assert.equal(await guest.sh('echo alive'), 'alive');
    });
  });
}

describe('kdap cpus on a QEMU started with -S', { skip: only !== undefined && only !== 'x86_64' }, () => {
  test('answers at the reset vector and leaves the guest waiting there', async () => {
    const fx = fixtures.arches.x86_64;
    const qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch: 'x86_64', gdb: true, startPaused: true });
    try {
      const r = kdap('cpus', '--json', '--remote', qemu.gdbAddress!, '--vmlinux', fx.vmlinux);
      assert.equal(r.status, 0, r.stderr);
      const cpus = JSON.parse(r.stdout) as CpuInfo[];
      // Real mode, paging off: not running Linux yet.
      assert.deepEqual(cpus.map((c) => [c.state, c.mode]), [['offline', 'unknown'], ['offline', 'unknown']]);
      const status = await withKernel({ remote: qemu.gdbAddress!, vmlinux: fx.vmlinux }, (_views, engine) => monitor(engine, 'info status'));
      assert.match(status, /paused \(prelaunch\)/);
      assert.equal(qemu.consoleText, '', 'the kernel never started');
    } finally {
      await qemu.kill();
    }
  });
});
