/**
 * The task layer's debug info recorded when first needed: a lookup inside a packet before it is
 * recorded fails at once (gdb could not answer then) and starts the recording; callers with gdb
 * idle wait for it; KASLR slides told before or after the recording land on the symbols alike.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DeferredDebugInfo } from '../../../src/engine/deferred-debug-info';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { DebugInfoError } from '../../../src/kernel/struct';
import type { Target } from '../../../src/kernel/target';

const INIT_TASK = 0xffffffff82a1aa40n;
const PER_CPU_VAR = 0x1fb80n;

/** A probe that looks up what a task walk would, counting how often the source is asked. */
function counted() {
  const image = new MemoryImage('x86_64').setSymbol('init_task', INIT_TASK).setSymbol('current_task', PER_CPU_VAR);
  let asked = 0;
  const source = () => ({
    arch: image.arch,
    symbol: async (name: string) => {
      asked++;
      return image.symbol(name);
    },
    layout: (name: string) => image.layout(name),
  });
  const probe = async (t: Target) => {
    await t.symbol('init_task');
    await t.symbol('current_task');
    await t.symbol('no_such_symbol');
  };
  return { source, probe, asked: () => asked };
}

const noMemory = {
  readVirtual: () => Promise.reject(new Error('no memory')),
  readPhysical: () => Promise.reject(new Error('no memory')),
  registers: () => Promise.reject(new Error('no memory')),
  cpus: async () => 1,
};

describe('DeferredDebugInfo', () => {
  test('nothing is recorded until needed; a lookup before then fails at once and starts it', async () => {
    const c = counted();
    const info = new DeferredDebugInfo(c.source, [c.probe]);
    const target = info.withMemory(noMemory);
    assert.equal(c.asked(), 0);
    await assert.rejects(target.symbol('init_task'), DebugInfoError);
    await info.ready();
    assert.equal(c.asked(), 3);
    assert.equal(await target.symbol('init_task'), INIT_TASK);
    assert.equal(await target.symbol('no_such_symbol'), undefined);
    await info.ready();
    assert.equal(c.asked(), 3, 'recorded once');
  });

  test('a slide told before the recording and one told after both move kernel symbols, not per-CPU offsets', async () => {
    const c = counted();
    const info = new DeferredDebugInfo(c.source, [c.probe]);
    info.relocate(0x1000000n);
    await info.ready();
    info.relocate(0x200000n);
    const target = info.withMemory(noMemory);
    assert.equal(await target.symbol('init_task'), INIT_TASK + 0x1200000n);
    assert.equal(await target.symbol('current_task'), PER_CPU_VAR);
  });

  test('a failed recording is tried again at the next need', async () => {
    let fail = true;
    const image = new MemoryImage('x86_64').setSymbol('init_task', INIT_TASK);
    const info = new DeferredDebugInfo(
      () => ({ arch: image.arch, symbol: async (n: string) => (fail ? Promise.reject(new Error('gdb went away')) : image.symbol(n)), layout: (n: string) => image.layout(n) }),
      [async (t: Target) => t.symbol('init_task')],
    );
    await assert.rejects(info.ready(), /gdb went away/);
    fail = false;
    await info.ready();
    assert.equal(await info.withMemory(noMemory).symbol('init_task'), INIT_TASK);
  });
});
