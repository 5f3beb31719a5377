import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { cpuCurr, cpuRq, currentTask, currentTaskSource, readRq } from '../../../src/kernel/sched';
import { layout, window } from './planted';

// struct rq as the 6.1 x86_64 fixture has it: nr_running at 4, cfs.curr (a sched_entity) at 192,
// rq->curr at 2400.
const rqLayout = layout('rq', 3264, { nr_running: [4, 4], 'cfs.curr': [192, 8], curr: [2400, 8] });
const OFFSETS = [0xffff88801f400000n, 0xffff88801f500000n];
const TABLE = 0xffffffff8239cb60n;
const RUNQUEUES = 0x31980n;

/** Two CPUs with per-CPU areas; CPU n's rq->curr is `rqCurr[n]`, nr_running `n + 1`. */
function kernel(rqCurr: bigint[]): { image: MemoryImage; area: ReturnType<typeof window> } {
  const image = new MemoryImage('x86_64', 2).setSymbol('__per_cpu_offset', TABLE).setSymbol('runqueues', RUNQUEUES).setLayout(rqLayout);
  const table = window(image, TABLE, 0x239cb60n, 0x1000n);
  OFFSETS.forEach((o, cpu) => table.int(TABLE + BigInt(cpu) * 8n, o));
  const area = window(image, OFFSETS[0], 0x1f400000n, 0x200000n);
  OFFSETS.forEach((o, cpu) => {
    area.int(o + RUNQUEUES + 2400n, rqCurr[cpu]);
    area.int(o + RUNQUEUES + 4n, cpu + 1, 4);
    area.int(o + RUNQUEUES + 192n, 0xdeadbeefn); // cfs.curr: must not be taken for rq->curr
  });
  return { image, area };
}

describe('runqueues', () => {
  test('cpuRq is &runqueues plus the CPU’s offset', async () => {
    const { image } = kernel([1n, 2n]);
    assert.equal(await cpuRq(image, 1), 0xffff88801f531980n);
  });

  test('readRq gets curr and nr_running from one read of the span between them', async () => {
    const { image } = kernel([0xffffffff82a1aa40n, 0xffff88800563c800n]);
    await cpuRq(image, 1);
    image.resetReads();
    const rq = await readRq(image, 1);
    assert.deepEqual(rq, { address: 0xffff88801f531980n, curr: 0xffff88800563c800n, nrRunning: 2 });
    // one read for __per_cpu_offset[1] (readRq looks it up again) and one for the rq span
    assert.equal(image.count('virtual'), 2);
    assert.deepEqual(image.reads[1], { space: 'virtual', address: 0xffff88801f531984n, length: 2404 });
    assert.equal(await cpuCurr(image, 0), 0xffffffff82a1aa40n);
  });

  test('a kernel whose rq lacks curr is reported, not misread', async () => {
    const image = new MemoryImage('x86_64').setSymbol('runqueues', RUNQUEUES).setLayout(layout('rq', 64, { nr_running: [4, 4] }));
    await assert.rejects(readRq(image, 0), /struct rq has no member curr/);
  });
});

describe('current task, probed by what the kernel has', () => {
  // rq->curr deliberately differs from `current`, as in the middle of __schedule().
  const RQ_CURR = [0x1000n, 0x2000n];
  const CURRENT = [0xffffffff82a1aa40n, 0xffff88800563c800n];

  test('x86_64 up to 6.1: the per-CPU pointer current_task', async () => {
    const { image, area } = kernel(RQ_CURR);
    image.setSymbol('current_task', 0x1fb80n);
    OFFSETS.forEach((o, cpu) => area.int(o + 0x1fb80n, CURRENT[cpu]));
    assert.equal(await currentTask(image, 0), CURRENT[0]);
    assert.equal(await currentTask(image, 1), CURRENT[1]);
    assert.equal(await currentTaskSource(image), 'current_task');
  });

  test('x86_64 6.2 to 6.14: pcpu_hot.current_task, wherever the member sits', async () => {
    const { image, area } = kernel(RQ_CURR);
    image.setSymbol('pcpu_hot', 0x20000n).setLayout(layout('pcpu_hot', 64, { preempt_count: [8, 4], current_task: [16, 8] }));
    // A stale current_task must lose to pcpu_hot.
    image.setSymbol('current_task', 0x1fb80n);
    OFFSETS.forEach((o, cpu) => {
      area.int(o + 0x20000n + 16n, CURRENT[cpu]);
      area.int(o + 0x1fb80n, 0x5555n);
    });
    assert.equal(await currentTask(image, 1), CURRENT[1]);
    assert.equal(await currentTaskSource(image), 'pcpu_hot.current_task');
  });

  test('arm64: __entry_task, right also while the CPU runs at EL0', async () => {
    const image = new MemoryImage('arm64', 2).setSymbol('__per_cpu_offset', 0xffff8000093a0000n).setSymbol('__entry_task', 0xffff8000094b82c8n);
    const table = window(image, 0xffff8000093a0000n, 0x413a0000n, 0x1000n);
    table.int(0xffff8000093a0008n, 0xffff800016a02000n);
    // 0xffff8000094b82c8 + 0xffff800016a02000 (mod 2^64) = 0xffff00001feba2c8, a linear-map address.
    const lm = window(image, 0xffff00001feba000n, 0x5feba000n, 0x1000n);
    lm.int(0xffff00001feba2c8n, 0xffff000002db9040n);
    assert.equal(await currentTask(image, 1), 0xffff000002db9040n);
    assert.equal(await currentTaskSource(image), '__entry_task');
  });

  test('no per-CPU current at all: rq->curr', async () => {
    const { image } = kernel(RQ_CURR);
    assert.equal(await currentTask(image, 1), RQ_CURR[1]);
    assert.equal(await currentTaskSource(image), 'runqueues.curr');
  });

  test('the probe is made once per target', async () => {
    const { image, area } = kernel(RQ_CURR);
    let lookups = 0;
    const symbol = image.symbol.bind(image);
    image.symbol = async (name: string) => {
      if (name === 'pcpu_hot' || name === 'current_task' || name === '__entry_task') lookups++;
      return symbol(name);
    };
    image.setSymbol('current_task', 0x1fb80n);
    area.int(OFFSETS[0] + 0x1fb80n, CURRENT[0]);
    await currentTask(image, 0);
    await currentTask(image, 0);
    // pcpu_hot and current_task probed once; current_task then looked up by each read.
    assert.equal(lookups, 4);
  });
});
