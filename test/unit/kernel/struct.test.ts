import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { onlineCpus } from '../../../src/kernel/cpumask';
import { DebugInfoError, cString, readStruct, structLayout, symbolAddress, unsignedAt } from '../../../src/kernel/struct';
import { layout, window } from './planted';

describe('struct reads', () => {
  const l = layout('demo', 32, { a: [4, 4], b: [8, 8], c: [16, 2], list: [16, 16] });
  const image = new MemoryImage('x86_64').setLayout(l).setSymbol('demo', 0xffff888000001000n);
  const w = window(image, 0xffff888000001000n, 0x1000n, 0x1000n);
  w.int(0xffff888000001004n, -2, 4);
  w.int(0xffff888000001008n, 0xffffffff81000000n);
  w.int(0xffff888000001010n, 0x8001, 2);

  test('one read of the covering span; signed, unsigned and first-word access', async () => {
    image.resetReads();
    const v = await readStruct(image, 0xffff888000001000n, l, ['a', 'b', 'list']);
    assert.deepEqual(image.reads, [{ space: 'virtual', address: 0xffff888000001004n, length: 28 }]);
    assert.equal(v.signed('a'), -2n);
    assert.equal(v.unsigned('a'), 0xfffffffen);
    assert.equal(v.unsigned('b'), 0xffffffff81000000n);
    assert.equal(v.firstWord('list'), 0x8001n);
  });

  test('asking for a member outside the read, or one the struct lacks, fails loudly', async () => {
    const v = await readStruct(image, 0xffff888000001000n, l, ['b']);
    assert.throws(() => v.unsigned('a'), /not part of the read/);
    assert.throws(() => v.unsigned('zz'), DebugInfoError);
    await assert.rejects(structLayout(image, 'nope'), /no struct nope/);
    await assert.rejects(symbolAddress(image, 'nope'), /no symbol nope/);
  });

  test('helpers: little-endian integers and C strings', () => {
    assert.equal(unsignedAt(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 0x80]), 0, 8), 0x8007060504030201n);
    assert.throws(() => unsignedAt(new Uint8Array(4), 2, 4), RangeError);
    assert.equal(cString(Uint8Array.from([0x73, 0x68, 0, 0x78])), 'sh');
  });
});

describe('cpu_online_mask', () => {
  test('bits of __cpu_online_mask, across a word boundary', async () => {
    const image = new MemoryImage('x86_64').setSymbol('__cpu_online_mask', 0xffffffff82a0c000n);
    const w = window(image, 0xffffffff82a0c000n, 0x2a0c000n, 0x1000n);
    w.int(0xffffffff82a0c000n, (1n << 0n) | (1n << 2n) | (1n << 63n));
    w.int(0xffffffff82a0c008n, 1n);
    assert.deepEqual([...(await onlineCpus(image, 65))!], [0, 2, 63, 64]);
    assert.deepEqual([...(await onlineCpus(image, 2))!], [0]);
  });

  test('no mask symbol: unknown rather than an error', async () => {
    assert.equal(await onlineCpus(new MemoryImage('arm64'), 2), undefined);
  });
});
