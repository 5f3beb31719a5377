import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { trimKernelStack, isEntryStub } from '../../../src/engine/stack';
import { parseHitCondition } from '../../../src/adapter/breakpoints';
import { SourceMapper } from '../../../src/engine/sources';
import { checkAttach, checkLaunch } from '../../../src/adapter/config';
import { elfArch } from '../../../src/engine/elf-arch';
import { UserError } from '../../../src/engine/errors';
import { parseRegister, pointerValue } from '../../../src/adapter/variables';
import { cpuOfThread } from '../../../src/engine/threads';
import { frameId, decodeFrameId } from '../../../src/adapter/handles';
import type { Frame } from '../../../src/gdb/mi/stack';

const f = (level: number, func: string | undefined, address: bigint): Frame => ({ level, func, address });

describe('kernel stack trimming', () => {
  test('x86: the trace ends at entry_SYSCALL_64, garbage after it is dropped', () => {
    // The shape gdb 13 printed for a syscall on the Debian 6.1 kernel.
    const frames = [
      f(0, 'do_sys_openat2', 0xffffffff81347050n),
      f(1, '__x64_sys_openat', 0xffffffff813477f0n),
      f(2, 'do_syscall_64', 0xffffffff819f9d1dn),
      f(3, 'entry_SYSCALL_64', 0xffffffff81c00126n),
      f(4, 'fixed_percpu_data', 0x1n),
      f(5, undefined, 0x0n),
    ];
    const r = trimKernelStack('x86_64', frames);
    assert.deepEqual(r.frames.map((x) => x.func), ['do_sys_openat2', '__x64_sys_openat', 'do_syscall_64', 'entry_SYSCALL_64']);
    assert.equal(r.truncated, true);
  });

  test('arm64: el0t_64_sync ends the trace; a user-space pc after a kernel frame is garbage', () => {
    const r = trimKernelStack('arm64', [f(0, 'dummy_get_stats64', 0xffff800000bd00b8n), f(1, 'el0t_64_sync', 0xffff800008011548n), f(2, undefined, 0xffffa000n)]);
    assert.equal(r.frames.length, 2);
    const garbage = trimKernelStack('arm64', [f(0, 'x', 0xffff800008000000n), f(1, undefined, 0x400000n)]);
    assert.equal(garbage.frames.length, 1);
  });

  test('a top frame in user space or firmware is kept (the user must see where the CPU is)', () => {
    const r = trimKernelStack('x86_64', [f(0, undefined, 0xfd09an)]);
    assert.equal(r.frames.length, 1);
    assert.equal(r.truncated, false);
  });

  test('entry stub names per arch', () => {
    assert.ok(isEntryStub('x86_64', 'asm_exc_page_fault'));
    assert.ok(isEntryStub('x86_64', 'ret_from_fork'));
    assert.ok(!isEntryStub('x86_64', 'el1h_64_sync'));
    assert.ok(isEntryStub('arm64', 'el1h_64_sync'));
    assert.ok(!isEntryStub('arm64', 'do_el0_svc'));
  });
});

describe('breakpoint hit conditions (DAP → gdb ignore count)', () => {
  test('forms', () => {
    assert.equal(parseHitCondition('5'), 5);
    assert.equal(parseHitCondition('=5'), 5);
    assert.equal(parseHitCondition('>= 3'), 3);
    assert.equal(parseHitCondition('>3'), 4);
    assert.equal(parseHitCondition(''), undefined);
    assert.equal(parseHitCondition('% 2'), undefined);
  });
});

