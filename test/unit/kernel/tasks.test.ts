import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DebugInfoSnapshot } from '../../../src/kernel/debug-info-snapshot';
import { listTasks, probeTasks, TaskListError, type TaskEntry } from '../../../src/kernel/tasks';
import { taskStateLetter } from '../../../src/kernel/task-state';
import { INIT, populated, signalOf } from './planted-tasks';

const row = (t: TaskEntry) => `${t.pid}/${t.tgid} ppid=${t.ppid} ${t.comm} ${t.state} cpu=${t.cpu}${t.onCpu ? ' on-cpu' : ''}${t.kernelThread ? ' kthread' : ''}`;

describe('the task list', () => {
  test('every task: processes, their threads, the idle tasks; ps fields as /proc shows them', async () => {
    const k = populated();
    const tasks = await listTasks(k.image);
    assert.deepEqual(tasks.map(row), [
      '0/0 ppid=0 swapper/0 R cpu=0 kthread',
      '0/0 ppid=0 swapper/1 R cpu=1 on-cpu kthread',
      '1/1 ppid=0 init S cpu=1',
      '2/2 ppid=0 kthreadd S cpu=0 kthread',
      '20/20 ppid=2 kworker/0:1 I cpu=0 kthread',
      '30/30 ppid=2 kdap_dsleep D cpu=1 kthread',
      // sh's task_cpu() says 1, but CPU 0 runs it: the CPU wins.
      '95/95 ppid=1 sh R cpu=0 on-cpu',
      '100/100 ppid=95 app S cpu=0',
      '102/100 ppid=95 app-timer S cpu=0',
      '101/100 ppid=95 app-io D cpu=0',
      '110/110 ppid=95 defunct Z cpu=0',
      '120/120 ppid=95 stopped T cpu=0',
    ]);
    assert.equal(tasks[6].task, k.sh);
  });

  test('one read per task plus five for the CPUs, over a gdbstub', async () => {
    const k = populated();
    await listTasks(k.image);
    k.image.resetReads();
    const tasks = await listTasks(k.image);
    // current: the offsets table + one pointer per CPU; idle: the same again.
    assert.equal(k.image.count('virtual'), tasks.length + 6);
    const taskReads = k.image.reads.filter((r) => r.length > 64);
    assert.equal(taskReads.length, tasks.length);
    // One span from thread_info.cpu to signal: 3060 bytes.
    assert.ok(taskReads.every((r) => r.length === 0xc08 - 0x14), JSON.stringify(taskReads.slice(0, 2), (_, v) => (typeof v === 'bigint' ? v.toString(16) : v)));
  });

  test('over a serial line: small clusters, a tenth of the bytes', async () => {
    const k = populated();
    await listTasks(k.image);
    k.image.resetReads();
    const tasks = await listTasks(k.image, { mergeGap: 64 });
    const perTask = k.image.reads.filter((r) => r.address >= 0xff00000000000000n && r.length !== 8);
    const bytes = perTask.reduce((n, r) => n + r.length, 0);
    assert.ok(bytes < (tasks.length * (0xc08 - 0x14)) / 10, `${bytes} bytes`);
    assert.deepEqual((await listTasks(k.image, { mergeGap: 64 })).map(row), tasks.map(row));
  });

  test('with the stub’s read size: members share a read only where that saves one, and nothing between is read', async () => {
    const k = populated();
    const plain = (await listTasks(k.image)).map(row);
    k.image.resetReads();
    const tasks = await listTasks(k.image, { readSize: () => 2032 });
    assert.deepEqual(tasks.map(row), plain);
    const spans = k.image.reads.filter((r) => r.length > 16).map((r) => r.length);
    // cpu … flags, then tasks … signal: 28 and 888 bytes where one span is 3060 (two reads too).
    assert.deepEqual([...new Set(spans)].sort((a, b) => a - b), [0x30 - 0x14, 0xc08 - 0x890]);
    assert.equal(spans.length, 2 * tasks.length);
    k.image.resetReads();
    await listTasks(k.image, { readSize: () => 4096 });
    assert.ok(k.image.reads.filter((r) => r.length > 16).every((r) => r.length === 0xc08 - 0x14), 'one read holds it all: one span');
  });

  test('a process list that loops elsewhere ends with an error that keeps what was read', async () => {
    const k = populated();
    k.plant(k.stopped, { pid: 120, comm: 'stopped', state: 0x104, parent: k.sh, next: k.kthreadd, signal: signalOf(10), threadNext: 'head', threadPrev: 'head' });
    const e = await listTasks(k.image).then(() => assert.fail('no error'), (e: unknown) => e);
    assert.ok(e instanceof TaskListError);
    assert.match(e.message, /loops: the tasks list after pid 120 \(stopped\) leads back to task 0xffff888005608000/);
    assert.equal(e.tasks.length, 12);
    assert.equal(e.tasks[2].comm, 'init');
  });

  test('a thread ring that never reaches its head is a loop too', async () => {
    const k = populated();
    k.plant(k.app102, { pid: 102, tgid: 100, comm: 'app-timer', state: 0x1, parent: k.sh, next: 0n, signal: signalOf(6), threadNext: k.app, threadPrev: k.app });
    await assert.rejects(listTasks(k.image), /loops: the thread list of pid 102 \(app-timer\) leads back to task 0xffff888005618000/);
  });

  test('a bad pointer is named, never followed', async () => {
    const k = populated();
    k.plant(k.dsleep, { pid: 30, comm: 'kdap_dsleep', state: 0x2, parent: k.kthreadd, next: 0x1234n - 0x890n, signal: signalOf(4), threadNext: 'head', threadPrev: 'head' });
    await assert.rejects(listTasks(k.image), /the tasks list after pid 30 \(kdap_dsleep\) leads to 0x9a4, which is no task_struct address/);
  });

  test('a pointer to unmapped memory fails with the address and where it came from', async () => {
    const k = populated();
    k.plant(k.dsleep, { pid: 30, comm: 'kdap_dsleep', state: 0x2, parent: k.kthreadd, next: 0xffff888012340000n, signal: signalOf(4), threadNext: 'head', threadPrev: 'head' });
    const e = await listTasks(k.image).then(() => assert.fail('no error'), (e: unknown) => e);
    assert.ok(e instanceof TaskListError);
    assert.match(e.message, /cannot read task 0xffff888012340000 \(reached from the tasks list after pid 30 \(kdap_dsleep\)\)/);
    assert.deepEqual(e.tasks.map((t) => t.pid), [0, 0, 1, 2, 20, 30]);
  });

  test('the walk is bounded', async () => {
    const k = populated();
    await assert.rejects(listTasks(k.image, { limit: 5 }), /more than 5 tasks/);
  });

  test('from a snapshot of the debug info, the same list; an unrecorded lookup says so', async () => {
    const k = populated();
    const snapshot = await DebugInfoSnapshot.record(k.image, probeTasks);
    const target = snapshot.withMemory(k.image);
    assert.deepEqual((await listTasks(target)).map(row), (await listTasks(k.image)).map(row));
    await assert.rejects(target.layout('mm_struct'), /struct mm_struct was not looked up before the snapshot/);
    await assert.rejects(DebugInfoSnapshot.record(k.image, (t) => t.readVirtual(INIT, 8)), /may not read memory/);
  });
});

describe('task state letters (fs/proc/array.c, 6.1)', () => {
  const cases: Array<[number, number, string]> = [
    [0x0, 0, 'R'],
    [0x1, 0, 'S'],
    [0x2001, 0, 'S'], // TASK_FREEZABLE | TASK_INTERRUPTIBLE
    [0x2, 0, 'D'],
    [0x102, 0, 'D'], // TASK_KILLABLE
    [0x402, 0, 'I'], // TASK_IDLE
    [0x104, 0, 'T'], // TASK_STOPPED
    [0x8, 0, 't'], // TASK_TRACED
    [0x40, 0, 'P'], // TASK_PARKED
    [0x80, 0x20, 'Z'], // TASK_DEAD + EXIT_ZOMBIE
    [0x80, 0x10, 'X'], // TASK_DEAD + EXIT_DEAD
    [0x1000, 0, 'D'], // TASK_RTLOCK_WAIT
  ];
  for (const [state, exit, letter] of cases) {
    test(`__state 0x${state.toString(16)} exit_state 0x${exit.toString(16)} → ${letter}`, () => assert.equal(taskStateLetter(state, exit), letter));
  }
});
