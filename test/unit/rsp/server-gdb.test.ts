/**
 * kdap's RSP server over an in-memory frozen kernel, with a real gdb as the client: the target
 * description gdb accepts, CPU threads, tasks as threads on request with their switch-frame
 * registers, memory, and a kernel that refuses to run.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RspServer } from '../../../src/rsp/server';
import { frozenKernel } from './frozen-kernel';
import { gdbBatch, selectThread } from './gdb';

const hex = (v: bigint) => `0x${v.toString(16)}`;

for (const arch of ['x86_64', 'arm64'] as const) {
  describe(`RSP server, ${arch}, real gdb`, () => {
    const f = frozenKernel(arch);
    const server = new RspServer(f.kernel);
    const warnings: string[] = [];
    server.on('warning', (w) => warnings.push(w));
    let port = 0;
    before(async () => {
      port = await server.listen();
    });
    after(() => server.close());
    const [pc, sp] = arch === 'x86_64' ? ['rip', 'rsp'] : ['pc', 'sp'];

    test('CPU threads only, until tasks are asked for; then every task, named as ps would', async () => {
      const r = await gdbBatch(arch, port, ['info threads', 'monitor kdap tasks all', 'info threads', 'detach']);
      const [before, afterList] = r.output.split(/\d+ task threads/);
      assert.match(before, /1 +Thread 1 \(CPU 0 \(user mode\)\) 0x0*400123 in/);
      assert.match(before, /\* 2 +Thread 2 \(CPU 1\)/);
      assert.doesNotMatch(before, /Thread 1000/);
      const names = [...afterList.matchAll(/Thread (\d+) \(([^)]*\)?)\)/g)].map((m) => `${m[1]} ${m[2]}`);
      assert.deepEqual(names, [
        '1 CPU 0 (user mode)',
        '2 CPU 1',
        '20000000 swapper/0 [0] R',
        '20000001 swapper/1 [0] R · on CPU 1',
        '10000001 init [1] S',
        '10000002 kthreadd [2] S',
        '10000020 kworker/0:1 [20] I',
        '10000030 kdap_dsleep [30] D',
        '10000095 sh [95] R · on CPU 0',
        '10000100 app [100] S',
        '10000102 app-timer [102] S',
        '10000101 app-io [101] D',
        '10000120 stopped [120] T',
      ]);
      // A zombie (defunct, pid 110) has no stack left, so no registers: it is no thread.
      assert.doesNotMatch(afterList, /Thread 10000110/);
    });

    test('a sleeping task’s registers are its switch frame; others are unavailable', async () => {
      const frame = f.frames.get(f.dsleep)!;
      const r = await gdbBatch(arch, port, ['monitor kdap tasks 30', 'info threads', selectThread(10000030), `p/x $${pc}`, `p/x $${sp}`, arch === 'x86_64' ? 'p/x $rbp' : 'p/x $x29', arch === 'x86_64' ? 'p $rax' : 'p $x0', 'detach']);
      assert.match(r.output, /Thread 10000030 \(kdap_dsleep \[30\] D\)/);
      const values = [...r.output.matchAll(/\$\d+ = (.*)$/gm)].map((m) => m[1]);
      assert.deepEqual(values, [hex(frame.pc), hex(frame.sp), hex(frame.fp), '<unavailable>']);
    });

    test('a task on a CPU has that CPU’s registers', async () => {
      const r = await gdbBatch(arch, port, ['monitor kdap tasks 95', 'info threads', selectThread(10000095), `p/x $${pc}`, 'detach']);
      assert.match(r.output, /Thread 10000095 \(sh \[95\] R · on CPU 0\)/);
      assert.match(r.output, /\$1 = 0x400123$/m);
    });

    test('memory reads, a fault as gdb’s own error; writes and resumes refused with the reason', async () => {
      const r = await gdbBatch(arch, port, [
        `x/dw ${hex(f.dsleep + 0x970n)}`,
        'x/gx 0x1000',
        `p/x $${pc}`,
        'continue',
        `p/x $${pc}`,
        `set var $${pc} = 1`,
        `set var *(int *)${hex(f.dsleep + 0x970n)} = 31`,
        'monitor kdap ps',
        'detach',
      ]);
      assert.match(r.output, new RegExp(`${hex(f.dsleep + 0x970n)}:\\s+30\\b`));
      assert.match(r.output, /Cannot access memory at address 0x1000/);
      assert.match(r.output, /kdap: this kernel is frozen: it cannot run/);
      const pcs = [...r.output.matchAll(/\$\d+ = (0x[0-9a-f]+)$/gm)].map((m) => m[1]);
      assert.equal(pcs.length, 2, r.output);
      assert.equal(pcs[0], pcs[1], 'the stop did not move');
      assert.match(r.output, /Could not write register/);
      assert.match(r.output, /Cannot access memory at address/);
      assert.match(r.output, /^ +30 +30 +2 D +1 k 0xffff888005610000 kdap_dsleep$/m);
    });
  });
}
