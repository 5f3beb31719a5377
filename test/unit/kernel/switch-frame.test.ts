import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { arm64SwitchFrame } from '../../../src/kernel/arch/arm64/switch-frame';
import { taskArchOps } from '../../../src/kernel/arch/task-ops';
import { x86_64SwitchFrame } from '../../../src/kernel/arch/x86_64/switch-frame';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { layout, window } from './planted';

// 6.1 layouts (ptype/o of the fixtures' vmlinux): inactive_task_frame is 7 words on x86_64;
// cpu_context is 13 words at task_struct offset 0xbc0 on arm64.
const x86Task = layout('task_struct', 9728, { thread: [0x14c0, 0x100, 'struct thread_struct'], 'thread.sp': [0x14d8, 8] });
const frameLayout = layout('inactive_task_frame', 56, { r15: [0, 8], r14: [8, 8], r13: [16, 8], r12: [24, 8], bx: [32, 8], bp: [40, 8], ret_addr: [48, 8] });
const armTask = layout('task_struct', 4160, { thread: [0xbc0, 0x480, 'struct thread_struct'], 'thread.cpu_context': [0xbc0, 104, 'struct cpu_context'] });
const cpuContext = layout('cpu_context', 104, {
  ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`x${19 + i}`, [i * 8, 8] as const])),
  fp: [80, 8],
  sp: [88, 8],
  pc: [96, 8],
});

const TASK = 0xffff888005638000n;
const STACK = 0xffffc90000010000n;

function x86(sp: bigint) {
  const image = new MemoryImage('x86_64').setLayout(x86Task).setLayout(frameLayout);
  const slab = window(image, TASK, 0x5638000n, 0x4000n);
  const stack = window(image, STACK, 0x7000000n, 0x4000n);
  slab.int(TASK + 0x14d8n, sp);
  return { image, stack };
}

describe('x86_64: inactive_task_frame at thread.sp', () => {
  test('callee-saved registers, pc = ret_addr, sp past the frame; two reads', async () => {
    const sp = STACK + 0x3e00n;
    const { image, stack } = x86(sp);
    [0x15n, 0x14n, 0x13n, 0x12n, 0xbbn, STACK + 0x3f00n, 0xffffffff81e3c5a7n].forEach((v, i) => stack.int(sp + BigInt(i) * 8n, v));
    const f = await x86_64SwitchFrame(image, TASK);
    assert.equal(f.pc, 0xffffffff81e3c5a7n);
    assert.equal(f.sp, sp + 56n);
    assert.deepEqual(Object.fromEntries(f.registers), {
      r15: 0x15n, r14: 0x14n, r13: 0x13n, r12: 0x12n, rbx: 0xbbn, rbp: STACK + 0x3f00n, rip: 0xffffffff81e3c5a7n, rsp: sp + 56n,
    });
    assert.deepEqual(image.reads.map((r) => r.length), [8, 56]);
  });

  test('the frame size is the DWARF one, not a constant', async () => {
    const sp = STACK + 0x3e00n;
    const { image, stack } = x86(sp);
    // A kernel whose frame has one more word before ret_addr (as 32-bit x86 has).
    image.setLayout(layout('inactive_task_frame', 64, { r15: [0, 8], r14: [8, 8], r13: [16, 8], r12: [24, 8], bx: [32, 8], bp: [40, 8], flags: [48, 8], ret_addr: [56, 8] }));
    stack.int(sp + 56n, 0xffffffff81000010n);
    const f = await x86_64SwitchFrame(image, TASK);
    assert.equal(f.pc, 0xffffffff81000010n);
    assert.equal(f.sp, sp + 64n);
  });

  test('thread.sp that is no stack address, or an unmapped stack, is a clear error', async () => {
    await assert.rejects(x86_64SwitchFrame(x86(0n).image, TASK), /task 0xffff888005638000: no usable saved context: thread.sp 0x0 is not a kernel stack address/);
    await assert.rejects(x86_64SwitchFrame(x86(0xffffc90000900000n).image, TASK), /cannot read inactive_task_frame at 0xffffc90000900000/);
  });

  test('a ret_addr that is not kernel text (a task caught mid-exit) is refused', async () => {
    const sp = STACK + 0x3e00n;
    const { image } = x86(sp);
    await assert.rejects(x86_64SwitchFrame(image, TASK), /ret_addr 0x0 is not kernel text/);
  });
});

describe('arm64: thread.cpu_context', () => {
  function arm() {
    const image = new MemoryImage('arm64').setLayout(armTask).setLayout(cpuContext);
    const task = 0xffff000002a40000n;
    const slab = window(image, task, 0x42a40000n, 0x2000n);
    return { image, slab, task };
  }

  test('x19-x28, fp, sp, pc in one read; lr = pc', async () => {
    const { image, slab, task } = arm();
    const ctx = task + 0xbc0n;
    for (let i = 0; i < 10; i++) slab.int(ctx + BigInt(i) * 8n, 0x1900n + BigInt(i));
    slab.int(ctx + 80n, 0xffff80000a0d3d40n);
    slab.int(ctx + 88n, 0xffff80000a0d3d40n);
    slab.int(ctx + 96n, 0xffff800008013c6cn);
    const f = await arm64SwitchFrame(image, task);
    assert.equal(f.pc, 0xffff800008013c6cn);
    assert.equal(f.sp, 0xffff80000a0d3d40n);
    assert.equal(f.registers.get('x19'), 0x1900n);
    assert.equal(f.registers.get('x28'), 0x1909n);
    assert.equal(f.registers.get('x29'), 0xffff80000a0d3d40n);
    assert.equal(f.registers.get('x30'), 0xffff800008013c6cn);
    assert.equal(f.registers.get('pc'), 0xffff800008013c6cn);
    assert.equal(f.registers.has('x0'), false);
    assert.deepEqual(image.reads.map((r) => [r.address, r.length]), [[ctx, 104]]);
  });

  test('an empty context (a task never switched out) is refused', async () => {
    const { image, task } = arm();
    await assert.rejects(arm64SwitchFrame(image, task), /cpu_context.sp 0x0 is not a kernel stack address/);
  });

  test('the dispatcher picks the reader by the target’s arch', async () => {
    const { image, slab, task } = arm();
    slab.int(task + 0xbc0n + 88n, 0xffff80000a0d3d40n);
    slab.int(task + 0xbc0n + 96n, 0xffff800008013c6cn);
    assert.equal((await taskArchOps(image.arch).switchFrame(image, task)).pc, 0xffff800008013c6cn);
    assert.equal(taskArchOps('x86_64').pc, 'rip');
  });
});
