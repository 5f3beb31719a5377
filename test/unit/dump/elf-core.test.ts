import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openDump } from '../../../src/dump/dump';
import { DumpFormatError, NotInDumpError, WrongDumpError } from '../../../src/dump/errors';
import { encodeNote, NT_PRSTATUS } from '../../../src/dump/notes';
import { encodePrStatus, encodeQemuCpuState } from '../../../src/dump/prstatus';
import { FaultError } from '../../../src/kernel/target';
import { concat, elfCore, tempFile, vmcoreinfoNote } from './build';
import { pattern } from './vectors';

const EM_X86_64 = 62;
const EM_AARCH64 = 183;
const INFO = 'OSRELEASE=6.1.0-50-cloud-amd64\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffffffff8260a000\nNUMBER(phys_base)=-16777216\nKERNELOFFSET=1e000000\nOFFSET(list_head.next)=0\n';

function x86Notes(cpus: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let c = 0; c < cpus; c++) {
    const regs = new Map<string, bigint>([['rip', 0xffffffff81000000n + BigInt(c)], ['rsp', 0xffffc90000010000n + BigInt(c)], ['cs', 0x10n], ['gs_base', 0xffff88801f000000n]]);
    parts.push(encodeNote('CORE', NT_PRSTATUS, encodePrStatus('x86_64', c + 1, regs)));
    parts.push(encodeNote('QEMU', 0, encodeQemuCpuState(new Map([...regs, ['cr3', 0x2a0a000n + BigInt(c)], ['cr4', 0x3606f0n], ['cr0', 0x80050033n], ['idt', 0n], ['idt_base', 0xfffffe0000000000n]]))));
  }
  return concat(...parts);
}

