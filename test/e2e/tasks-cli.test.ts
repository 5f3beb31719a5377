/**
 * `kdap ps` and `kdap bt` (the bundled dist/cli.js) against a QEMU guest, checked against the
 * guest's own /proc.
 *
 * The guest writes its truth (every thread's /proc/<pid>/task/<tid>/stat, stack and context
 * switch counts) before kdap halts it, and again after both commands are done. A task whose
 * switch counts are the same in both truths did not run in between, so what kdap saw at its
 * stops must equal the truth: pid, tgid, state, CPU, parent, comm, and for a sleeping task its
 * frames without inlined and tail-call frames and without the scheduler's and lock functions
 * (the kernel's own filter, by the section bounds from /proc/kallsyms), in order.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { PsReport, StacksReport } from '../../src/engine/task-report';
import { QemuProcess } from '../../src/engine/qemu';
import { loadFixtures, type ArchFixture } from '../support/fixtures';
import { GuestConsole } from '../support/guest';
import { cacheWithStaleModuleIndex, kernelStyleFrames, parseTruth, TRUTH_AWK, type Truth } from './tasks-support';

const fixtures = loadFixtures();
const cli = path.resolve(__dirname, '../../../dist/cli.js');
const run = promisify(execFile);

async function kdap(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return kdapWith(process.env, ...args);
}

async function kdapWith(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20, env });
    return { status: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { status: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? String(e) };
  }
}

const only = process.env.KDAP_E2E_ARCH;
for (const arch of (['x86_64', 'arm64'] as const).filter((a) => !only || a === only)) {
  const fx: ArchFixture = fixtures.arches[arch];
  describe(`kdap ps and kdap bt on ${arch}`, { concurrency: false }, () => {
    let qemu: QemuProcess;
    let guest: GuestConsole;
    let remote = '';
    let dsleep = 0;
    let spinner = 0;
    let ps: PsReport = { tasks: [] };
    let bt: StacksReport = { stacks: [] };
    let psText = '';
    let btText = '';
    let first = new Map<number, Truth>();
    let second = new Map<number, Truth>();
    const schedRanges: Array<[bigint, bigint]> = [];
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-tasks-cli-'));

    before(async () => {
      qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch, gdb: true, startPaused: false });
      remote = qemu.gdbAddress!;
      guest = new GuestConsole(qemu, fixtures.guest.prompt);
      await guest.waitForPrompt(180_000);
      await guest.sh(`insmod ${fx.kmod.guestPath}`);
      await guest.sh('echo d > /sys/module/kdap_test/parameters/tasks');
      dsleep = Number(/\d+/.exec(await guest.sh('cat /sys/module/kdap_test/parameters/tasks'))![0]);
      await guest.sh("(taskset -c 1 sh -c 'while :; do :; done' &)");
      spinner = Number(/^\s*(\d+)/m.exec(await guest.sh("ps -o pid,args | grep 'while :' | grep -v grep"))![1]);
      const kallsyms = (await guest.run('grep -E " (__sched_text|__lock_text)_(start|end)$" /proc/kallsyms', 60_000)).output;
      for (const kind of ['sched', 'lock']) {
        const s = new RegExp(`^([0-9a-f]{16}) \\w __${kind}_text_start$`, 'm').exec(kallsyms);
        const e = new RegExp(`^([0-9a-f]{16}) \\w __${kind}_text_end$`, 'm').exec(kallsyms);
        if (s && e) schedRanges.push([BigInt(`0x${s[1]}`), BigInt(`0x${e[1]}`)]);
      }
      assert.ok(schedRanges.length >= 1, `no .sched.text bounds in /proc/kallsyms:\n${kallsyms}`);

      first = parseTruth((await guest.run(`${TRUTH_AWK}`, 180_000)).output);
      const p = await kdap('ps', '--json', '--remote', remote, '--vmlinux', fx.vmlinux);
      assert.equal(p.status, 0, p.stderr);
      ps = JSON.parse(p.stdout) as PsReport;
      const b = await kdap('bt', '--json', '--all', '--remote', remote, '--vmlinux', fx.vmlinux, '--source', fixtures.sourceRoot);
      assert.equal(b.status, 0, b.stderr);
      bt = JSON.parse(b.stdout) as StacksReport;
      const pt = await kdap('ps', '--remote', remote, '--vmlinux', fx.vmlinux);
      psText = pt.stdout;
      // With gdb's index of the .ko as an earlier session left it, the module elsewhere.
      const cache = cacheWithStaleModuleIndex(fx.kmod.ko, tmp);
      const bb = await kdapWith({ ...process.env, KDAP_CACHE: cache }, 'bt', '--pid', String(dsleep), '--pid', '1', '--remote', remote, '--vmlinux', fx.vmlinux, '--module-path', path.dirname(fx.kmod.ko));
      btText = bb.stdout;
      second = parseTruth((await guest.run(`${TRUTH_AWK}`, 180_000)).output);
    });

    after(async () => {
      await qemu?.kill();
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    /** Tasks that did not run between the two truths (and are no part of writing them). */
    const still = () => [...first.values()].filter((t) => second.get(t.tid)?.switches === t.switches);

    test('kdap ps: every long-lived thread, with pid, tgid, state, CPU and parent as /proc says', (t) => {
      const byPid = new Map(ps.tasks.map((r) => [r.pid, r]));
      const missing = [...first.values()].filter((x) => second.has(x.tid) && !byPid.has(x.tid)).map((x) => x.tid);
      assert.deepEqual(missing, [], `in /proc both times but not listed: ${missing.join(' ')}`);
      const wrong: string[] = [];
      const compared = still();
      for (const want of compared) {
        const got = byPid.get(want.tid)!;
        if (got.tgid !== want.tgid || got.state !== want.state || got.cpu !== want.cpu) wrong.push(`${want.tid} ${got.comm}: ${got.tgid} ${got.state} cpu ${got.cpu}, /proc: ${want.tgid} ${want.state} cpu ${want.cpu}`);
      }
      t.diagnostic(`${compared.length} of ${first.size} threads did not run between the truths`);
      assert.deepEqual(wrong, []);
      assert.ok(compared.length > 30, `only ${compared.length} threads were still`);
      const d = byPid.get(dsleep);
      assert.deepEqual([d?.comm, d?.state, d?.kernelThread, d?.ppid], ['kdap_dsleep', 'D', true, 2]);
      assert.match(d!.task, /^0x[0-9a-f]{16}$/);
      const s = byPid.get(spinner);
      assert.deepEqual([s?.state, s?.onCpu, s?.cpu, s?.ppid, s?.kernelThread], ['R', true, 1, 1, false]);
      assert.deepEqual([byPid.get(1)?.ppid, byPid.get(2)?.ppid, byPid.get(2)?.comm], [0, 0, 'kthreadd']);
      assert.match(psText, new RegExp(`^\\s*${dsleep}\\s+${dsleep}\\s+2\\s+D\\s+\\d\\s+0x[0-9a-f]+\\s+\\[kdap_dsleep\\]$`, 'm'));
    });

    test('kdap bt --all: each still sleeping task’s frames, filtered as the kernel does, equal /proc/<pid>/stack', (t) => {
      const byPid = new Map(bt.stacks.map((s) => [s.pid, s]));
      const wrong: string[] = [];
      let compared = 0;
      for (const want of still()) {
        if (!['S', 'D', 'I'].includes(want.state) || want.tid === dsleep) continue;
        const got = byPid.get(want.tid);
        if (!got) {
          wrong.push(`${want.tid}: no stack`);
          continue;
        }
        compared++;
        const frames = kernelStyleFrames(arch, got.frames.map((f) => ({ name: f.function, kind: f.inlined ? 'inline' : f.tailCall ? 'tailcall' : 'normal', pc: f.pc, file: f.file, line: f.line ?? 0 })), schedRanges);
        if (JSON.stringify(frames) !== JSON.stringify(want.stack)) wrong.push(`${want.tid} (${want.state}):\n  kdap:  ${frames.join(' ← ')}\n  /proc: ${want.stack.join(' ← ')}`);
      }
      t.diagnostic(`${compared} stacks compared`);
      assert.deepEqual(wrong, []);
      assert.ok(compared > 30, `only ${compared} stacks compared`);
      // Files are relative to the source tree, lines are there; inlined frames are marked.
      const all = bt.stacks.flatMap((s) => s.frames);
      assert.ok(all.some((f) => f.file === 'kernel/sched/core.c' && f.function === '__schedule' && (f.line ?? 0) > 0), 'a __schedule frame in kernel/sched/core.c');
      assert.ok(all.some((f) => f.inlined), 'some frame is inlined');
      for (const f of all) assert.match(f.pc, /^0x[0-9a-f]+$/);
      // The module's thread: msleep, then the module's code, which kdap bt has no symbols for here.
      const d = byPid.get(dsleep)!;
      assert.equal(kernelStyleFrames(arch, d.frames.map((f) => ({ name: f.function, kind: f.inlined ? 'inline' : 'normal', pc: f.pc, file: f.file, line: f.line ?? 0 })), schedRanges)[0], 'msleep');
    });

    test('kdap bt --pid prints a text stack per task, as bt does', () => {
      assert.match(btText, new RegExp(`^PID ${dsleep} \\(kdap_dsleep\\) D task 0x[0-9a-f]+\\n #0 `, 'm'));
      assert.match(btText, /^ #\d+ +0x[0-9a-f]+ in __schedule at \S*kernel\/sched\/core\.c:\d+$/m);
      assert.match(btText, / in context_switch at \S+:\d+ \[inlined\]$/m);
      assert.match(btText, /^PID 1 \([^)]+\) S task 0x[0-9a-f]+$/m);
      assert.match(btText, / in msleep at /);
    });

    test('kdap bt --module-path gives the module\'s frame its name and line, whatever gdb\'s index cache holds for the .ko', () => {
      assert.match(btText, new RegExp(` in kdap_test_dsleep at \\S*kdap_test\\.c:${fx.kmod.lines.dsleep}$`, 'm'));
    });

    test('bad input: no task, no pids, a gdbstub that is not there', async () => {
      const none = await kdap('bt', '--json', '--pid', '999999', '--remote', remote, '--vmlinux', fx.vmlinux);
      assert.equal(none.status, 1);
      assert.deepEqual(JSON.parse(none.stdout), { stacks: [{ pid: 999999, frames: [], error: 'no task with pid 999999' }] });
      assert.equal((await kdap('bt', '--remote', remote, '--vmlinux', fx.vmlinux)).status, 2);
      const gone = await kdap('ps', '--remote', '127.0.0.1:1', '--vmlinux', fx.vmlinux);
      assert.equal(gone.status, 1);
      assert.match(gone.stderr, /127\.0\.0\.1:1/);
      // The guest runs on after all of it.
      assert.match(await guest.sh('echo alive'), /alive/);
    });
  });
}
