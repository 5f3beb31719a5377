import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { findProcess, forEachProcess, readTask, taskComm, taskPid } from '../../../src/kernel/task';
import { layout, window } from './planted';

// task_struct members at their 6.1 x86_64 offsets.
const taskLayout = layout('task_struct', 9728, {
  stack: [32, 8],
  tasks: [2192, 16, 'struct list_head'],
  'tasks.next': [2192, 8],
  mm: [2272, 8],
  pid: [2416, 4, 'pid_t'],
  tgid: [2420, 4, 'pid_t'],
  comm: [2976, 16, 'char [16]'],
});

const INIT = 0xffffffff82a1aa40n;
const SLAB = 0xffff888005600000n;

function kernel() {
  const image = new MemoryImage('x86_64').setLayout(taskLayout).setSymbol('init_task', INIT);
  const image0 = window(image, INIT & ~0xfffn, 0x2a1a000n, 0x4000n);
  const slab = window(image, SLAB, 0x5600000n, 0x40000n);
  const plant = (w: typeof slab, task: bigint, f: { pid: number; tgid?: number; comm: string; mm?: bigint; stack?: bigint; next: bigint }) => {
    w.int(task + 32n, f.stack ?? 0n);
    w.int(task + 2192n, f.next + 2192n); // tasks.next points at the next task's list_head
    w.int(task + 2272n, f.mm ?? 0n);
    w.int(task + 2416n, f.pid, 4);
    w.int(task + 2420n, f.tgid ?? f.pid, 4);
    w.text(task + 2976n, f.comm, 16);
  };
  return { image, image0, slab, plant };
}

describe('task_struct fields', () => {
  test('readTask reads pid, tgid, comm, mm and stack in one read', async () => {
    const { image, slab, plant } = kernel();
    const t = SLAB + 0x4800n;
    plant(slab, t, { pid: 95, tgid: 95, comm: 'sh', mm: 0xffff888005443c00n, stack: 0xffffc900007b4000n, next: INIT });
    image.resetReads();
    assert.deepEqual(await readTask(image, t), {
      address: t, pid: 95, tgid: 95, comm: 'sh', mm: 0xffff888005443c00n, stack: 0xffffc900007b4000n,
    });
    assert.deepEqual(image.reads, [{ space: 'virtual', address: t + 32n, length: 2976 + 16 - 32 }]);
  });

  test('comm fills all 16 bytes without a NUL, or holds UTF-8', async () => {
    const { image, slab, plant } = kernel();
    plant(slab, SLAB, { pid: 7, comm: 'kworker/u4:0-ev', next: INIT });
    assert.equal(await taskComm(image, SLAB), 'kworker/u4:0-ev');
    slab.bytes(SLAB + 2976n, Uint8Array.from([0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70]));
    assert.equal(await taskComm(image, SLAB), 'abcdefghijklmnop');
    slab.text(SLAB + 2976n, 'zähler', 16);
    assert.equal(await taskComm(image, SLAB), 'zähler');
  });

  test('taskPid reads pid_t as signed', async () => {
    const { image, slab, plant } = kernel();
    plant(slab, SLAB, { pid: -1, comm: 'x', next: INIT });
    assert.equal(await taskPid(image, SLAB), -1);
  });
});

describe('the process list', () => {
  function three() {
    const k = kernel();
    const a = SLAB + 0x1000n;
    const b = SLAB + 0x8000n;
    k.plant(k.image0, INIT, { pid: 0, comm: 'swapper/0', next: a });
    k.plant(k.slab, a, { pid: 1, comm: 'init', next: b, mm: 0xffff888005400000n });
    k.plant(k.slab, b, { pid: 95, comm: 'sh', next: INIT, mm: 0xffff888005443c00n });
    return { ...k, a, b };
  }

  test('forEachProcess starts at init_task and follows tasks.next back to it', async () => {
    const { image, a, b } = three();
    const seen = [];
    for await (const t of forEachProcess(image)) seen.push([t.address, t.pid]);
    assert.deepEqual(seen, [[INIT, 0], [a, 1], [b, 95]]);
  });

  test('findProcess finds by pid and says undefined for none', async () => {
    const { image, b } = three();
    assert.equal(await findProcess(image, 95), b);
    assert.equal(await findProcess(image, 4242), undefined);
  });

  test('a list that loops elsewhere ends with an error, not a hang', async () => {
    const { image, slab, plant, a, b } = three();
    plant(slab, b, { pid: 95, comm: 'sh', next: a });
    await assert.rejects(findProcess(image, 4242), /loops at task/);
  });
});
