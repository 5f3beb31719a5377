import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { perCpu, perCpuOffset, perCpuOffsets, perCpuPtr } from '../../../src/kernel/percpu';
import { readU64 } from '../../../src/kernel/struct';
import { window } from './planted';

describe('per-CPU variables, x86_64 layout (zero-based keys, KALLSYMS_ABSOLUTE_PERCPU)', () => {
  // Values measured on the 6.1 fixture kernel (nokaslr, 512M).
  const table = 0xffffffff8239cb60n;
  const offsets = [0xffff88801f400000n, 0xffff88801f500000n];
  const moduleKey = 0x34000n; // kdap_test_percpu as /proc/kallsyms shows it
  const image = new MemoryImage('x86_64', 2).setSymbol('__per_cpu_offset', table).setSymbol('runqueues', 0x31980n);
  const image0 = window(image, table, 0x239cb60n, 0x1000n);
  offsets.forEach((o, cpu) => image0.int(table + BigInt(cpu) * 8n, o));
  const areas = window(image, 0xffff88801f400000n, 0x1f400000n, 0x200000n);
  offsets.forEach((o, cpu) => areas.int(o + moduleKey, 0x6b640000 + cpu));

  test('perCpuOffset reads __per_cpu_offset[cpu]', async () => {
    assert.equal(await perCpuOffset(image, 0), offsets[0]);
    assert.equal(await perCpuOffset(image, 1), offsets[1]);
  });

  test('perCpuOffsets reads the whole array in one read', async () => {
    image.resetReads();
    assert.deepEqual(await perCpuOffsets(image, 2), offsets);
    assert.deepEqual(image.reads, [{ space: 'virtual', address: table, length: 16 }]);
  });

  test('perCpuPtr adds the offset to the key: a module variable planted per CPU reads back', async () => {
    for (const cpu of [0, 1]) {
      const ptr = await perCpuPtr(image, moduleKey, cpu);
      assert.equal(ptr, offsets[cpu] + moduleKey);
      assert.equal(await readU64(image, ptr), BigInt(0x6b640000 + cpu));
    }
  });

  test('perCpu looks the symbol up', async () => {
    assert.equal(await perCpu(image, 'runqueues', 1), 0xffff88801f531980n);
    await assert.rejects(perCpu(image, 'no_such_var', 0), /no symbol no_such_var/);
  });
});

describe('per-CPU variables, arm64 layout (keys inside the per-CPU section)', () => {
  const table = 0xffff8000093a0000n;
  const offsets = [0xffff8000169e4000n, 0xffff800016a02000n];
  const image = new MemoryImage('arm64', 2).setSymbol('__per_cpu_offset', table).setSymbol('runqueues', 0xffff8000094cba40n);
  const w = window(image, table, 0x413a0000n, 0x1000n);
  offsets.forEach((o, cpu) => w.int(table + BigInt(cpu) * 8n, o));

  test('key + offset wraps around 2^64 into the linear map', async () => {
    // Sums computed outside the code under test.
    assert.equal(await perCpu(image, 'runqueues', 0), 0xffff00001feafa40n);
    assert.equal(await perCpu(image, 'runqueues', 1), 0xffff00001fecda40n);
  });
});

describe('a kernel without SMP', () => {
  test('has no __per_cpu_offset: one copy, offset 0', async () => {
    const image = new MemoryImage('x86_64').setSymbol('runqueues', 0xffffffff82a31980n);
    assert.equal(await perCpuOffset(image, 0), 0n);
    assert.deepEqual(await perCpuOffsets(image, 1), [0n]);
    assert.equal(await perCpu(image, 'runqueues', 0), 0xffffffff82a31980n);
    assert.equal(image.reads.length, 0);
  });
});
