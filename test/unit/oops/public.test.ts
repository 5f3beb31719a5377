/**
 * Crash logs published by others (kernel docs, syzbot, mailing lists, bug reports); sources in
 * test/fixtures/logs/README.md. Frame counts were checked against an independent grep of each
 * file, the rest read off the logs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { refText } from '../../../src/oops/json';
import type { Report } from '../../../src/oops/types';
import { frameLines, parseFixture } from './helpers';

type Summary = [kind: Report['kind'], line: number, frames: number, arch: Report['arch']];

function summary(file: string): Summary[] {
  return parseFixture(`public/${file}`).reports.map((r) => [r.kind, r.line, r.frames.length, r.arch]);
}

function only(file: string): Report {
  const log = parseFixture(`public/${file}`);
  assert.equal(log.reports.length, 1, log.reports.map((r) => r.title).join('\n'));
  return log.reports[0];
}

describe('kernel documentation examples', () => {
  it('bug-hunting.rst: i386 WARNING, all frames unreliable, stack words are not frames', () => {
    const r = only('docs-bug-hunting-i386-warning.log');
    assert.deepEqual([r.kind, r.startLine, r.line, r.endLine, r.arch], ['warning', 1, 2, 33, 'i386']);
    assert.deepEqual([r.cpu, r.pid, r.comm, r.taint], [1, 28102, 'rmmod', 'PWCO']);
    assert.equal(r.modules.length, 15);
    assert.equal(r.modules[0], 'dvb_usb_gp8psk');
    assert.equal(r.frames.length, 23);
    assert.ok(r.frames.every((f) => !f.reliable));
    assert.equal(r.frames[0].address, 0xc12ba080n);
    assert.deepEqual(
      frameLines(r).filter((f) => f.endsWith(']')),
      [
        '16: ? gp8psk_fe_set_frontend+0x460/0x460 [dvb_usb_gp8psk]',
        '18: ? dvb_usb_adapter_frontend_exit+0x3a/0x70 [dvb_usb]',
        '19: ? dvb_usb_exit+0x2f/0xd0 [dvb_usb]',
        '21: ? dvb_usb_device_exit+0x2a/0x50 [dvb_usb]',
      ],
    );
    assert.ok(!r.frames.some((f) => f.line >= 6 && f.line <= 8), 'raw stack words');
  });

  it('kasan.rst: three traces in their sections, user RIP is a register', () => {
    const r = only('docs-kasan-slab-out-of-bounds.log');
    assert.deepEqual([r.kind, r.startLine, r.line, r.endLine], ['kasan', 1, 2, 70]);
    assert.deepEqual([r.pid, r.comm, r.taint], [2760, 'insmod', '']);
    const bySection = r.sections.filter((s) => s.frames.length).map((s) => [s.name, s.frames.length]);
    assert.deepEqual(bySection, [
      ['Call Trace', 13],
      ['Allocated by task 2760', 12],
      ['Freed by task 815', 7],
    ]);
    assert.equal(refText(r.frames[4]), 'kmalloc_oob_right+0xa8/0xbc [test_kasan]');
    assert.equal(r.pc?.segment, '0033');
    assert.ok(!r.frames.some((f) => f.line === 21));
  });

  it('kfence.rst: four reports split by ===== lines, task line after the frames', () => {
    assert.deepEqual(
      parseFixture('public/docs-kfence-reports.log').reports.map((r) => [r.kind, r.startLine, r.line, r.endLine, r.frames.length, r.pid]),
      [
        ['kfence', 1, 2, 28, 16, 109],
        ['kfence', 29, 30, 56, 16, 111],
        ['kfence', 57, 58, 77, 11, 120],
        ['kfence', 78, 79, 90, 5, 124],
      ],
    );
    const first = parseFixture('public/docs-kfence-reports.log').reports[0];
    assert.deepEqual(
      first.sections.map((s) => s.name),
      [
        'Use-after-free read at 0xffffffffb673dfe0 (in kfence-#24)',
        'kfence-#24 [0xffffffffb673dfe0-0xffffffffb673dfff, size=32, cache=kmalloc-32] allocated by task 507',
        'freed by task 507',
      ],
    );
  });
});

describe('syzkaller and syzbot', () => {
  it('old x86 format: IP: and RIP: 0010:[<…>] lines are registers, truncated report', () => {
    const r = only('syzkaller-testdata-report-0-old-x86.log');
    assert.deepEqual([r.kind, r.line, r.endLine, r.arch, r.frames.length], ['oops', 1, 13, 'x86_64', 0]);
    assert.equal(r.pc && refText(r.pc), '__memset+0x24/0x30');
    assert.equal(r.pc?.address, 0xffffffff82d4e304n);
    assert.equal(r.registerBlocks[1].pc?.address, 0xffffffff82d4e304n);
  });

  it('RCU stall: inline frames, an IRQ register block inside the trace, inlined RIP lines', () => {
    const log = parseFixture('public/syzbot-rcu-stall-dentry-kill.log');
    assert.deepEqual(summary('syzbot-rcu-stall-dentry-kill.log'), [['rcu-stall', 1, 60, 'x86_64']]);
    const r = log.reports[0];
    assert.deepEqual(
      r.sections.map((s) => [s.name, s.frames.length]),
      [
        ['Call Trace', 36],
        ['rcu: RCU grace-period kthread stack dump', 0],
        ['Call Trace', 10],
        ['rcu: Stack dump where RCU GP kthread last ran', 0],
        ['Call Trace', 14],
      ],
    );
    const inline = r.frames[0];
    assert.deepEqual([inline.symbol, inline.offset, inline.inlined, inline.source], ['context_switch', undefined, true, [{ file: 'kernel/sched/core.c', line: 5388 }]]);
    assert.deepEqual(r.frames[1].source, [{ file: 'kernel/sched/core.c', line: 7189 }]);
    // Three RIP lines: two inlined callees, then the function with its offset.
    assert.equal(r.pc && refText(r.pc), 'unwind_next_frame+0x4d6/0x2550');
    assert.equal(r.pc?.line, 15);
    // 23 `[inline]` lines, three of them RIP registers.
    assert.equal(r.frames.filter((f) => f.inlined).length, 20);
    assert.equal(r.cpu, undefined, 'the only task line belongs to another CPU');
  });

  it('possible deadlock: lockdep chain sections, lock lines are not frames', () => {
    const r = only('syzbot-lockdep-ocfs2.log');
    assert.deepEqual([r.kind, r.startLine, r.line, r.endLine, r.frames.length], ['lockdep', 1, 2, 154, 99]);
    assert.deepEqual([r.pid, r.comm, r.taint], [9951, 'syz.3.993', 'L']);
    const chains = r.sections.filter((s) => s.name.startsWith('-> #')).map((s) => s.frames.length);
    assert.deepEqual(chains, [13, 31, 26]);
    for (const lockLine of [6, 9, 10, 110, 111, 112, 113]) assert.ok(!r.frames.some((f) => f.line === lockLine), `line ${lockLine}`);
  });

  it('hung tasks: three reports, the NMI backtraces join the last one', () => {
    assert.deepEqual(summary('syzbot-hung-task-nbd.log'), [
      ['hung-task', 1, 16, 'x86_64'],
      ['hung-task', 31, 16, 'x86_64'],
      ['hung-task', 61, 43, 'x86_64'],
    ]);
    const r = parseFixture('public/syzbot-hung-task-nbd.log').reports[2];
    assert.deepEqual([r.pid, r.comm, r.cpu], [5183, 'syz-executor301', undefined]);
    assert.ok(r.sections.some((s) => s.name === 'NMI backtrace for cpu 1'));
    // `<NMI>` `</NMI>` `<TASK>` on consecutive lines: the frames after them are task context.
    const last = r.frames[r.frames.length - 1];
    assert.deepEqual([last.symbol, last.context], ['ret_from_fork_asm', 'TASK']);
  });
});

describe('mailing lists and bug reports', () => {
  it('arm64 5.15 without timestamps; a repeated register dump stays one report', () => {
    const r = only('github-aeld-faulty-arm64-5.15.log');
    assert.deepEqual([r.kind, r.line, r.endLine, r.arch, r.taint], ['null-deref', 1, 59, 'arm64', 'O']);
    assert.deepEqual(r.modules, ['hello', 'faulty', 'scull']);
    assert.equal(r.pc && refText(r.pc), 'faulty_write+0x14/0x20 [faulty]');
    assert.equal(r.lr && refText(r.lr), 'vfs_write+0xa8/0x2b0');
    assert.deepEqual(frameLines(r).slice(0, 2), ['49: faulty_write+0x14/0x20 [faulty]', '50: ksys_write+0x68/0x100']);
    assert.equal(r.frames.length, 9);
    assert.equal(r.code?.words[r.code.faultIndex], 'b900003f');
  });

  it('riscv: epc/ra registers, frames without a Call Trace title', () => {
    const r = only('lkml-riscv-warning-netif-xps.log');
    assert.deepEqual([r.kind, r.startLine, r.line, r.endLine, r.arch, r.frames.length], ['warning', 1, 2, 37, 'riscv', 17]);
    assert.equal(r.pc && refText(r.pc), '__netif_set_xps_queue+0x14e/0x770');
    assert.equal(r.pc?.address, 0xffffffff806fe448n);
    assert.equal(r.lr && refText(r.lr), '__netif_set_xps_queue+0x552/0x770');
    assert.equal(r.registers.status, '0000000200000120');
    assert.equal(r.frames[0].address, 0xffffffff805e5824n);
    assert.equal(refText(r.frames[16]), 'ret_from_exception+0x0/0x10');
  });

  it('arm (old format) in a quoted mail: caller is the frame, callee kept', () => {
    const r = only('lkml-arm-old-format-quoted.log');
    assert.deepEqual([r.kind, r.line, r.endLine, r.arch, r.frames.length], ['warning', 2, 34, 'arm', 17]);
    const f = r.frames[0];
    assert.deepEqual([f.callee, f.symbol, f.offset, f.size, f.address], ['unwind_backtrace', 'show_stack', 0x10n, 0x14n, 0xc0014734n]);
    const raw = '> [  153.118979] [<c0019560>] (unwind_backtrace) from [<c0014734>] (show_stack+0x10/0x14)';
    assert.equal(raw.slice(f.range.start, f.range.end), 'show_stack+0x10/0x14');
    // `hardirqs last enabled at (…): [<c0861c4c>] _raw_spin_unlock_irq+0x24/0x2c` is not a stack entry.
    assert.ok(!r.frames.some((x) => x.line >= 29));
  });

  it('powerpc: [sp] [ip] frames, (unreliable), exception lines skipped', () => {
    const r = only('lkml-powerpc-soft-lockup.log');
    assert.deepEqual([r.kind, r.arch, r.frames.length], ['soft-lockup', 'powerpc', 14]);
    assert.deepEqual(frameLines(r).filter((f) => f.includes(': ? ')), ['3: ? .show_stack+0x50/0x1cc', '10: ? init_thread_union+0xfc8/0x4000']);
    assert.equal(r.frames.filter((f) => f.module === 'ocfs2').length, 3);
    assert.equal(r.frames[0].address, 0xc000000000011310n);
  });

  it('arm64 with printk caller ids and (C) unwinder tags', () => {
    const r = only('lkml-arm64-caller-id-unwind-tags.log');
    assert.deepEqual([r.kind, r.caller, r.arch, r.frames.length, r.cpu, r.pid], ['bug', 'T1', 'arm64', 31, 6, 1]);
    assert.deepEqual([r.frames[0].symbol, r.frames[0].tag], ['show_stack', 'C']);
    assert.equal(r.frames[0].range.start, 24);
    assert.ok(!r.frames.some((f) => f.line === 2), '`caller is …` is not a frame');
  });

  it('decode_stacktrace.sh output with decodecode listing in between', () => {
    const r = only('lkp-decoded-x86-warning.log');
    assert.deepEqual([r.kind, r.startLine, r.line, r.endLine, r.caller, r.frames.length], ['warning', 1, 3, 85, 'T1', 21]);
    assert.equal(r.pc?.symbol, 'enable_work');
    assert.equal(r.pc?.offset, undefined);
    assert.equal(r.registers.RSP, '0000:ffffc90000013b28');
    const first = r.frames[0];
    assert.deepEqual(first.source, [
      { file: 'include/linux/workqueue.h', line: 730 },
      { file: 'drivers/tty/vt/keyboard.c', line: 1666 },
    ]);
    assert.equal(r.frames.filter((f) => !f.reliable).length, 11);
  });
});
