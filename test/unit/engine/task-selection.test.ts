/**
 * Picked tasks as threads of a session: the overlay connection in front of a stub (kdap's RSP
 * server over an in-memory kernel, showing CPU threads only, as QEMU does), a real gdb on top.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { GdbBackend } from '../../../src/gdb/backend';
import { GdbstubConnection } from '../../../src/engine/gdbstub-connection';
import { frameKinds } from '../../../src/engine/task-report';
import { rspThreadOf, TaskOverlayConnection } from '../../../src/engine/task-overlay-connection';
import { TaskSelection } from '../../../src/engine/task-selection';
import { RspServer } from '../../../src/rsp/server';
import { frozenKernel } from '../rsp/frozen-kernel';

describe('RSP thread ids in gdb’s target ids', () => {
  test('with and without the multiprocess extension', () => {
    assert.equal(rspThreadOf('Thread 1.10000095'), 10000095);
    assert.equal(rspThreadOf('Thread 95'), 95);
    assert.equal(rspThreadOf('Thread p1.2'), 2);
    assert.equal(rspThreadOf('process 12'), undefined);
  });
});

for (const arch of ['x86_64', 'arm64'] as const) {
  describe(`picked tasks as threads through the overlay connection, ${arch}, real gdb`, () => {
    const f = frozenKernel(arch);
    const stub = new RspServer(f.kernel);
    const gdb = new GdbBackend({ gdbPath: process.env.KDAP_GDB ?? 'gdb-multiarch' });
    let connection: TaskOverlayConnection;
    let selection: TaskSelection;

    before(async () => {
      const port = await stub.listen();
      connection = new TaskOverlayConnection(new GdbstubConnection(`127.0.0.1:${port}`), arch, () => f.image);
      await gdb.start();
      await gdb.console(`set architecture ${arch === 'x86_64' ? 'i386:x86-64' : 'aarch64'}`);
      await connection.ready();
      assert.notEqual(connection.remote, `127.0.0.1:${port}`, 'gdb connects to the overlay, not to the stub');
      await gdb.send('-target-select', ['remote', connection.remote]);
      selection = new TaskSelection(connection, gdb, 2);
    });
    after(async () => {
      await gdb.stop();
      await connection.close();
      await stub.close();
    });

    test('no task is a thread until picked; a picked one is, named as ps would', async () => {
      assert.deepEqual(await selection.threads(), []);
      const rows = await selection.rows();
      assert.equal(rows.tasks.find((t) => t.pid === 30)?.state, 'D');
      const t = await selection.select(30);
      assert.equal(t.name, 'Task kdap_dsleep [30] D');
      assert.deepEqual((await selection.threads()).map((x) => x.id), [t.id]);
      // The CPUs stay the CPUs: the task thread is not one of them.
      assert.deepEqual((await connection.cpuThreads(gdb)).map((c) => c.cpu), [0, 1]);
      // Its registers are its switch frame.
      const pc = await gdb.send('-data-evaluate-expression', ['--thread', String(t.id), '$pc']);
      assert.equal(BigInt(String(pc.results.value).split(' ')[0]), f.frames.get(f.dsleep)!.pc);
      assert.equal(await selection.rspOf(t.id), 10000030);
      assert.equal((await frameKinds(gdb, 10000030, 4))[0], 'normal');
    });

    test('the last picks stay threads; an unknown pid is a clear error', async () => {
      await selection.select(1);
      await selection.select(2);
      assert.deepEqual((await selection.threads()).map((x) => x.name), ['Task init [1] S', 'Task kthreadd [2] S']);
      await assert.rejects(selection.select(4242), /No task with pid 4242 at this stop/);
      await assert.rejects(selection.select(-1), /Not a task's pid/);
    });
  });
}
