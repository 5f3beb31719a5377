import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DebugInfoSnapshot } from '../../../src/kernel/debug-info-snapshot';

// System.map of the x86_64 fixture kernel: init_task in the kernel image, current_task a per-CPU
// offset (the .data..percpu section is linked at 0).
const linked = new Map<string, bigint>([
  ['init_task', 0xffffffff82a14940n],
  ['current_task', 0x1fbc0n],
]);
const source = {
  arch: 'x86_64' as const,
  symbol: async (name: string) => linked.get(name),
  layout: async () => undefined,
};

test('a KASLR slide moves the kernel-half symbols of a snapshot, not the per-CPU offsets linked at 0', async () => {
  const snapshot = await DebugInfoSnapshot.record(source, async (t) => {
    await t.symbol('init_task');
    await t.symbol('current_task');
  });
  snapshot.relocate(0x2e000000n);
  assert.equal(await snapshot.symbol('init_task'), 0xffffffff82a14940n + 0x2e000000n);
  assert.equal(await snapshot.symbol('current_task'), 0x1fbc0n);
  await assert.rejects(snapshot.symbol('jiffies'), /not looked up/);
});
