/**
 * The crash logs captured from the project's fixture kernels (Debian 6.1 x86_64/arm64 and a
 * custom arm64 64K-page kernel). Every expectation below was read off the log by hand.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { refText } from '../../../src/oops/json';
import type { Report } from '../../../src/oops/types';
import { frameLines, parseFixture } from './helpers';

interface Expect {
  kind: Report['kind'];
  line: number;
  startLine?: number;
  endLine: number;
  arch: Report['arch'];
  cpu?: number;
  pid?: number;
  comm?: string;
  taint?: string;
  modules?: string[];
  pc?: string;
  pcLine?: number;
  lr?: string;
  /** Number of code words and the faulting one. */
  code?: [number, string];
  frames: number;
  first?: string;
  last?: string;
  unreliable?: string[];
  moduleFrames?: string[];
  /** Lines that look like frames but are registers or headers. */
  notFrames?: number[];
}

function check(r: Report, e: Expect): void {
  assert.equal(r.kind, e.kind);
  assert.equal(r.line, e.line, 'header line');
  assert.equal(r.startLine, e.startLine ?? e.line, 'start line');
  assert.equal(r.endLine, e.endLine, 'end line');
  assert.equal(r.arch, e.arch);
  if ('cpu' in e) assert.equal(r.cpu, e.cpu);
  if ('pid' in e) assert.equal(r.pid, e.pid);
  if ('comm' in e) assert.equal(r.comm, e.comm);
  if ('taint' in e) assert.equal(r.taint, e.taint);
  if (e.modules) assert.deepEqual(r.modules, e.modules);
  if (e.pc) {
    assert.ok(r.pc, 'pc');
    assert.equal(refText(r.pc), e.pc);
    assert.equal(r.pc.line, e.pcLine);
  }
  if (e.lr) assert.equal(r.lr && refText(r.lr), e.lr);
  if (e.code) {
    assert.ok(r.code);
    assert.equal(r.code.words.length, e.code[0]);
    assert.equal(r.code.words[r.code.faultIndex], e.code[1]);
  }
  const frames = frameLines(r);
  assert.equal(frames.length, e.frames, frames.join('\n'));
  if (e.first) assert.equal(frames[0], e.first);
  if (e.last) assert.equal(frames[frames.length - 1], e.last);
  if (e.unreliable) assert.deepEqual(frames.filter((f) => f.includes(': ? ')), e.unreliable);
  if (e.moduleFrames) assert.deepEqual(frames.filter((f) => f.endsWith(']')), e.moduleFrames);
  for (const n of e.notFrames ?? []) assert.ok(!r.frames.some((f) => f.line === n), `line ${n} is not a frame`);
}

const userRegs = 'RIP: 0033 user-space registers';

