import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { preemptCount, splitPreemptCount } from '../../../src/kernel/preempt';
import { layout, window } from './planted';

test('the count splits by include/linux/preempt.h: 8 preempt, 8 softirq, 4 hardirq, 4 NMI bits', () => {
  // In a hardirq (HARDIRQ_OFFSET 0x10000) that interrupted a softirq (0x100) with preemption off twice.
  assert.deepEqual(splitPreemptCount(0x10102), { count: 0x10102, preempt: 2, softirq: 1, hardirq: 1, nmi: 0 });
  assert.deepEqual(splitPreemptCount(0x100000), { count: 0x100000, preempt: 0, softirq: 0, hardirq: 0, nmi: 1 });
});

describe('x86_64', () => {
  const table = 0xffffffff8239cb60n;
  const offsets = [0xffff88801f400000n, 0xffff88801f500000n];

  function image(withPcpuHot: boolean): MemoryImage {
    const img = new MemoryImage('x86_64', 2).setSymbol('__per_cpu_offset', table);
    const w = window(img, table, 0x239cb60n, 0x1000n);
    offsets.forEach((o, cpu) => w.int(table + BigInt(cpu) * 8n, o));
    const areas = window(img, offsets[0], 0x1f400000n, 0x200000n);
    if (withPcpuHot) {
      img.setSymbol('pcpu_hot', 0x1f000n).setLayout(layout('pcpu_hot', 64, { current_task: [0, 8], preempt_count: [8, 4, 'int'] }));
      // CPU 0: need-resched clear (bit 31 set, inverted) and one preempt_disable(); CPU 1: in a softirq.
      areas.int(offsets[0] + 0x1f008n, 0x80000001, 4);
      areas.int(offsets[1] + 0x1f008n, 0x00000100, 4);
    } else {
      img.setSymbol('__preempt_count', 0x1e000n);
      areas.int(offsets[0] + 0x1e000n, 0x80000000, 4);
      areas.int(offsets[1] + 0x1e000n, 0x00010000, 4);
    }
    return img;
  }

  test('6.1: per-CPU __preempt_count, without the inverted need-resched bit', async () => {
    const img = image(false);
    assert.equal((await preemptCount(img, 0, 0n)).count, 0);
    assert.deepEqual(await preemptCount(img, 1, 0n), { count: 0x10000, preempt: 0, softirq: 0, hardirq: 1, nmi: 0 });
  });

  test('6.2+: pcpu_hot.preempt_count', async () => {
    const img = image(true);
    assert.equal((await preemptCount(img, 0, 0n)).preempt, 1);
    assert.equal((await preemptCount(img, 1, 0n)).softirq, 1);
  });
});

test('arm64: current->thread_info.preempt_count, low word only', async () => {
  const task = 0xffff000002a80000n;
  const img = new MemoryImage('arm64', 1)
    .setLayout(layout('task_struct', 4096, { thread_info: [0, 24], comm: [1880, 16] }))
    .setLayout(layout('thread_info', 24, { flags: [0, 8], preempt_count: [8, 8, 'u64'], cpu: [16, 4] }));
  const w = window(img, task, 0x42a80000n, 0x1000n);
  // need_resched set in the high word; two preempt_disable()s in the count.
  w.int(task + 8n, 0x0000000100000002n, 8);
  assert.deepEqual(await preemptCount(img, 0, task), { count: 2, preempt: 2, softirq: 0, hardirq: 0, nmi: 0 });
});
