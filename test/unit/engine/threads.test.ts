import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ThreadGroup } from '../../../src/engine/connection';
import type { StopInfo } from '../../../src/engine/engine';
import type { CpuThread } from '../../../src/engine/kernel-views';
import { ThreadList } from '../../../src/engine/threads';

const cpus: CpuThread[] = [
  { cpu: 0, threadId: 4, info: { id: 4, targetId: 'Thread 4294967294', state: 'stopped', name: 'shadowCPU0', frame: { level: 0, address: 0xffffffff81e00000n, func: 'default_idle' } } },
  { cpu: 1, threadId: 5, info: { id: 5, targetId: 'Thread 4294967293', state: 'stopped', name: 'shadowCPU1', frame: { level: 0, address: 0xffffffff8113f2a0n, func: 'kgdb_breakpoint' } } },
];
/** kgdb names the task that entered the debugger (pid 87) as the stop's thread, on CPU 1. */
const stop: StopInfo = { reason: 'signal-received', signal: 'SIGTRAP', threadId: 23, frame: { level: 0, address: 0xffffffff8113f2a0n, func: 'kgdb_breakpoint' }, raw: {} };
const tasks: ThreadGroup = { id: 99_999, name: 'Tasks', rows: async () => ({ labels: [], total: 0 }), invalidate: () => undefined };

describe('the thread list', () => {
  test('where tasks are threads too, the stopped task stands in for its CPU, and the groups follow', async () => {
    const list = await new ThreadList(async () => cpus, () => stop, [tasks], true).list();
    assert.deepEqual(list.map((t) => [t.id, t.cpu, t.name]), [[4, 0, 'CPU 0'], [23, 1, 'CPU 1'], [99_999, -1, 'Tasks']]);
  });

  test('where threads are CPUs, the list is the CPUs, named after their tasks once known', async () => {
    const threads = new ThreadList(async () => cpus, () => stop, [], false);
    threads.setTaskName(1, 'insmod');
    assert.deepEqual((await threads.list()).map((t) => [t.id, t.name]), [[4, 'CPU 0'], [5, 'CPU 1 · insmod']]);
    assert.equal(await threads.kernelThread(4), 5);
    threads.invalidate();
    assert.deepEqual((await threads.list()).map((t) => t.name), ['CPU 0', 'CPU 1']);
  });

  test('where threads are CPUs, later stops list them without asking gdb; a kernel thread is found from this stop', async () => {
    let reads = 0;
    let frames = cpus;
    const threads = new ThreadList(async () => (reads++, frames), () => stop, [], false);
    assert.deepEqual((await threads.list()).map((t) => [t.id, t.cpu]), [[4, 0], [5, 1]]);
    threads.invalidate();
    assert.deepEqual((await threads.list()).map((t) => [t.id, t.cpu, t.name, t.info.frame]), [[4, 0, 'CPU 0', undefined], [5, 1, 'CPU 1', undefined]]);
    assert.equal(reads, 1);
    // CPU 1 went to user space, CPU 0 is in the kernel at this stop.
    frames = [cpus[0], { ...cpus[1], info: { ...cpus[1].info, frame: { level: 0, address: 0x401000n } } }];
    assert.equal(await threads.kernelThread(), 4);
    assert.equal(reads, 2);
  });

  test('where tasks are threads too, every stop reads the CPUs again', async () => {
    let reads = 0;
    const threads = new ThreadList(async () => (reads++, cpus), () => stop, [], true);
    await threads.list();
    threads.invalidate();
    await threads.list();
    assert.equal(reads, 2);
  });
});
