import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { FaultError } from '../../../src/kernel/target';
import { writeChain } from './page-table-builder';

const bytes = (...b: number[]) => Uint8Array.from(b);

describe('MemoryImage physical memory', () => {
  test('reads back what was written, across a 4 KiB frame boundary', async () => {
    const image = new MemoryImage('x86_64').writePhysical(0x1ffcn, bytes(1, 2, 3, 4, 5, 6, 7, 8));
    assert.deepEqual(await image.readPhysical(0x1ffen, 4), bytes(3, 4, 5, 6));
  });

  test('writeU64 is little-endian and takes negative values as two’s complement', async () => {
    const image = new MemoryImage('arm64').writeU64(0x40000000n, 0x0102030405060708n).writeU64(0x40000008n, -1n);
    assert.deepEqual(await image.readPhysical(0x40000000n, 9), bytes(8, 7, 6, 5, 4, 3, 2, 1, 0xff));
  });

  test('declared RAM reads as zeros; anything else is a FaultError naming the address', async () => {
    const image = new MemoryImage('x86_64').addRam(0x10000n, 0x800n);
    assert.deepEqual(await image.readPhysical(0x107fcn, 4), bytes(0, 0, 0, 0));
    await assert.rejects(image.readPhysical(0x107fcn, 8), (e: unknown) =>
      e instanceof FaultError && e.address === 0x107fcn && e.length === 8 && /no memory at physical 0x10800/.test(e.message));
    await assert.rejects(image.readPhysical(0xffff_ffff_ffff_fffcn, 8), FaultError);
    await assert.rejects(image.readPhysical(0x5000n, 1), FaultError);
  });

  test('every read is recorded and counted', async () => {
    const image = new MemoryImage('x86_64').addRam(0n, 0x1000n).mapVirtual(0xffff888000000000n, 0n, 0x1000n);
    await image.readPhysical(0x10n, 8);
    await image.readVirtual(0xffff888000000020n, 4);
    await image.readPhysical(0x18n, 8);
    assert.equal(image.count('physical'), 2);
    assert.equal(image.count('virtual'), 1);
    assert.deepEqual(image.reads[1], { space: 'virtual', address: 0xffff888000000020n, length: 4 });
    image.resetReads();
    assert.equal(image.reads.length, 0);
  });
});

describe('MemoryImage virtual memory', () => {
  test('mapped ranges, and a read that spans two of them', async () => {
    const image = new MemoryImage('x86_64')
      .writePhysical(0x5000ffen, bytes(0xaa, 0xbb))
      .writePhysical(0x9000000n, bytes(0xcc, 0xdd))
      .mapVirtual(0xffffc90000000000n, 0x5000000n, 0x1000n)
      .mapVirtual(0xffffc90000001000n, 0x9000000n, 0x1000n);
    assert.deepEqual(await image.readVirtual(0xffffc90000000ffen, 4), bytes(0xaa, 0xbb, 0xcc, 0xdd));
    await assert.rejects(image.readVirtual(0xffffc90000002000n, 1), /no mapping for virtual 0xffffc90000002000/);
  });

  test('translation through the image’s own page tables, without counting the walk', async () => {
    const jiffies = 0xffffffff82a079c0n;
    const image = new MemoryImage('x86_64').setRegisters(0, { cr3: 0x2a10000n, cr4: 0x6b0n });
    writeChain(image, jiffies, [
      { table: 0x2a10000n, shift: 39, bits: 9, entry: 0x2a15067n },
      { table: 0x2a15000n, shift: 30, bits: 9, entry: 0x2a16063n },
      { table: 0x2a16000n, shift: 21, bits: 9, entry: 0x8000000002a001e3n },
    ]);
    image.writeU64(0x2a079c0n, 0xfffedfe7n).translateThroughPageTables();
    assert.deepEqual(await image.readVirtual(jiffies, 4), bytes(0xe7, 0xdf, 0xfe, 0xff));
    assert.deepEqual(image.reads, [{ space: 'virtual', address: jiffies, length: 4 }]);
    await assert.rejects(image.readVirtual(0xffffffffc0000000n, 8), /not present/);
  });
});

describe('MemoryImage registers, symbols, layouts', () => {
  test('registers per CPU; names the CPU lacks are absent, not zero', async () => {
    const image = new MemoryImage('arm64', 2).setRegisters(1, { TTBR1_EL1: 0x2e00004157b000n });
    assert.equal(await image.cpus(), 2);
    assert.deepEqual(await image.registers(1, ['TTBR1_EL1', 'TCR_EL1']), new Map([['TTBR1_EL1', 0x2e00004157b000n]]));
    assert.deepEqual(await image.registers(0, ['TTBR1_EL1']), new Map());
    await assert.rejects(image.registers(2, ['TTBR1_EL1']), RangeError);
  });

  test('symbols and struct layouts', async () => {
    const layout = {
      name: 'page', size: 64, members: new Map([['flags', { offset: 0, size: 8, type: 'unsigned long' }]]),
    };
    const image = new MemoryImage('x86_64').setSymbol('jiffies', 0xffffffff82a079c0n).setLayout(layout);
    assert.equal(await image.symbol('jiffies'), 0xffffffff82a079c0n);
    assert.equal(await image.symbol('nope'), undefined);
    assert.equal(await image.layout('page'), layout);
    assert.equal(await image.layout('nope'), undefined);
  });
});
