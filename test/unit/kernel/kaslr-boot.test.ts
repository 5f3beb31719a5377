import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { earlyStopPlan, findImagePhysical, instructionAt } from '../../../src/kernel/kaslr-boot';
import type { LinkedKernel } from '../../../src/kernel/kaslr';
import { MemoryImage } from '../../../src/kernel/memory-image';

const MiB = 1n << 20n;

// Debian 6.1.0-50 System.map / symbol sizes (readelf -s).
const x86: LinkedKernel = {
  symbols: new Map([
    ['_text', 0xffffffff81000000n],
    ['_etext', 0xffffffff81e01ef2n],
    ['_end', 0xffffffff83830000n],
    ['linux_banner', 0xffffffff8211fa00n],
    ['start_kernel', 0xffffffff8304ce41n],
  ]),
  banner: new Uint8Array(),
};
const arm64: LinkedKernel = {
  symbols: new Map([
    ['_text', 0xffff800008000000n],
    ['_etext', 0xffff800008bd0000n],
    ['_end', 0xffff800009aa0000n],
    ['linux_banner', 0xffff800008d22cc8n],
    ['__primary_switch', 0xffff800008bcb484n],
    ['__primary_switched', 0xffff800009388fd0n],
  ]),
  sizes: new Map([['__primary_switch', 96n]]),
  banner: new Uint8Array(),
};

describe('early stop on a randomized boot', () => {
  test('x86_64: a breakpoint at every 2 MiB slot of the 1 GiB image window, slide 0 first', () => {
    const plan = earlyStopPlan('x86_64', x86);
    assert.ok(plan?.kind === 'every-slide');
    // (1 GiB − 16 MiB − (_end − _text)) / 2 MiB + 1 slots, as find_random_virt_addr() counts them.
    const slots = ((1n << 30n) - 16n * MiB - (0xffffffff83830000n - 0xffffffff81000000n)) / (2n * MiB) + 1n;
    assert.equal(BigInt(plan.addresses.length), slots);
    assert.equal(plan.addresses.length, 484);
    assert.equal(plan.addresses[0], 0xffffffff8304ce41n);
    assert.ok(plan.addresses.every((a, i) => a === 0xffffffff8304ce41n + BigInt(i) * 2n * MiB));
    assert.ok(plan.addresses[plan.addresses.length - 1] < 0xffffffffc0000000n, 'inside the kernel image window');
    assert.equal(earlyStopPlan('x86_64', x86, 'no_such_function'), undefined);
  });

  test('arm64: the br x8 at the end of __primary_switch, by its offset in the image', () => {
    const plan = earlyStopPlan('arm64', arm64);
    assert.deepEqual(plan, {
      kind: 'entry-branch',
      offset: 0xbcb4e0n, // QEMU loads the Image at 0x40200000: the breakpoint goes to 0x40dcb4e0
      instruction: 0xd61f0100,
      register: 'x8',
      target: 0xffff800009388fd0n,
      imageAlign: 2n * MiB,
    });
    const noSize = { ...arm64, sizes: new Map<string, bigint>() };
    assert.equal(earlyStopPlan('arm64', noSize), undefined, 'without the function size the branch cannot be placed');
  });

  test('the image is found at reset by its head bytes, at a 2 MiB boundary above the reset pc', async () => {
    const head = Buffer.from('4d5a40fa3f9e3214000000000000000000000000000000000a00000000000000', 'hex');
    const image = new MemoryImage('arm64').addRam(0x4000_0000n, 256n * MiB);
    image.writePhysical(0x4000_0000n, Buffer.from('c0000058e1031faae2031faae3031faa', 'hex')); // QEMU's boot stub
    image.writePhysical(0x4020_0000n, head);
    image.writePhysical(0x4020_0000n + 0xbcb4e0n, Buffer.from([0x00, 0x01, 0x1f, 0xd6]));
    assert.equal(await findImagePhysical(image, head, 0x4000_0000n, 2n * MiB), 0x4020_0000n);
    assert.equal(await instructionAt(image, 0x4020_0000n + 0xbcb4e0n), 0xd61f0100);
    const other = Buffer.from(head);
    other[3] ^= 1;
    assert.equal(await findImagePhysical(image, other, 0x4000_0000n, 2n * MiB, 8), undefined);
    assert.equal(await findImagePhysical(image, other, 0x4000_0000n, 2n * MiB, 500), undefined, 'reads past RAM end the search quietly');
  });
});
