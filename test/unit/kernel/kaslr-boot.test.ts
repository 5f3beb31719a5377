import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decompressorLandmarks } from '../../../src/kernel/arch/x86_64/bzimage';
import { earlyStopPlan, findImagePhysical, instructionAt, runToSlide, type BootControl, type EarlyStop } from '../../../src/kernel/kaslr-boot';
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
  test('x86_64 without the bzImage: a breakpoint at every 2 MiB slot of the 1 GiB image window, slide 0 first', () => {
    const plan = earlyStopPlan('x86_64', x86);
    assert.ok(plan?.kind === 'every-slide');
    // (1 GiB − 16 MiB − (_end − _text)) / 2 MiB + 1 slots, as find_random_virt_addr() counts them.
    const slots = ((1n << 30n) - 16n * MiB - (0xffffffff83830000n - 0xffffffff81000000n)) / (2n * MiB) + 1n;
    assert.equal(BigInt(plan.addresses.length), slots);
    assert.equal(plan.addresses.length, 484);
    assert.equal(plan.addresses[0], 0xffffffff8304ce41n);
    assert.ok(plan.addresses.every((a, i) => a === 0xffffffff8304ce41n + BigInt(i) * 2n * MiB));
    assert.ok(plan.addresses[plan.addresses.length - 1] < 0xffffffffc0000000n, 'inside the kernel image window');
    assert.equal(earlyStopPlan('x86_64', x86, { stopAt: 'no_such_function' }), undefined);
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

/** A bzImage: setup sectors with the "HdrS" header, then the decompressor with both landmarks. */
function bzImage(copyAt: number, exitAt: number, extraCopy?: number): Buffer {
  const setupSects = 3;
  const b = Buffer.alloc((setupSects + 1) * 512 + 0x20000, 0x90);
  b[0x1f1] = setupSects;
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt32LE(0x100000, 0x214);
  const payload = (setupSects + 1) * 512;
  Buffer.from('fdf348a5fc', 'hex').copy(b, payload + copyAt);
  if (extraCopy !== undefined) Buffer.from('fdf348a5fc', 'hex').copy(b, payload + extraCopy);
  Buffer.from('4c89feffe0', 'hex').copy(b, payload + exitAt);
  return b;
}

/** arch/x86/boot/compressed/head_64.S: `std; rep movsq; cld` and `movq %r15,%rsi; jmp *%rax`, by hand. */
const X86_BYTES = { copy: 'fdf348a5fc', exit: '4c89feffe0', exitJump: 3 };

describe('x86_64 decompressor landmarks', () => {
  test('found by their bytes; the exit is the jmp after movq %r15,%rsi', () => {
    assert.deepEqual(decompressorLandmarks(bzImage(0x2a9, 0x1d042), X86_BYTES), {
      loadAddress: 0x100000n,
      copyOffset: 0x2a9n,
      exitOffset: 0x1d045n,
    });
  });

  test('a second copy sequence in the compressed data past the head is not mistaken for it', () => {
    assert.equal(decompressorLandmarks(bzImage(0x2a9, 0x1d042, 0x1f000), X86_BYTES)?.copyOffset, 0x2a9n);
    assert.equal(decompressorLandmarks(bzImage(0x2a9, 0x1d042, 0x400), X86_BYTES), undefined, 'two in the head: ambiguous');
  });

  test('not a bzImage (an arm64 Image, a vmlinux): no landmarks, and the plan falls back', () => {
    const arm = Buffer.alloc(0x1000);
    arm.write('ARM\x64', 0x38, 'latin1');
    assert.equal(decompressorLandmarks(arm, X86_BYTES), undefined);
    assert.equal(earlyStopPlan('x86_64', x86, { image: arm })?.kind, 'every-slide');
  });

  test('with the bzImage and the pointer table, the plan stops at the decompressor exit', () => {
    const k = { ...x86, symbols: new Map([...x86.symbols, ['sys_call_table', 0xffffffff82000360n]]), fileWords: new Map([['sys_call_table', [0xffffffff8134a5b0n, 0xffffffff8134a6e0n] as const]]) };
    const plan = earlyStopPlan('x86_64', k, { image: bzImage(0x2a9, 0x1d042) });
    assert.ok(plan?.kind === 'decompressor-exit');
    assert.equal(plan.copyAt, 0x1002a9n);
    assert.equal(plan.pointerOffset, 0x1000360n);
    assert.equal(plan.fallback.addresses.length, 484);
  });
});

/**
 * A boot driven by script: each `resume` stops at the first scripted stop whose address has a
 * breakpoint, sets that stop's registers and memory, and reports its CPU. Stands in for QEMU
 * only to reach the driver's branches; test/e2e/kaslr.test.ts runs the plans on QEMU.
 */
class ScriptedBoot implements BootControl {
  readonly breakpoints = new Set<bigint>();
  readonly inserted: bigint[] = [];
  constructor(
    readonly target: MemoryImage,
    private readonly stops: Array<{ at: bigint; registers: Record<string, bigint>; memory?: Array<[bigint, Uint8Array]> }>,
  ) {}
  async breakAt(address: bigint): Promise<void> {
    this.breakpoints.add(address);
    this.inserted.push(address);
  }
  async clearBreakpoints(): Promise<void> {
    this.breakpoints.clear();
  }
  async resume(): Promise<number> {
    const i = this.stops.findIndex((s) => this.breakpoints.has(s.at));
    if (i < 0) throw new Error('the boot ran past every breakpoint');
    const [stop] = this.stops.splice(0, i + 1).slice(-1);
    this.target.setRegisters(0, stop.registers);
    for (const [pa, bytes] of stop.memory ?? []) this.target.writePhysical(pa, bytes);
    return 0;
  }
}

describe('running a plan (scripted stops)', () => {
  const BANNER = Buffer.from('Linux version 6.1.0-50-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1\n');
  const k: LinkedKernel = {
    ...x86,
    symbols: new Map([...x86.symbols, ['sys_call_table', 0xffffffff82000360n]]),
    fileWords: new Map([['sys_call_table', [0xffffffff8134a5b0n, 0xffffffff8134a6e0n] as const]]),
    banner: BANNER,
  };
  const slide = 0x3100_0000n;
  const phys = 0x1600_0000n;
  const u64 = (v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    return b;
  };
  const placed = (): Array<[bigint, Uint8Array]> => [
    [phys + 0x1000360n, Buffer.concat([u64(0xffffffff8134a5b0n + slide), u64(0xffffffff8134a6e0n + slide)])],
    [phys + (0xffffffff8211fa00n - 0xffffffff81000000n), BANNER],
  ];

  test('x86 decompressor exit: two stops before the kernel runs, the slide from the relocated table', async () => {
    const plan = earlyStopPlan('x86_64', k, { image: bzImage(0x2a9, 0x1d042) }) as EarlyStop & { kind: 'decompressor-exit' };
    const image = new MemoryImage('x86_64').addRam(0n, 1n << 30n);
    const boot = new ScriptedBoot(image, [
      { at: 0x1002a9n, registers: { rip: 0x1002a9n, rbx: 0x35ba000n } },
      { at: 0x35ba000n + 0x1d045n, registers: { rip: 0x35ba000n + 0x1d045n, rax: phys }, memory: placed() },
    ]);
    const r = await runToSlide(boot, k, plan);
    assert.equal(r.slide, slide);
    assert.deepEqual(boot.inserted, [0x1002a9n, 0x35ba000n + 0x1d045n]);
    assert.equal(boot.breakpoints.size, 0, 'nothing left behind');
    assert.match(r.steps.join('\n'), /placed the image at physical 0x16000000 and relocated it by 0x31000000/);
  });

  test('x86 decompressor exit where the table does not agree: falls back to every slot, still proved', async () => {
    const plan = earlyStopPlan('x86_64', k, { image: bzImage(0x2a9, 0x1d042) }) as EarlyStop & { kind: 'decompressor-exit' };
    const image = new MemoryImage('x86_64').addRam(0n, 1n << 30n);
    const bad = placed();
    bad[0] = [bad[0][0], Buffer.concat([u64(0xffffffff8134a5b0n + slide), u64(0xdeadn)])];
    const sk = 0xffffffff8304ce41n + slide;
    image.mapVirtual(0xffffffff8211fa00n + slide, phys + (0xffffffff8211fa00n - 0xffffffff81000000n), 0x1000n);
    const boot = new ScriptedBoot(image, [
      { at: 0x1002a9n, registers: { rip: 0x1002a9n, rbx: 0x35ba000n } },
      { at: 0x35ba000n + 0x1d045n, registers: { rip: 0x35ba000n + 0x1d045n, rax: phys }, memory: bad },
      { at: sk, registers: { rip: sk }, memory: placed() },
    ]);
    const r = await runToSlide(boot, k, plan);
    assert.equal(r.slide, slide);
    assert.equal(r.pc, sk);
    assert.equal(boot.inserted.length, 2 + 484);
    assert.match(r.steps.join('\n'), /relocated pointers disagree/);
  });

  test('a vmlinux of another build: the banner refuses the slide', async () => {
    const plan = earlyStopPlan('x86_64', k) as EarlyStop & { kind: 'every-slide' };
    const image = new MemoryImage('x86_64').addRam(0n, 1n << 30n);
    const sk = 0xffffffff8304ce41n + slide;
    image.mapVirtual(0xffffffff8211fa00n + slide, 0x100000n, 0x1000n);
    const boot = new ScriptedBoot(image, [{ at: sk, registers: { rip: sk }, memory: [[0x100000n, Buffer.from('Linux version 5.10.0 (someone else)')]] }]);
    await assert.rejects(runToSlide(boot, k, plan), /not this kernel's/);
  });
});