describe('x86_64 samples (Debian 6.1 cloud kernel)', () => {
  it('null-deref.log: one null-deref report, module frame first, RIP lines are registers', () => {
    const log = parseFixture('x86_64/null-deref.log');
    assert.equal(log.reports.length, 1);
    check(log.reports[0], {
      kind: 'null-deref',
      line: 374,
      endLine: 423,
      arch: 'x86_64',
      cpu: 1,
      pid: 94,
      comm: 'sh',
      taint: 'OE',
      modules: ['oopsmod', 'binfmt_misc', 'brd'],
      pc: 'oopsmod_do_oops+0x18/0x2b [oopsmod]',
      pcLine: 381,
      code: [64, '8b'],
      frames: 7,
      first: '394: oopsmod_write.cold+0x5/0xa [oopsmod]',
      last: '400: entry_SYSCALL_64_after_hwframe+0x6e/0xd8',
      unreliable: ['397: ? handle_mm_fault+0xdb/0x2d0'],
      moduleFrames: ['394: oopsmod_write.cold+0x5/0xa [oopsmod]'],
      notFrames: [374, 381, 401, 413],
    });
    const r = log.reports[0];
    assert.equal(r.pc?.segment, '0010');
    assert.equal(r.registers.CR2, '0000000000000028');
    assert.ok(r.frames.every((f) => f.context === 'TASK' && f.section === 'Call Trace'));
    // The second register block is the user-space context at the bottom of the task stack.
    assert.equal(r.registerBlocks[1].pc?.segment, '0033', userRegs);
    assert.equal(r.registerBlocks[1].pc?.address, 0x47b7a0n);
  });

  it('bug.log: kernel BUG + invalid opcode is one report starting at cut here', () => {
    const log = parseFixture('x86_64/bug.log');
    assert.equal(log.reports.length, 1);
    check(log.reports[0], {
      kind: 'bug',
      line: 367,
      startLine: 366,
      endLine: 420,
      arch: 'x86_64',
      cpu: 1,
      pid: 93,
      comm: 'sh',
      taint: 'OE',
      pc: 'oopsmod_write+0x34/0x60 [oopsmod]',
      pcLine: 371,
      code: [64, '0f'],
      frames: 15,
      first: '384: proc_reg_write+0x56/0xa0',
      last: '398: entry_SYSCALL_64_after_hwframe+0x6e/0xd8',
      moduleFrames: [],
      notFrames: [371, 399, 410],
    });
    assert.equal(frameLines(log.reports[0]).filter((f) => f.includes(': ? ')).length, 10);
  });

  it('warn.log: WARNING with unreadable opcode bytes', () => {
    const log = parseFixture('x86_64/warn.log');
    assert.equal(log.reports.length, 1);
    check(log.reports[0], {
      kind: 'warning',
      line: 369,
      startLine: 367,
      endLine: 415,
      arch: 'x86_64',
      cpu: 1,
      pid: 1,
      comm: 'sh',
      taint: 'OE',
      modules: ['oopsmod', 'binfmt_misc', 'brd'],
      pc: 'oopsmod_do_warn+0x17/0x20 [oopsmod]',
      pcLine: 373,
      frames: 20,
      first: '386: oopsmod_write+0x24/0x60 [oopsmod]',
      last: '405: entry_SYSCALL_64_after_hwframe+0x6e/0xd8',
      moduleFrames: ['386: oopsmod_write+0x24/0x60 [oopsmod]'],
      notFrames: [369, 373, 406],
    });
    const code = log.reports[0].code;
    assert.equal(code?.words.length, 0);
    assert.match(code?.unavailable ?? '', /^Unable to access opcode bytes at 0xffffffffc0218fed/);
  });

  it('sysrq-c-panic.log: panic with only user-space registers', () => {
    const log = parseFixture('x86_64/sysrq-c-panic.log');
    assert.equal(log.reports.length, 1);
    check(log.reports[0], {
      kind: 'panic',
      line: 366,
      endLine: 396,
      arch: 'x86_64',
      cpu: 1,
      pid: 1,
      comm: 'sh',
      frames: 15,
      first: '371: dump_stack_lvl+0x44/0x5c',
      last: '385: entry_SYSCALL_64_after_hwframe+0x6e/0xd8',
      unreliable: [
        '373: ? _printk+0x68/0x83',
        '379: ? __handle_mm_fault+0x660/0xfa0',
        '382: ? handle_mm_fault+0xdb/0x2d0',
        '383: ? do_user_addr_fault+0x1b0/0x550',
        '384: ? exit_to_user_mode_prepare+0x44/0x240',
      ],
      notFrames: [386],
    });
    assert.equal(log.reports[0].title, 'Kernel panic - not syncing: sysrq triggered crash');
  });

  it('sysrq-l.log: NMI backtrace; the skipped CPU becomes a section, not a frame', () => {
    const log = parseFixture('x86_64/sysrq-l.log');
    assert.equal(log.reports.length, 1);
    check(log.reports[0], {
      kind: 'backtrace',
      line: 365,
      endLine: 393,
      arch: 'x86_64',
      cpu: 1,
      pid: 1,
      frames: 13,
      first: '370: dump_stack_lvl+0x44/0x5c',
      last: '382: entry_SYSCALL_64_after_hwframe+0x6e/0xd8',
      unreliable: ['372: ? lapic_can_unplug_cpu+0x70/0x70', '380: ? do_user_addr_fault+0x1b0/0x550', '381: ? exit_to_user_mode_prepare+0x44/0x240'],
      notFrames: [383, 393],
    });
    const names = log.reports[0].sections.map((s) => s.name);
    assert.ok(names.includes('NMI backtrace for cpu 0 skipped: idling at native_safe_halt+0xb/0x10'));
  });

  it('no report comes from the boot log before the crash', () => {
    for (const f of ['bug', 'null-deref', 'sysrq-c-panic', 'sysrq-l', 'warn']) {
      const log = parseFixture(`x86_64/${f}.log`);
      assert.ok(log.reports.every((r) => r.line > 360), f);
    }
  });
});

