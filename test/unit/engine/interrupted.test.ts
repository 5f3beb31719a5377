import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame } from '../../../src/gdb/mi/stack';
import { describeInterrupted, handlerBelowStub, modeOf } from '../../../src/engine/interrupted';

const frames = (...funcs: string[]): Frame[] => funcs.map((func, level) => ({ level, func, address: 0xffffffff81000000n + BigInt(level) }) as Frame);

test('x86 mode comes from CS.RPL, arm64 from the EL bits of PSTATE', () => {
  assert.equal(modeOf('x86_64', 0x33n), 'user');
  assert.equal(modeOf('x86_64', 0x10n), 'kernel');
  assert.equal(modeOf('arm64', 0x80001000n), 'user'); // EL0t
  assert.equal(modeOf('arm64', 0x60000005n), 'kernel'); // EL1h
  assert.equal(modeOf('arm64', 0x3c4n), 'kernel'); // EL1t with DAIF set
});

test('the handler is the frame the entry stub called', () => {
  assert.equal(handlerBelowStub('x86_64', frames('do_sys_openat2', '__x64_sys_openat', 'do_syscall_64', 'entry_SYSCALL_64_after_hwframe')), 2);
  assert.equal(handlerBelowStub('arm64', frames('do_sys_openat2', 'el0_svc', 'el0t_64_sync_handler', 'el0t_64_sync')), 2);
  assert.equal(handlerBelowStub('x86_64', frames('default_idle', 'sysvec_apic_timer_interrupt', 'asm_sysvec_apic_timer_interrupt')), 1);
});

test('stacks that start a context of their own, or end elsewhere, have none', () => {
  assert.equal(handlerBelowStub('x86_64', frames('worker_thread', 'kthread', 'ret_from_fork')), undefined);
  assert.equal(handlerBelowStub('arm64', frames('cpu_startup_entry', 'secondary_start_kernel', '__secondary_switched')), undefined);
  assert.equal(handlerBelowStub('x86_64', frames('do_sys_openat2', '__x64_sys_openat')), undefined);
  assert.equal(handlerBelowStub('x86_64', frames('entry_SYSCALL_64')), undefined);
});

test('the label names user space with its pc, sp and pt_regs', () => {
  const text = describeInterrupted({ regs: 0xffffc90000637f58n, mode: 'user', pc: 0x4a1b2cn, sp: 0x7ffc12345678n, stub: 'entry_SYSCALL_64' });
  assert.equal(text, 'user space: pc 0x4a1b2c sp 0x7ffc12345678 (pt_regs 0xffffc90000637f58)');
  assert.match(describeInterrupted({ regs: 0x1000n, mode: 'kernel', pc: 1n, sp: 2n, stub: 'el1h_64_irq' }), /^interrupted kernel code/);
});

test('an unwind that ended at the C handler, one frame short of its stub, still has its pt_regs', () => {
  const early = frames('scheduler_tick', 'update_process_times', '__sysvec_apic_timer_interrupt', 'sysvec_apic_timer_interrupt');
  assert.equal(handlerBelowStub('x86_64', early, true), 3);
  // A page of frames that merely stops at a handler is not the end of the stack.
  assert.equal(handlerBelowStub('x86_64', early, false), undefined);
  assert.equal(handlerBelowStub('arm64', frames('gic_handle_irq', 'el1h_64_irq_handler'), true), 1);
  assert.equal(handlerBelowStub('x86_64', frames('do_sys_openat2', '__x64_sys_openat'), true), undefined);
});
