/**
 * Every task with its stack, through kdap's RSP overlay in front of QEMU's gdbstub, with gdb
 * driven directly (no adapter), on the Debian fixture kernels of both arches.
 *
 * The guest has tasks in S (shells, kthreadd), I (kworkers), D (kdap_test's kdap_dsleep in
 * msleep()) and one spinning on CPU 1 (a shell loop under taskset). Just before the stop it
 * writes its own truth to /tmp, for every thread: /proc/<pid>/task/<tid>/stat (state, CPU),
 * .../stack, and the context-switch counts of .../status; the truth is read back over the
 * console after gdb has detached, so printing it cannot wake anything before the stop.
 *
 * A task whose switch counts at the stop (read by kdap) equal the truth's has not run since
 * its truth was written: its state, CPU and stack must equal the truth exactly. The stack is
 * gdb's own unwind of the task thread, without inlined frames, without tail-call frames,
 * without the functions the kernel's own filter drops (in_sched_functions(): .sched.text and
 * the lock text, by the section bounds of the vmlinux), cut at the entry stub as kdap's stacks
 * are. Tasks that ran since are counted and shown, not compared.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { GdbstubConnection } from '../../src/engine/gdbstub-connection';
import { LiveTarget } from '../../src/engine/live-target';
import { QemuProcess } from '../../src/engine/qemu';
import { DebugInfoSnapshot } from '../../src/kernel/debug-info-snapshot';
import { readStruct, structLayout } from '../../src/kernel/struct';
import type { TaskEntry } from '../../src/kernel/tasks';
import { overlayProbes, TaskOverlay } from '../../src/rsp/overlay';
import { taskThreadId } from '../../src/rsp/thread-id';
import { loadFixtures, type ArchFixture } from '../support/fixtures';
import { GuestConsole } from '../support/guest';
import { FRAMES_PY, kernelStyleFrames, parseTruth, TRUTH_AWK, type GdbFrame, type Truth } from './tasks-support';

const fixtures = loadFixtures();

const only = process.env.KDAP_E2E_ARCH;
for (const arch of (['x86_64', 'arm64'] as const).filter((a) => !only || a === only)) {
  const fx: ArchFixture = fixtures.arches[arch];
  describe(`tasks through the RSP overlay on ${arch}`, { concurrency: false }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kdap-tasks-${arch}-`));
    let qemu: QemuProcess;
    let guest: GuestConsole;
    let engine: Engine | undefined;
    let overlay: TaskOverlay | undefined;
    let spinner = 0;
    let dsleep = 0;
    let tasks: TaskEntry[] = [];
    const switchesAtStop = new Map<number, number>();
    let threads: Array<{ tid: number; frames: GdbFrame[]; error?: string; ms: number }> = [];
    let truth = new Map<number, Truth>();
    let schedRanges: Array<[bigint, bigint]> = [];
    const timings: Record<string, number> = {};

    before(async () => {
      qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch, gdb: true, startPaused: false });
      guest = new GuestConsole(qemu, fixtures.guest.prompt);
      await guest.waitForPrompt(180_000);
      await guest.sh(`insmod ${fx.kmod.guestPath}`);
      if ((await guest.run('test -e /sys/module/kdap_test/parameters/tasks')).status !== 0) {
        throw new Error(`${fx.kmod.ko} predates kdap_test's tasks parameter: rebuild the fixtures from this checkout (bash scripts/fixtures.sh)`);
      }
      await guest.sh('echo d > /sys/module/kdap_test/parameters/tasks');
      dsleep = Number(/\d+/.exec(await guest.sh('cat /sys/module/kdap_test/parameters/tasks'))![0]);
      // A subshell that exits at once: the loop's parent becomes init, not the truth's shell.
      await guest.sh("(taskset -c 1 sh -c 'while :; do :; done' &)");
      spinner = Number(/^\s*(\d+)/m.exec(await guest.sh("ps -o pid,args | grep 'while :' | grep -v grep"))![1]);
      const moduleText = /0x[0-9a-f]+/.exec(await guest.sh('cat /sys/module/kdap_test/sections/.text'))![0];

      engine = await Engine.start({ vmlinux: fx.vmlinux, arch, substitutePath: fx.substitutePath, sourceRoot: fixtures.sourceRoot });
      await engine.gdb.console(`add-symbol-file ${fx.kmod.ko} ${moduleText}`, 60_000);
      const live = new LiveTarget(engine.gdb, arch, { physical: () => 'stub' });
      const debugInfo = await DebugInfoSnapshot.record(live, ...overlayProbes, (t) => t.layout('task_struct'));
      for (const [start, end] of [['__sched_text_start', '__sched_text_end'], ['__lock_text_start', '__lock_text_end']]) {
        const s = await live.symbol(start);
        const e = await live.symbol(end);
        if (s !== undefined && e !== undefined) schedRanges.push([s, e]);
      }
      assert.ok(schedRanges.length >= 1, 'the vmlinux has no __sched_text_start/_end');
      const script = path.join(dir, 'frames.py');
      fs.writeFileSync(script, FRAMES_PY);
      await engine.gdb.console(`source ${script}`);

      // The truth, written to tmpfs; the stop comes right after. Not before the shell that printed
      // the prompt sleeps in its read, though: with the spinner in user space on CPU 1 and the shell
      // still in user space on CPU 0, no CPU maps kernel memory (KPTI) and the gdbstub reads none.
      await guest.sh(`${TRUTH_AWK} > /tmp/truth`, 120_000);
      await new Promise((r) => setTimeout(r, 300));

      const socket = net.connect({ host: '127.0.0.1', port: Number(qemu.gdbAddress!.split(':')[1]) });
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      overlay = new TaskOverlay({ arch, flavour: 'qemu', stub: socket, debugInfo });
      const port = await overlay.listen();
      let t = Date.now();
      await engine.connect(new GdbstubConnection(`127.0.0.1:${port}`));
      timings.connect = Date.now() - t;

      t = Date.now();
      tasks = await overlay.taskList();
      timings.list = Date.now() - t;
      t = Date.now();
      tasks = await overlay.whileStopped(async () => {
        overlay!.tasks.invalidate();
        return overlay!.tasks.tasks();
      });
      timings.listAgain = Date.now() - t;
      const layout = await structLayout(overlay.target, 'task_struct');
      await overlay.whileStopped(async () => {
        for (const task of tasks) {
          const v = await readStruct(overlay!.target, task.task, layout, ['nvcsw', 'nivcsw']);
          switchesAtStop.set(task.pid, Number(v.unsigned('nvcsw') + v.unsigned('nivcsw')));
        }
      });

      await engine.gdb.console('monitor kdap tasks all', 120_000);
      t = Date.now();
      await engine.gdb.console('info threads', 600_000);
      timings.infoThreads = Date.now() - t;
      const out = path.join(dir, 'frames.json');
      t = Date.now();
      await engine.gdb.console(`python kdap_dump_frames(${JSON.stringify(out)}, [])`, 600_000);
      timings.allStacks = Date.now() - t;
      threads = JSON.parse(fs.readFileSync(out, 'utf8'));

      // Let the guest run again, then read its truth.
      await engine.gdb.send('-target-detach', [], 30_000);
      await overlay.close();
      truth = parseTruth((await guest.run('cat /tmp/truth', 120_000)).output);
    });

    after(async () => {
      await overlay?.close();
      await engine?.gdb.stop();
      await qemu?.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const filtered = (frames: GdbFrame[]) => kernelStyleFrames(arch, frames, schedRanges);

    test('every thread the guest has is listed, with its tgid', () => {
      const byPid = new Map(tasks.map((t) => [t.pid, t]));
      const missing = [...truth.values()].filter((t) => !byPid.has(t.tid)).map((t) => t.tid);
      // A thread that exited after the truth would be missing here: none should (all are long-lived).
      assert.deepEqual(missing, [], `tasks in /proc but not listed: ${missing.join(' ')}`);
      for (const t of truth.values()) assert.equal(byPid.get(t.tid)!.tgid, t.tgid, `tid ${t.tid}`);
      assert.ok(tasks.length > 40, `${tasks.length} tasks`);
    });

    test('state and CPU equal /proc/<pid>/stat for every task that did not run since', (t) => {
      let compared = 0;
      const ran: number[] = [];
      const woken: number[] = [];
      const wrong: string[] = [];
      for (const task of tasks) {
        const want = truth.get(task.pid);
        if (!want || task.pid === 0) continue;
        if (switchesAtStop.get(task.pid) !== want.switches) {
          ran.push(task.pid);
          continue;
        }
        compared++;
        // Woken after the truth but not run yet: the state is R now, nothing else moved.
        if (want.state !== task.state && task.state === 'R' && !task.onCpu) woken.push(task.pid);
        else if (want.state !== task.state) wrong.push(`${task.pid} ${task.comm}: state ${task.state}, /proc said ${want.state}`);
        if (want.cpu !== task.cpu) wrong.push(`${task.pid} ${task.comm}: cpu ${task.cpu}, /proc said ${want.cpu}`);
      }
      t.diagnostic(`${compared} compared, ${ran.length} ran since the truth (${ran.join(' ')}), ${woken.length} woken but not run (${woken.join(' ')})`);
      assert.deepEqual(wrong, []);
      assert.ok(compared > 40, `only ${compared} tasks were still`);
      const d = tasks.find((x) => x.pid === dsleep);
      assert.deepEqual([d?.comm, d?.state, d?.kernelThread], ['kdap_dsleep', 'D', true]);
      assert.ok(tasks.some((x) => x.state === 'I' && /^kworker/.test(x.comm)), 'an idle kworker');
      assert.ok(tasks.some((x) => x.state === 'S'), 'a task in S');
      const s = tasks.find((x) => x.pid === spinner);
      assert.deepEqual([s?.state, s?.onCpu, s?.cpu], ['R', true, 1], 'the spinning loop runs on CPU 1');
      assert.deepEqual([truth.get(spinner)?.state, truth.get(spinner)?.cpu], ['R', 1]);
    });

    test('every sleeping task’s stack, unwound by gdb through the overlay, equals /proc/<pid>/stack', (t) => {
      const byTid = new Map(threads.map((th) => [th.tid, th]));
      const wrong: string[] = [];
      let compared = 0;
      for (const task of tasks) {
        const want = truth.get(task.pid);
        if (!want || task.pid === 0 || task.onCpu || switchesAtStop.get(task.pid) !== want.switches) continue;
        if (!['S', 'D', 'I'].includes(want.state)) continue;
        const got = byTid.get(taskThreadId(task.pid, task.cpu));
        if (!got) {
          wrong.push(`${task.pid} ${task.comm}: no thread`);
          continue;
        }
        compared++;
        const frames = filtered(got.frames);
        if (JSON.stringify(frames) !== JSON.stringify(want.stack)) {
          wrong.push(`${task.pid} ${task.comm} (${want.state}):\n  gdb:   ${frames.join(' ← ')}\n  /proc: ${want.stack.join(' ← ')}\n  raw:   ${got.frames.map((f) => `${f.name}${f.kind === 'normal' ? '' : `[${f.kind}]`}`).join(' ← ')}`);
        }
      }
      const ms = threads.map((th) => th.ms).sort((a, b) => a - b);
      t.diagnostic(`${compared} stacks compared; per-thread unwind ${ms[Math.floor(ms.length / 2)]?.toFixed(1)} ms median, ${ms[ms.length - 1]?.toFixed(1)} ms max; timings ${JSON.stringify(timings)}`);
      assert.deepEqual(wrong, []);
      assert.ok(compared > 40, `only ${compared} stacks compared`);
      const d = threads.find((th) => th.tid === taskThreadId(dsleep, undefined));
      assert.deepEqual(filtered(d?.frames ?? []).slice(0, 2), ['msleep', 'kdap_test_dsleep']);
      const src = d!.frames.find((f) => f.name === 'kdap_test_dsleep');
      assert.equal(src?.line, fx.kmod.lines.dsleep, 'the module frame has its source line');
    });
  });
}
