/**
 * gdb's interrupt through the task overlay: a Pause right after a Continue, with task threads
 * listed and, in turn, a task's thread or a CPU's selected in gdb.
 *
 * gdb 13 answers `-exec-continue` (`^running`) before it sends the resume packet, so an
 * interrupt asked for at once reaches the overlay on the heels of the `vCont`, often in the same
 * read, before the overlay has passed the resume on. gdb sends its interrupt byte once and then
 * waits for the stop; if the overlay lost it, the kernel would run on with gdb waiting. Here
 * gdb is driven directly, with no retry of kdap's own in between: every interrupt must stop the
 * kernel, and QEMU's stop reply must name one of its vCPUs.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { Engine } from '../../src/engine/engine';
import { GdbstubConnection } from '../../src/engine/gdbstub-connection';
import { LiveTarget } from '../../src/engine/live-target';
import { QemuProcess } from '../../src/engine/qemu';
import { DebugInfoSnapshot } from '../../src/kernel/debug-info-snapshot';
import { overlayProbes, TaskOverlay } from '../../src/rsp/overlay';
import { decodeTaskThreadId } from '../../src/rsp/thread-id';
import { loadFixtures, type ArchFixture } from '../support/fixtures';
import { GuestConsole } from '../support/guest';

const fixtures = loadFixtures();
const ROUNDS = 12;

const only = process.env.KDAP_E2E_ARCH;
for (const arch of (['x86_64', 'arm64'] as const).filter((a) => !only || a === only)) {
  const fx: ArchFixture = fixtures.arches[arch];
  describe(`an interrupt right behind a continue, through the task overlay, on ${arch}`, { concurrency: false }, () => {
    let qemu: QemuProcess;
    let engine: Engine | undefined;
    let overlay: TaskOverlay | undefined;
    /** gdb's numbers of the CPU threads and of the task threads (pids 1 and 2). */
    let cpuThreads: number[] = [];
    let taskThreads: number[] = [];

    before(async () => {
      qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch, gdb: true, startPaused: false });
      await new GuestConsole(qemu, fixtures.guest.prompt).waitForPrompt(180_000);
      engine = await Engine.start({ vmlinux: fx.vmlinux, arch });
      const live = new LiveTarget(engine.gdb, arch, { physical: () => 'stub' });
      const debugInfo = await DebugInfoSnapshot.record(live, ...overlayProbes);
      const socket = net.connect({ host: '127.0.0.1', port: Number(qemu.gdbAddress!.split(':')[1]) });
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      overlay = new TaskOverlay({ arch, flavour: 'qemu', stub: socket, debugInfo, exposure: new Set([1, 2]) });
      const port = await overlay.listen();
      await engine.connect(new GdbstubConnection(`127.0.0.1:${port}`));
      const text = await engine.gdb.console('python import json; print("KDAP-THREADS " + json.dumps([[t.num, t.ptid[1]] for t in gdb.selected_inferior().threads()]))');
      const threads = JSON.parse(/^KDAP-THREADS (.*)$/m.exec(text)![1]) as Array<[number, number]>;
      cpuThreads = threads.filter(([, tid]) => !decodeTaskThreadId(tid)).map(([num]) => num);
      taskThreads = threads.filter(([, tid]) => decodeTaskThreadId(tid)).map(([num]) => num);
    });

    after(async () => {
      await engine?.gdb.stop();
      await overlay?.close();
      await qemu?.kill();
    });

    test('each of the interrupts stops the kernel, whether a task or a CPU was gdb\'s thread', async () => {
      assert.equal(taskThreads.length, 2, `task threads of pids 1 and 2 after the CPUs ${cpuThreads.join(' ')}`);
      const e = engine!;
      for (let round = 0; round < ROUNDS; round++) {
        const selected = round % 3 === 2 ? cpuThreads[0] : taskThreads[round % 3];
        await e.gdb.console(`thread ${selected}`);
        const stop = e.waitForStop(30_000);
        stop.catch(() => undefined);
        // Sent back to back, as a Pause clicked right after Continue does.
        const continued = e.gdb.send('-exec-continue');
        const interrupted = e.gdb.send('-exec-interrupt', ['--all']);
        await continued;
        await interrupted;
        const info = await stop.catch((err: Error) => assert.fail(`round ${round} (gdb thread ${selected}): ${err.message}`));
        assert.equal(info.reason, 'signal-received', `round ${round}: stopped for ${info.reason} on thread ${info.threadId}`);
        assert.ok(cpuThreads.includes(info.threadId!), `round ${round}: the stop is on a vCPU, not ${info.threadId}`);
      }
    });
  });
}