describe('ELF core dumps', () => {
  const ram0 = pattern(0x3000, 1);
  const ram1 = pattern(0x2000, 2);

  test('QEMU x86_64: CPUs with prstatus and QEMU registers, VMCOREINFO, physical reads across segments', () => {
    const file = tempFile('qemu-x86.elf', elfCore(EM_X86_64, [{ paddr: 0n, data: ram0 }, { paddr: 0x3000n, data: ram1 }, { paddr: 0x100000n, data: ram0 }], concat(x86Notes(2), vmcoreinfoNote(INFO))));
    const dump = openDump(file);
    try {
      assert.equal(dump.format, 'elf');
      assert.equal(dump.arch, 'x86_64');
      assert.equal(dump.producer, 'qemu');
      assert.equal(dump.release, '6.1.0-50-cloud-amd64');
      assert.equal(dump.cpus.length, 2);
      assert.equal(dump.cpus[1].pid, 2);
      assert.equal(dump.cpus[1].registers.get('rip'), 0xffffffff81000001n);
      assert.equal(dump.cpus[1].registers.get('cr3'), 0x2a0a001n);
      assert.equal(dump.cpus[0].registers.get('cr4'), 0x3606f0n);
      assert.equal(dump.cpus[0].registers.get('idt_base'), 0xfffffe0000000000n);
      assert.equal(dump.vmcoreinfo?.number('phys_base'), -16777216n);
      assert.equal(dump.vmcoreinfo?.kernelOffset, 0x1e000000n);
      assert.equal(dump.vmcoreinfo?.symbol('swapper_pg_dir'), 0xffffffff8260a000n);
      assert.deepEqual(dump.memory.read(0x2ff0n, 0x20), concat(ram0.subarray(0x2ff0), ram1.subarray(0, 0x10)));
      assert.deepEqual(dump.memory.read(0x100100n, 16), ram0.subarray(0x100, 0x110));
      assert.deepEqual(dump.memory.ranges, [{ start: 0n, end: 0x5000n }, { start: 0x100000n, end: 0x103000n }]);
      const gap = (() => { try { dump.memory.read(0x4ff8n, 16); } catch (e) { return e; } })();
      assert.ok(gap instanceof NotInDumpError && gap instanceof FaultError, String(gap));
      assert.match(gap.message, /not in this dump: physical 0x5000 is in no PT_LOAD/);
    } finally {
      dump.close();
    }
  });

  test('-p dumps: several PT_LOADs for the same physical pages, with their virtual addresses', () => {
    const va = 0xffff888000000000n;
    const file = tempFile('qemu-paging.elf', elfCore(EM_X86_64, [
      { paddr: 0n, vaddr: va, data: ram0 },
      { paddr: 0x1000n, vaddr: 0xffffffff81000000n, data: ram0.subarray(0x1000, 0x2000) },
      { paddr: 0xfee00000n, vaddr: 0xffffffffff5fc000n, data: new Uint8Array(0), extra: 0x1000n },
    ], x86Notes(1)));
    const dump = openDump(file);
    try {
      assert.deepEqual(dump.memory.read(0x1800n, 8), ram0.subarray(0x1800, 0x1808));
      assert.deepEqual(dump.virtualRanges.map((r) => [r.va, r.pa, r.size]), [[va, 0n, 0x3000n], [0xffffffff81000000n, 0x1000n, 0x1000n]]);
      assert.throws(() => dump.memory.read(0xfee00000n, 4), /was not saved \(past p_filesz/);
    } finally {
      dump.close();
    }
  });

  test('arm64: user_pt_regs become x0..x30, sp, pc, cpsr', () => {
    const regs = new Map<string, bigint>([['x0', 1n], ['x29', 0xffff80000800fd00n], ['x30', 0xffff800008010000n], ['sp', 0xffff80000800fd00n], ['pc', 0xffff800008012340n], ['cpsr', 0x600003c5n]]);
    const notes = concat(encodeNote('CORE', NT_PRSTATUS, encodePrStatus('arm64', 1, regs)), encodeNote('CORE', 2, new Uint8Array(528)), vmcoreinfoNote('OSRELEASE=6.1.0-50-cloud-arm64\n'));
    const dump = openDump(tempFile('arm64.elf', elfCore(EM_AARCH64, [{ paddr: 0x40000000n, data: ram0 }], notes)));
    try {
      assert.equal(dump.arch, 'arm64');
      assert.equal(dump.cpus.length, 1);
      assert.deepEqual([...dump.cpus[0].registers].filter(([, v]) => v !== 0n), [...regs]);
      assert.deepEqual(dump.memory.read(0x40000ff0n, 0x20), ram0.subarray(0xff0, 0x1010));
    } finally {
      dump.close();
    }
  });

  test('kdump /proc/vmcore: CRASHTIME makes it a crash, p_memsz past p_filesz is not saved', () => {
    const notes = concat(x86Notes(1).subarray(0, 12 + 8 + 336), vmcoreinfoNote(INFO + 'CRASHTIME=1767600000\n'));
    const dump = openDump(tempFile('vmcore.elf', elfCore(EM_X86_64, [{ paddr: 0x1000n, vaddr: 0xffff888000001000n, data: ram1, extra: 0x1000n }], notes)));
    try {
      assert.equal(dump.producer, 'kdump');
      assert.equal(dump.vmcoreinfo?.crashTime, 1767600000);
      assert.throws(() => dump.memory.read(0x2ff8n, 16), (e) => e instanceof NotInDumpError && e.physical === 0x3000n);
    } finally {
      dump.close();
    }
  });

  test('bad input: each a clear error', () => {
    const good = elfCore(EM_X86_64, [{ paddr: 0n, data: ram0 }], concat(x86Notes(1), vmcoreinfoNote(INFO)));
    const opens = (name: string, bytes: Uint8Array) => () => openDump(tempFile(name, bytes)).close();
    assert.throws(opens('truncated.elf', good.subarray(0, good.length - 100)), (e) => e instanceof DumpFormatError && /truncated/.test(e.message));
    assert.throws(opens('headers-only.elf', good.subarray(0, 100)), /truncated/);
    assert.throws(opens('empty', new Uint8Array(0)), /empty/);
    assert.throws(opens('text', Buffer.from('hello, this is not a dump at all\n')), /not a kernel dump/);
    assert.throws(opens('exec.elf', elfCore(EM_X86_64, [], new Uint8Array(0), 2)), /an executable \(ET_EXEC, e.g. vmlinux\), not a core dump/);
    assert.throws(opens('ppc.elf', elfCore(21, [], x86Notes(1))), (e) => e instanceof WrongDumpError && /a dump of PowerPC 64/.test(e.message));
    // An x86_64-sized prstatus in an arm64 ELF: another arch's notes, or corrupt.
    assert.throws(opens('mixed.elf', elfCore(EM_AARCH64, [], concat(x86Notes(1), vmcoreinfoNote(INFO)))), /NT_PRSTATUS has 336 bytes, not the 392 of arm64/);
    // A process core: NT_PRPSINFO (pr_fname at 40), NT_AUXV, no VMCOREINFO.
    const psinfo = new Uint8Array(136);
    psinfo.set(Buffer.from('sleep'), 40);
    const user = elfCore(EM_X86_64, [{ paddr: 0n, vaddr: 0x400000n, data: ram0 }], concat(x86Notes(1).subarray(0, 356), encodeNote('CORE', 3, psinfo), encodeNote('CORE', 6, new Uint8Array(16))));
    assert.throws(opens('user.core', user), (e) => e instanceof WrongDumpError && /a user-space process core \(of sleep\), not a kernel dump/.test(e.message));
  });
});
