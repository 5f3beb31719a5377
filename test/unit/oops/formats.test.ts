/**
 * Hand-written snippets for the stack and register formats of each architecture and era, and
 * for the lines that look like frames but are not.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { frameText, refText } from '../../../src/oops/json';
import { parseLog } from '../../../src/oops/parse';
import type { Report } from '../../../src/oops/types';
import { snippet } from './helpers';

function one(text: string): Report {
  const log = parseLog(snippet(text));
  assert.equal(log.reports.length, 1, log.reports.map((r) => `${r.line}: ${r.title}`).join('\n'));
  return log.reports[0];
}

const frames = (r: Report) => r.frames.map((f) => `${f.line}: ${frameText(f)}${f.context ? ` <${f.context}>` : ''}`);

describe('x86', () => {
  it('4.x: <IRQ> and <EOI> on the frame line, addresses kept', () => {
    const r = one(`
      WARNING: CPU: 0 PID: 0 at net/sched/sch_generic.c:316 dev_watchdog+0x242/0x250
      Call Trace:
       <IRQ>  [<ffffffff8171ed09>] dump_stack+0x45/0x56
       [<ffffffff8106773d>] warn_slowpath_common+0x7d/0xa0
       [<ffffffff81014c9d>] handle_irq+0x1d/0x30
       <EOI>  [<ffffffff810356f6>] ? native_safe_halt+0x6/0x10
       [<ffffffff8101a24c>] ? default_idle+0x4c/0xe0
      ---[ end trace 3a6c6dbd7c58378f ]---
    `);
    assert.deepEqual(frames(r), [
      '3: dump_stack+0x45/0x56 <IRQ>',
      '4: warn_slowpath_common+0x7d/0xa0 <IRQ>',
      '5: handle_irq+0x1d/0x30 <IRQ>',
      '6: ? native_safe_halt+0x6/0x10',
      '7: ? default_idle+0x4c/0xe0',
    ]);
    assert.equal(r.frames[0].address, 0xffffffff8171ed09n);
  });

  it('5.x+: an IRQ stack with its own registers between </IRQ> and <TASK>', () => {
    const r = one(`
      watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [kworker/1:1:58]
      CPU: 1 PID: 58 Comm: kworker/1:1 Not tainted 5.10.0 #1
      RIP: 0010:native_safe_halt+0xe/0x10
      RSP: 0018:ffffc900000abeb8 EFLAGS: 00000246
      Call Trace:
       <IRQ>
       hrtimer_interrupt+0x10c/0x220
       </IRQ>
       asm_sysvec_apic_timer_interrupt+0x12/0x20
      RIP: 0010:default_idle+0xb/0x10
      RSP: 0018:ffffc900000abeb8 EFLAGS: 00000246
       default_idle_call+0x2e/0xe0
       do_idle+0x1f3/0x260
    `);
    assert.deepEqual([r.kind, r.cpu, r.pid, r.comm], ['soft-lockup', 1, 58, 'kworker/1:1']);
    assert.deepEqual(frames(r), [
      '7: hrtimer_interrupt+0x10c/0x220 <IRQ>',
      '9: asm_sysvec_apic_timer_interrupt+0x12/0x20',
      '12: default_idle_call+0x2e/0xe0',
      '13: do_idle+0x1f3/0x260',
    ]);
    assert.equal(r.pc && refText(r.pc), 'native_safe_halt+0xe/0x10');
    assert.equal(r.registerBlocks[1].pc && refText(r.registerBlocks[1].pc), 'default_idle+0xb/0x10');
  });

  it('2.6 x86_64: `:module:symbol` frames', () => {
    const r = one(`
      Call Trace:
       [<ffffffff8802c8e9>] :jbd:log_wait_commit+0xa3/0xf5
       [<ffffffff810482d9>] autoremove_wake_function+0x0/0x2e
    `);
    assert.deepEqual([r.frames[0].module, r.frames[0].symbol, r.frames[1].module], ['jbd', 'log_wait_commit', undefined]);
  });

  it('i386: EIP forms are registers', () => {
    const r = one(`
      BUG: unable to handle kernel NULL pointer dereference at 00000000
      IP: [<c1234567>] foo_read+0x12/0x30
      *pde = 00000000
      Oops: 0000 [#1] SMP
      EIP: 0060:[<c1234567>] EFLAGS: 00010246 CPU: 0
      EIP is at foo_read+0x12/0x30
      EAX: 00000000 EBX: f5e8c000 ECX: 00000001 EDX: 00000000
      Call Trace:
       [<c10f0aa7>] vfs_read+0x87/0x160
    `);
    assert.deepEqual([r.kind, r.arch, r.frames.length], ['null-deref', 'i386', 1]);
    assert.deepEqual([r.pc?.symbol, r.pc?.address, r.pc?.line], ['foo_read', 0xc1234567n, 2]);
    assert.equal(r.registers.EAX, '00000000');
  });

  it('already decoded by decode_stacktrace.sh, module name after the location', () => {
    const r = one(`
      Call Trace:
       <TASK>
       oopsmod_write (/home/dev/oopsmod/oopsmod.c:41) oopsmod
       ? proc_reg_write (fs/proc/inode.c:333 (discriminator 1))
       vfs_write+0xc7/0x3f0
       </TASK>
    `);
    assert.deepEqual(
      r.frames.map((f) => [f.symbol, f.module, f.reliable, f.source]),
      [
        ['oopsmod_write', 'oopsmod', true, [{ file: '/home/dev/oopsmod/oopsmod.c', line: 41 }]],
        ['proc_reg_write', undefined, false, [{ file: 'fs/proc/inode.c', line: 333, discriminator: 1 }]],
        ['vfs_write', undefined, true, undefined],
      ],
    );
  });
});

describe('arm, arm64, riscv', () => {
  it('arm 4.x: PC is at / LR is at, pc : [<…>] line, oops line with ARM', () => {
    const r = one(`
      Unable to handle kernel NULL pointer dereference at virtual address 00000000
      pgd = c0004000
      Internal error: Oops: 817 [#1] SMP ARM
      Modules linked in: foo
      CPU: 0 PID: 1 Comm: swapper/0 Not tainted 4.19.0 #1
      PC is at foo_init+0x10/0x20 [foo]
      LR is at do_one_initcall+0x54/0x1f8
      pc : [<bf000010>]    lr : [<c0101b3c>]    psr: 60000013
      sp : c1853e88  ip : 00000000  fp : c1853e9c
      Backtrace:
      [<bf000000>] (foo_init [foo]) from [<c0101b3c>] (do_one_initcall+0x54/0x1f8)
      Code: e3a03000 e3a02001 e5832000 (e5933000)
    `);
    assert.deepEqual([r.kind, r.arch], ['null-deref', 'arm']);
    assert.equal(r.pc && refText(r.pc), 'foo_init+0x10/0x20 [foo]');
    assert.equal(r.pc?.address, 0xbf000010n);
    assert.equal(r.lr?.symbol, 'do_one_initcall');
    assert.deepEqual(frames(r), ['11: do_one_initcall+0x54/0x1f8']);
    assert.equal(r.frames[0].callee, 'foo_init');
    assert.deepEqual([r.code?.width, r.code?.faultIndex], [4, 3]);
  });

  it('arm 5.x+: `callee [mod] from caller+off/size [mod]`', () => {
    const r = one(`
      Division by zero in kernel.
      CPU: 0 PID: 52 Comm: aplay Tainted: G        W          6.2.0-rc4 #1
      Hardware name: Generic DT based system
       unwind_backtrace from show_stack+0x10/0x18
       ep93xx_mux_determine_rate [clk_ep93xx] from clk_core_round_rate_nolock+0x48/0xc8 [clk]
    `);
    assert.deepEqual([r.kind, r.title, r.arch, r.line], ['stack-dump', 'Division by zero in kernel.', 'arm', 1]);
    assert.deepEqual(
      r.frames.map((f) => [f.callee, refText(f)]),
      [
        ['unwind_backtrace', 'show_stack+0x10/0x18'],
        ['ep93xx_mux_determine_rate', 'clk_core_round_rate_nolock+0x48/0xc8 [clk]'],
      ],
    );
  });

  it('arm64 4.x: pc : [<…>] with a 64-bit address', () => {
    const r = one(`
      Internal error: Oops - BUG: 0 [#1] PREEMPT SMP
      pc : [<ffff000008123456>] lr : [<ffff000008123400>] pstate: 60000145
      sp : ffff00000a3ebd30
      Call trace:
      [<ffff000008123456>] foo+0x1c/0x40
    `);
    assert.deepEqual([r.kind, r.arch, r.pc?.address, r.lr?.address], ['bug', 'arm64', 0xffff000008123456n, 0xffff000008123400n]);
    assert.equal(r.frames.length, 1);
  });

  it('riscv: Oops [#N] on its own', () => {
    const r = one(`
      Unable to handle kernel paging request at virtual address 00000000401c31ac
      Oops [#1]
      epc : string+0x4a/0xea
       ra : vsnprintf+0x1e4/0x336
       [<ffffffff80338936>] vsnprintf+0x1e4/0x336
    `);
    assert.deepEqual([r.kind, r.arch, r.frames.length], ['oops', 'riscv', 1]);
  });
});

describe('powerpc and mips registers', () => {
  it('NIP [addr] func and epc : addr func name the faulting code', () => {
    const ppc = one(`
      BUG: Kernel NULL pointer dereference on read at 0x00000000
      NIP:  c000000000a1b2c4 LR: c000000000a1b2a0 CTR: 0000000000000000
      NIP [c000000000a1b2c4] foo_probe+0x24/0x60 [foo]
      LR [c000000000a1b2a0] foo_probe+0x0/0x60 [foo]
      Call Trace:
      [c000000006d4f9d0] [c000000000d14ab4] dump_stack_lvl+0x74/0xa8 (unreliable)
    `);
    assert.deepEqual([ppc.pc && refText(ppc.pc), ppc.pc?.address, ppc.lr?.address], ['foo_probe+0x24/0x60 [foo]', 0xc000000000a1b2c4n, 0xc000000000a1b2a0n]);
    assert.deepEqual([ppc.arch, ppc.frames.length, ppc.frames[0].reliable], ['powerpc', 1, false]);
    const mips = one(`
      CPU 0 Unable to handle kernel paging request at virtual address 00000000, epc == 8012345c, ra == 80123400
      Oops[#1]:
      epc   : 8012345c foo_read+0x1c/0x30
      ra    : 80123400 vfs_read+0x80/0x160
      Call Trace:
      [<8012345c>] foo_read+0x1c/0x30
    `);
    assert.deepEqual([mips.pc?.symbol, mips.pc?.address, mips.lr?.symbol, mips.arch], ['foo_read', 0x8012345cn, 'vfs_read', 'mips']);
    assert.deepEqual([mips.kind, mips.line], ['oops', 1]);
  });
});

describe('report boundaries', () => {
  it('kernel BUG + invalid opcode is one report; the panic after it is another', () => {
    const log = parseLog(
      snippet(`
        ------------[ cut here ]------------
        kernel BUG at mm/slub.c:123!
        invalid opcode: 0000 [#1] PREEMPT SMP KASAN
        RIP: 0010:kfree+0x1/0x2
        Call Trace:
         foo+0x1/0x2
        ---[ end trace 0000000000000000 ]---
        Kernel panic - not syncing: Fatal exception
        Kernel Offset: disabled
        ---[ end Kernel panic - not syncing: Fatal exception ]---
      `),
    );
    assert.deepEqual(
      log.reports.map((r) => [r.kind, r.startLine, r.line, r.endLine]),
      [
        ['bug', 1, 2, 7],
        ['panic', 8, 8, 10],
      ],
    );
  });

  it('a general protection fault with KASAN is one oops', () => {
    const r = one(`
      general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1] PREEMPT SMP KASAN
      KASAN: null-ptr-deref in range [0x0000000000000008-0x000000000000000f]
      CPU: 1 PID: 5000 Comm: syz-executor Not tainted 6.6.0-syzkaller #0
      RIP: 0010:foo+0x10/0x20 net/foo.c:12
    `);
    assert.deepEqual([r.kind, r.pc?.symbol, r.pc?.offset, r.pid], ['oops', 'foo', 0x10n, 5000]);
  });

  it('interleaved CPUs are told apart by printk caller ids', () => {
    const log = parseLog(
      snippet(`
        [   10.000001][  T100] WARNING: CPU: 0 PID: 100 at a.c:1 alpha+0x1/0x10
        [   10.000002][  T200] WARNING: CPU: 1 PID: 200 at b.c:2 beta+0x2/0x20
        [   10.000003][  T100] Call Trace:
        [   10.000004][  T200] Call Trace:
        [   10.000005][  T100]  alpha+0x1/0x10
        [   10.000006][  T200]  beta+0x2/0x20
        [   10.000007][  T100]  alpha_caller+0x3/0x30
        [   10.000008][  T200] ---[ end trace 0000000000000000 ]---
        [   10.000009][  T100] ---[ end trace 0000000000000000 ]---
      `),
    );
    assert.deepEqual(
      log.reports.map((r) => [r.caller, r.pid, r.line, r.endLine, r.frames.map((f) => f.line)]),
      [
        ['T100', 100, 1, 9, [5, 7]],
        ['T200', 200, 2, 8, [6]],
      ],
    );
  });

  it('sanitizer reports end at their closing =====', () => {
    const log = parseLog(
      snippet(`
        ================================================================================
        UBSAN: shift-out-of-bounds in net/foo.c:12:34
        shift exponent 64 is too large for 64-bit type 'long unsigned int'
        CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.1.0 #1
        Call Trace:
         ubsan_epilogue+0x9/0x40
        ================================================================================
        foo: probe of bar failed
      `),
    );
    assert.deepEqual(log.reports.map((r) => [r.kind, r.startLine, r.line, r.endLine, r.frames.length]), [['ubsan', 1, 2, 7, 1]]);
  });

  it('kinds from their headers', () => {
    const kinds = (text: string) => parseLog(snippet(text)).reports.map((r) => r.kind);
    assert.deepEqual(kinds('NMI watchdog: Watchdog detected hard LOCKUP on cpu 1\n'), ['hard-lockup']);
    assert.deepEqual(kinds('bash invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0\n'), ['oom']);
    assert.deepEqual(kinds('kworker/0:1: page allocation failure: order:4, mode:0x40cc0\n'), ['alloc-failure']);
    assert.deepEqual(kinds('BUG: KCSAN: data-race in foo / bar\n'), ['kcsan']);
    assert.deepEqual(kinds('BUG kmalloc-64 (Not tainted): Poison overwritten\n'), ['bug']);
    assert.deepEqual(kinds('WARNING: suspicious RCU usage\n'), ['lockdep']);
    assert.deepEqual(kinds('INFO: rcu_sched self-detected stall on CPU\n'), ['rcu-stall']);
  });
});

describe('lines that are not frames', () => {
  it('symbol references inside other messages', () => {
    const log = parseLog(
      snippet(`
        random: get_random_bytes called from start_kernel+0x3f0/0x5fc with crng_init=0
        NMI backtrace for cpu 0 skipped: idling at native_safe_halt+0xb/0x10
        Booting from ROM...
        Stopper: multi_cpu_stop+0x0/0x192 <- stop_cpus.constprop.0+0x90/0xe2
        hardirqs last  enabled at (3323021): [<c0861c4c>] _raw_spin_unlock_irq+0x24/0x2c
        caller is debug_smp_processor_id+0x20/0x30
         #0: ffff888026af3430 (&lo->lo_mutex){+.+.}-{4:4}, at: loop_configure+0x35d/0xdc0
        PGD 549d067 P4D 549d067 PUD 549e067 PMD 0
         ffff88022f203de0 ffffffff8106773d ffff88021e1f1740 ffff88021e1f11b0
        0xffffffff81000000
      `),
    );
    assert.deepEqual(log.reports.flatMap((r) => r.frames), []);
  });
});