describe('arm64 samples (Debian 6.1 cloud kernel, cortex-a57)', () => {
  const oops: Omit<Expect, 'line' | 'endLine' | 'pcLine' | 'first' | 'last' | 'moduleFrames' | 'notFrames'> = {
    kind: 'null-deref',
    arch: 'arm64',
    cpu: 1,
    comm: 'cat',
    taint: '',
    modules: ['loop', 'dummy'],
    pc: 'dev_lstats_read+0x5c/0xbc',
    lr: 'dev_lstats_read+0x94/0xbc',
    code: [5, 'f9428aa3'],
    frames: 17,
    unreliable: [],
  };

  it('fatal oops then panic_on_oops: two reports', () => {
    const log = parseFixture('arm64/debian61-cortexa57-fatal-oops-panic_on_oops.log');
    assert.equal(log.reports.length, 2);
    check(log.reports[0], {
      ...oops,
      line: 232,
      endLine: 281,
      pid: 98,
      pcLine: 249,
      first: '263: dev_lstats_read+0x5c/0xbc',
      last: '279: el0t_64_sync+0x18c/0x190',
      moduleFrames: ['264: dummy_get_stats64+0x20/0x30 [dummy]'],
      notFrames: [232, 244, 249, 250],
    });
    check(log.reports[1], { kind: 'panic', line: 282, endLine: 287, arch: 'arm64', frames: 0 });
    assert.equal(log.reports[1].title, 'Kernel panic - not syncing: Oops: Fatal exception');
    assert.deepEqual(
      log.reports[0].sections.map((s) => [s.name, s.line, s.frames.length]),
      [
        ['Mem abort info', 233, 0],
        ['Data abort info', 239, 0],
        ['Call trace', 262, 17],
      ],
    );
  });

  it('non-fatal oops in dummy.ko, then sysrq-c panic without a trace', () => {
    const log = parseFixture('arm64/debian61-cortexa57-nonfatal-null-deref-in-dummy-ko-then-sysrq-c.log');
    assert.equal(log.reports.length, 2);
    check(log.reports[0], {
      ...oops,
      line: 231,
      endLine: 280,
      pid: 97,
      pcLine: 248,
      first: '262: dev_lstats_read+0x5c/0xbc',
      last: '278: el0t_64_sync+0x18c/0x190',
      moduleFrames: ['263: dummy_get_stats64+0x20/0x30 [dummy]'],
    });
    check(log.reports[1], { kind: 'panic', line: 287, endLine: 292, arch: 'arm64', frames: 0 });
  });

  it('sysrq-c panic: arch from the syscall entry frames alone', () => {
    const log = parseFixture('arm64/debian61-cortexa57-sysrq-c-panic.log');
    assert.equal(log.reports.length, 1);
    check(log.reports[0], {
      kind: 'panic',
      line: 230,
      endLine: 256,
      arch: 'arm64',
      cpu: 0,
      pid: 1,
      comm: 'sh',
      taint: '',
      frames: 18,
      first: '234: dump_backtrace+0xe4/0x140',
      last: '251: el0t_64_sync+0x18c/0x190',
      unreliable: [],
      moduleFrames: [],
    });
  });

  it('lkdtm on a custom 64K kernel: six reports, serial noise inside lines', () => {
    const log = parseFixture('arm64/custom64k-cortexa57-lkdtm-WARNING-BUG-EXCEPTION-ACCESS_NULL-EXEC_DATA-then-sysrq-c.log');
    assert.deepEqual(
      log.reports.map((r) => [r.kind, r.startLine, r.line, r.endLine, r.frames.length]),
      [
        ['warning', 80, 81, 110, 10],
        ['bug', 114, 115, 146, 10],
        ['warning', 148, 149, 178, 8],
        ['null-deref', 181, 181, 223, 10],
        ['null-deref', 230, 230, 273, 11],
        ['oops', 280, 280, 321, 12],
        ['panic', 329, 329, 334, 0],
      ],
    );
    const [warn, bug, idle, exc, access, exec] = log.reports;
    check(warn, {
      kind: 'warning',
      line: 81,
      startLine: 80,
      endLine: 110,
      arch: 'arm64',
      cpu: 1,
      pid: 39,
      taint: '',
      pc: 'lkdtm_WARNING+0x1c/0x2c [lkdtm]',
      pcLine: 86,
      lr: 'lkdtm_do_action+0x18/0x30 [lkdtm]',
      frames: 10,
      first: '100: lkdtm_WARNING+0x1c/0x2c [lkdtm]',
      last: '109: el0t_64_sync+0x148/0x14c',
      moduleFrames: ['100: lkdtm_WARNING+0x1c/0x2c [lkdtm]', '101: direct_entry+0x100/0x120 [lkdtm]'],
      notFrames: [81, 86, 87],
    });
    assert.equal(bug.taint, 'W');
    assert.deepEqual(bug.code?.words, ['a8c17bfd', 'd65f03c0', 'd503201f', 'd503201f', 'd4210000']);
    assert.equal(bug.code?.faultIndex, 4);
    assert.equal(bug.code?.width, 4);
    // "Segmentation fault[    0.761714] Hardware name: …" and "rc=139[    0.773514]  arch_post_…"
    assert.equal(idle.hardware, 'linux,dummy-virt (DT)');
    assert.equal(idle.comm, 'swapper/0');
    assert.equal(idle.taint, 'DW');
    const noisy = idle.frames.find((f) => f.line === 174);
    assert.equal(noisy?.symbol, 'arch_post_acpi_subsys_init');
    assert.deepEqual(noisy?.range, { start: 22, end: 56 });
    assert.equal(exc.pc && refText(exc.pc), 'lkdtm_EXCEPTION+0x4/0x10 [lkdtm]');
    assert.equal(access.lr && refText(access.lr), 'lkdtm_ACCESS_NULL+0x20/0x68 [lkdtm]');
    // A data symbol with a wrapped-around size: kept exactly as printed.
    assert.equal(exec.pc?.size, 0xfffffffffffde908n);
    assert.equal(exec.frames[0].symbol, 'data_area');
    assert.equal(exec.title, 'Unable to handle kernel execute from non-executable memory at virtual address ffff8000002b16f8');
  });
});