describe('source mapping for Debian DWARF', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-src-'));
  fs.mkdirSync(path.join(root, 'init'), { recursive: true });
  fs.mkdirSync(path.join(root, 'arch/x86/kernel'), { recursive: true });
  fs.writeFileSync(path.join(root, 'init/main.c'), '');
  fs.writeFileSync(path.join(root, 'arch/x86/kernel/head_64.S'), '');

  test('relative compile dir, relative name, and absolute build path all land in the tree', () => {
    const m = new SourceMapper(root, [{ from: '/build/reproducible-path/linux-6.1.176', to: root }]);
    assert.equal(m.resolve('debian/build/build_amd64_none_cloud-amd64/init/main.c'), path.join(root, 'init/main.c'));
    assert.equal(m.resolve('init/main.c'), path.join(root, 'init/main.c'));
    assert.equal(m.resolve('/build/reproducible-path/linux-6.1.176/arch/x86/kernel/head_64.S'), path.join(root, 'arch/x86/kernel/head_64.S'));
  });

  test('a file that is not in the tree is not matched by its basename alone', () => {
    const m = new SourceMapper(root);
    assert.equal(m.resolve('debian/build/x/arch/x86/include/generated/asm/main.c'), undefined);
    assert.equal(m.resolve('other/main.c'), undefined);
  });
});

describe('launch and attach validation', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-cfg-'));
  const kernel = path.join(dir, 'bzImage');
  fs.writeFileSync(kernel, 'x');
  const elf = (machine: number) => {
    const b = Buffer.alloc(64);
    b.writeUInt32BE(0x7f454c46, 0);
    b[4] = 2;
    b[5] = 1;
    b.writeUInt16LE(machine, 18);
    const p = path.join(dir, `vmlinux-${machine}`);
    fs.writeFileSync(p, b);
    return p;
  };

  test('a missing vmlinux is a clear user error', () => {
    assert.throws(() => checkLaunch({ kernel, vmlinux: path.join(dir, 'nope') } as never), (e: Error) => e instanceof UserError && /vmlinux '.*nope' does not exist/.test(e.message));
    assert.throws(() => checkAttach({ remote: 'localhost:1234' } as never), /No vmlinux given/);
  });

  test('bad smp, memory and remote are refused with the value named', () => {
    const vmlinux = elf(62);
    assert.throws(() => checkLaunch({ kernel, vmlinux, smp: 0 } as never), /"smp"/);
    assert.throws(() => checkLaunch({ kernel, vmlinux, memory: 'lots' } as never), /"memory".*lots/);
    assert.throws(() => checkAttach({ vmlinux, remote: 'localhost' } as never), /host:port/);
    assert.doesNotThrow(() => checkAttach({ vmlinux, remote: '127.0.0.1:1234' } as never));
  });

  test('the architecture comes from the ELF header; a bzImage or another machine is refused', () => {
    assert.equal(elfArch(elf(62)), 'x86_64');
    assert.equal(elfArch(elf(183)), 'arm64');
    assert.throws(() => elfArch(elf(40)), /machine 40/);
    assert.throws(() => elfArch(kernel), /not an ELF file/);
  });
});

describe('small parsers', () => {
  test('registers and pointers stay exact 64-bit values', () => {
    assert.equal(parseRegister('0xffffffff8304ce41'), 0xffffffff8304ce41n);
    assert.equal(parseRegister('-100'), (1n << 64n) - 100n);
    assert.equal(parseRegister('{...}'), undefined);
    assert.equal(pointerValue('0xffff888004a88cc0 <init_task>'), '0xffff888004a88cc0');
    assert.equal(pointerValue('(struct task_struct *) 0xffff888004a88cc0'), '0xffff888004a88cc0');
    assert.equal(pointerValue('42'), undefined);
  });

  test('QEMU thread names give the CPU; kgdb shadow threads too', () => {
    assert.equal(cpuOfThread({ id: 2, targetId: 'Thread 1.2', details: 'CPU#1 [halted ]', state: 'stopped' }, 0), 1);
    assert.equal(cpuOfThread({ id: 1, targetId: 'Thread 4294967294', name: 'shadowCPU0', state: 'stopped' }, 5), 0);
    assert.equal(cpuOfThread({ id: 9, targetId: 'Thread 9', state: 'stopped' }, 3), 3);
  });

  test('frame ids round-trip', () => {
    assert.deepEqual(decodeFrameId(frameId(2, 17)), { thread: 2, frame: 17 });
  });
});
