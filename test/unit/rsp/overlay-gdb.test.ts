/**
 * The task overlay in front of a stub, with a real gdb on top. The stub here is kdap's own
 * server over an in-memory kernel, showing CPU threads only, as QEMU's gdbstub does; the e2e
 * test (test/e2e/tasks-rsp.test.ts) puts the overlay in front of QEMU itself.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { DebugInfoSnapshot } from '../../../src/kernel/debug-info-snapshot';
import { overlayProbes, TaskOverlay } from '../../../src/rsp/overlay';
import { RspServer } from '../../../src/rsp/server';
import { frozenKernel } from './frozen-kernel';
import { gdbBatch, selectThread } from './gdb';

const hex = (v: bigint) => `0x${v.toString(16)}`;

for (const arch of ['x86_64', 'arm64'] as const) {
  describe(`task overlay, ${arch}, real gdb`, () => {
    const f = frozenKernel(arch);
    const stub = new RspServer(f.kernel);
    const stubTrace: string[] = [];
    let stubPort = 0;
    const [pc, sp] = arch === 'x86_64' ? ['rip', 'rsp'] : ['pc', 'sp'];

    before(async () => {
      stubPort = await stub.listen();
    });
    after(() => stub.close());

    /** A fresh overlay for one gdb session (the overlay serves one gdb and closes with it). */
    async function overlay(to = stubPort): Promise<{ overlay: TaskOverlay; port: number; warnings: string[] }> {
      const socket = net.connect({ host: '127.0.0.1', port: to });
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      const debugInfo = await DebugInfoSnapshot.record(f.image, ...overlayProbes);
      const o = new TaskOverlay({ arch, flavour: 'qemu', stub: socket, debugInfo, trace: (side, way, text) => side === 'stub' && way === 'out' && stubTrace.push(text) });
      const warnings: string[] = [];
      o.on('warning', (w) => warnings.push(w));
      return { overlay: o, port: await o.listen(), warnings };
    }

    test('tasks appear next to the CPUs when exposed, with switch-frame registers', async () => {
      const { port, warnings } = await overlay();
      const frame = f.frames.get(f.dsleep)!;
      const r = await gdbBatch(arch, port, [
        'info threads',
        'monitor kdap tasks 30 95',
        'info threads',
        selectThread(10000030),
        `p/x $${pc}`,
        `p/x $${sp}`,
        arch === 'x86_64' ? 'p $rax' : 'p $x0',
        `x/dw ${hex(f.dsleep + 0x970n)}`,
        selectThread(10000095),
        `p/x $${pc}`,
        'detach',
      ]);
      const [before] = r.output.split('2 task threads');
      assert.doesNotMatch(before, /Thread 1000/);
      assert.match(r.output, /Thread 10000030 \(kdap_dsleep \[30\] D\)/);
      assert.match(r.output, /Thread 10000095 \(sh \[95\] R · on CPU 0\)/);
      const values = [...r.output.matchAll(/\$\d+ = (.*)$/gm)].map((m) => m[1]);
      assert.deepEqual(values, [hex(frame.pc), hex(frame.sp), '<unavailable>', '0x400123']);
      assert.match(r.output, new RegExp(`${hex(f.dsleep + 0x970n)}:\\s+30\\b`));
      assert.deepEqual(warnings, [], r.output);
    });

    test('memory reads with a task selected go through a CPU in kernel mode', async () => {
      // The kernel stopped on CPU 0, which runs user space: CPU 1 must read.
      const user = frozenKernel(arch, 0);
      const userStub = new RspServer(user.kernel);
      const port0 = await userStub.listen();
      const { port } = await overlay(port0);
      stubTrace.length = 0;
      const r = await gdbBatch(arch, port, ['monitor kdap tasks 30', 'info threads', selectThread(10000030), `x/dw ${hex(f.dsleep + 0x970n)}`, 'detach']);
      assert.match(r.output, new RegExp(`${hex(f.dsleep + 0x970n)}:\\s+30\\b`));
      const lastHg = stubTrace.filter((t) => /^\$Hg/.test(t)).pop();
      assert.match(lastHg ?? '', /^\$Hg2#/, stubTrace.join('\n'));
      await userStub.close();
    });

    test('with no CPU in kernel mode, tasks cannot be read, and gdb is told why; the CPUs still work', async () => {
      const user = frozenKernel(arch, 0);
      (user.cpus[1].registers as Map<string, bigint>).set(arch === 'x86_64' ? 'cs' : 'cpsr', arch === 'x86_64' ? 0x33n : 0n);
      const userStub = new RspServer(user.kernel);
      const { port, warnings } = await overlay(await userStub.listen());
      const r = await gdbBatch(arch, port, ['monitor kdap tasks all', 'info threads', 'detach']);
      assert.match(r.output, /kdap: .*no CPU is in kernel mode/);
      assert.match(r.output, /Thread 1 \(CPU 0 \(user mode\)\)/);
      assert.match(r.output, /Thread 2 \(CPU 1\)/);
      assert.ok(warnings.some((w) => /no task threads at this stop/.test(w)), warnings.join('\n'));
      await userStub.close();
    });

    test('stepping a task is refused; resuming is the stub’s', async () => {
      const { port } = await overlay();
      const r = await gdbBatch(arch, port, ['monitor kdap tasks 30', 'info threads', selectThread(10000030), 'stepi', 'continue', 'detach']);
      assert.match(r.output, /kdap: a sleeping task cannot be stepped/);
      // The stub here is frozen: the continue reached it and it said so.
      assert.match(r.output, /kdap: this kernel is frozen/);
    });
  });
}
