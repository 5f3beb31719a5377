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
});
