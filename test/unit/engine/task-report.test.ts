/**
 * The JSON of `kdap ps` / `kdap bt`: rows over an in-memory task kernel; stacks from a real gdb
 * connected to kdap's RSP server over a frozen kernel, which shows the tasks as threads.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { GdbBackend } from '../../../src/gdb/backend';
import { psRows, taskStacks, taskThreadSource } from '../../../src/engine/task-report';
import { RspServer } from '../../../src/rsp/server';
import { populated, signalOf } from '../kernel/planted-tasks';
import { frozenKernel } from '../rsp/frozen-kernel';

const hex = (v: bigint) => `0x${v.toString(16)}`;

describe('ps rows', () => {
  test('every task with exactly the fields of the JSON shape, addresses as hex strings', async () => {
    const k = populated();
    const { tasks, error } = await psRows(k.image);
    assert.equal(error, undefined);
    assert.equal(tasks.length, 12);
    assert.deepEqual(tasks.find((t) => t.pid === 95), { pid: 95, tgid: 95, ppid: 1, comm: 'sh', state: 'R', cpu: 0, onCpu: true, kernelThread: false, task: hex(k.sh) });
    assert.deepEqual(tasks.find((t) => t.pid === 30), { pid: 30, tgid: 30, ppid: 2, comm: 'kdap_dsleep', state: 'D', cpu: 1, onCpu: false, kernelThread: true, task: hex(k.dsleep) });
    assert.deepEqual(Object.keys(tasks[0]), ['pid', 'tgid', 'ppid', 'comm', 'state', 'cpu', 'onCpu', 'kernelThread', 'task']);
  });

  test('a looping list gives the rows read before the loop, and why', async () => {
    const k = populated();
    k.plant(k.stopped, { pid: 120, comm: 'stopped', state: 0x104, parent: k.sh, next: k.kthreadd, signal: signalOf(10), threadNext: 'head', threadPrev: 'head' });
    const report = await psRows(k.image);
    assert.match(report.error ?? '', /the task list loops/);
    assert.equal(report.tasks.length, 12);
  });
});

for (const arch of ['x86_64', 'arm64'] as const) {
  describe(`task stacks from a real gdb, ${arch}`, () => {
    const f = frozenKernel(arch);
    const server = new RspServer(f.kernel);
    const gdb = new GdbBackend({ gdbPath: process.env.KDAP_GDB ?? 'gdb-multiarch' });
    before(async () => {
      const port = await server.listen();
      await gdb.start();
      await gdb.console(`set architecture ${arch === 'x86_64' ? 'i386:x86-64' : 'aarch64'}`);
      await gdb.send('-target-select', ['remote', `127.0.0.1:${port}`]);
    });
    after(async () => {
      await gdb.stop();
      await server.close();
    });

    test('a sleeping task starts at its switch frame; a task on a CPU is that CPU; an unknown pid says so', async () => {
      const source = taskThreadSource(gdb, server.tasks, { ids: 'task-ids' });
      assert.equal(server.tasks.exposure, 'none');
      const report = await taskStacks(source, [30, 95, 4242], { arch });
      assert.deepEqual(report.stacks.map((s) => s.pid), [30, 95, 4242]);
      const [dsleep, sh, none] = report.stacks;
      assert.equal(dsleep.frames[0]?.pc, hex(f.frames.get(f.dsleep)!.pc));
      assert.deepEqual(Object.keys(dsleep.frames[0]), ['function', 'file', 'line', 'pc', 'inlined']);
      assert.equal(dsleep.frames[0].inlined, false);
      assert.equal(sh.frames[0]?.pc, '0x400123', 'sh runs on CPU 0, in user mode');
      assert.deepEqual(none, { pid: 4242, frames: [], error: 'no task with pid 4242' });
      // Only the tasks asked for became threads.
      const shown = server.tasks.exposure;
      assert.ok(typeof shown !== 'string');
      assert.deepEqual([...shown], [30, 95]);
    });

    test('every pid there is, for --all; gdb’s selected thread is left as it was', async () => {
      const before = (await gdb.send('-thread-info')).results['current-thread-id'];
      const source = taskThreadSource(gdb, server.tasks, { ids: 'task-ids' });
      const pids = await source.pids();
      assert.deepEqual(pids, [1, 2, 20, 30, 95, 100, 102, 101, 110, 120]);
      const report = await taskStacks(source, pids, { arch });
      assert.equal(report.stacks.length, pids.length);
      assert.ok(report.stacks.filter((s) => s.frames.length > 0).length >= 8, JSON.stringify(report.stacks.map((s) => [s.pid, s.frames.length, s.error])));
      assert.equal((await gdb.send('-thread-info')).results['current-thread-id'], before);
    });
  });
}
