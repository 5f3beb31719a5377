// What a stop asks of gdb before the client does, and how the client's requests take it. gdb is
// a recorder answering with MI text; the e2e tier (test/e2e/dap.test.ts) runs the same path
// against QEMU and gdb.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Attached } from '../../../src/adapter/attached';
import { StackTraces } from '../../../src/adapter/stack-trace';
import { Variables } from '../../../src/adapter/variables';
import { SourceMapper } from '../../../src/engine/sources';
import type { GdbBackend, MIResult } from '../../../src/gdb/backend';
import { parseMILine } from '../../../src/gdb/mi/parser';
import type { MemberLayout, StructLayout } from '../../../src/kernel/target';

/** A gdb that answers each operation from `answers` (MI result text after `^done,`) and records what it was sent. */
function recordingGdb(answers: Record<string, string>): { gdb: GdbBackend; sent: string[] } {
  const sent: string[] = [];
  const gdb = {
    send: async (op: string, args: readonly string[] = []): Promise<MIResult> => {
      sent.push([op, ...args].join(' '));
      const text = answers[op];
      if (text === undefined) throw new Error(`unexpected ${op}`);
      const r = parseMILine(`^done${text ? `,${text}` : ''}`);
      if (r.type !== 'result') throw new Error('not a result record');
      return { cls: 'done', results: r.results, console: '' };
    },
  } as unknown as GdbBackend;
  return { gdb, sent };
}

// scheduler_tick under the timer interrupt, which came from user space (cs & 3 == 3).
const names = ['scheduler_tick', 'update_process_times', 'tick_sched_handle', 'tick_sched_timer', '__hrtimer_run_queues', 'hrtimer_interrupt', '__sysvec_apic_timer_interrupt', 'sysvec_apic_timer_interrupt', 'asm_sysvec_apic_timer_interrupt'];
const stack = `stack=[${names.map((f, i) => `frame={level="${i}",addr="0xffffffff810d${(0x5160 + i * 0x100).toString(16)}",func="${f}",file="kernel/x.c",fullname="/src/kernel/x.c",line="${10 + i}"}`).join(',')}]`;
const regs = Buffer.alloc(168);
regs.writeBigUInt64LE(0x401000n, 128); // ip
regs.writeBigUInt64LE(0x33n, 136); // cs
regs.writeBigUInt64LE(0x7ffc0000n, 152); // sp
const answers = {
  '-stack-list-frames': stack,
  '-stack-list-variables': 'variables=[{name="rq",type="struct rq *",value="0xffff88801f42c000"}]',
  '-data-read-memory-bytes': `memory=[{begin="0xffffc90000403f58",offset="0x0",end="0xffffc90000404000",contents="${regs.toString('hex')}"}]`,
};
const member = (offset: number): MemberLayout => ({ offset, size: 8, type: 'unsigned long' });
const ptRegs: StructLayout = { name: 'pt_regs', size: 168, members: new Map([['ip', member(128)], ['cs', member(136)], ['sp', member(152)]]) };

function attached(gdb: GdbBackend): Attached {
  return {
    kernel: {
      arch: 'x86_64',
      engine: { gdb },
      target: { layout: async (name: string) => (name === 'pt_regs' ? ptRegs : undefined) },
      threads: { group: () => undefined },
      tasks: undefined,
    },
    sources: new SourceMapper(undefined),
  } as unknown as Attached;
}

const count = (sent: string[], op: string) => sent.filter((s) => s.startsWith(`${op} `)).length;

describe('reading a stop ahead of the client', () => {
  test('the stopped thread: one stack listing and one pt_regs read, taken by the first request that fits', async () => {
    const { gdb, sent } = recordingGdb(answers);
    const a = attached(gdb);
    const stacks = new StackTraces();
    stacks.readAheadStop(a, 2);
    assert.deepEqual(sent, ['-stack-list-frames --thread 2 --no-frame-filters 0 19'], 'asked at the stop, before any request');
    const first = await stacks.stackTrace(a, { threadId: 2, startFrame: 0, levels: 20 }, undefined);
    assert.equal(count(sent, '-stack-list-frames'), 1);
    assert.equal(count(sent, '-data-read-memory-bytes'), 1);
    assert.deepEqual(first.stackFrames.map((f) => f.name).slice(-2), ['asm_sysvec_apic_timer_interrupt', '── user space: pc 0x401000 sp 0x7ffc0000 (pt_regs 0xffffc90000403f58) ──']);
    // A second request of the same stop asks gdb again (the read-ahead is taken once), the pt_regs are not read again.
    const again = await stacks.stackTrace(a, { threadId: 2, startFrame: 0, levels: 20 }, undefined);
    assert.deepEqual(again.stackFrames, first.stackFrames);
    assert.equal(count(sent, '-stack-list-frames'), 2);
    assert.equal(count(sent, '-data-read-memory-bytes'), 1);
  });

  test('a request for other frames or another thread, or after a resume, is asked of gdb', async () => {
    const { gdb, sent } = recordingGdb(answers);
    const a = attached(gdb);
    const stacks = new StackTraces();
    stacks.readAheadStop(a, 2);
    await stacks.stackTrace(a, { threadId: 1, startFrame: 0, levels: 20 }, undefined);
    await stacks.stackTrace(a, { threadId: 2, startFrame: 0, levels: 64 }, undefined);
    assert.deepEqual(sent.filter((s) => s.startsWith('-stack-list-frames')), ['-stack-list-frames --thread 2 --no-frame-filters 0 19', '-stack-list-frames --thread 1 --no-frame-filters 0 19', '-stack-list-frames --thread 2 --no-frame-filters 0 63']);
    // The first page of 20 is still there for a request that wants part of it.
    const top = await stacks.stackTrace(a, { threadId: 2, startFrame: 0, levels: 1 }, undefined);
    assert.deepEqual(top.stackFrames.map((f) => f.name), ['scheduler_tick']);
    assert.equal(count(sent, '-stack-list-frames'), 3);
    stacks.readAheadStop(a, 2);
    stacks.resumed();
    await stacks.stackTrace(a, { threadId: 2, startFrame: 0, levels: 20 }, undefined);
    assert.equal(count(sent, '-stack-list-frames'), 5);
  });

  test('the top frame locals: read once at the stop, given to the first request, forgotten by a write or a resume', async () => {
    const { gdb, sent } = recordingGdb({ ...answers, '-var-create': 'name="var1",numchild="0",value="1",type="int"', '-var-assign': 'value="1"', '-var-delete': '' });
    const vars = new Variables(gdb, 'x86_64');
    vars.readAheadLocals(2, 0);
    const locals = vars.scopes(2, 0)[0].variablesReference;
    assert.deepEqual((await vars.variables(locals)).map((v) => [v.name, v.value]), [['rq', '0xffff88801f42c000']]);
    assert.equal(count(sent, '-stack-list-variables'), 1);
    await vars.variables(locals);
    assert.equal(count(sent, '-stack-list-variables'), 2, 'asked again: the read-ahead is taken once');
    vars.readAheadLocals(2, 0);
    await vars.setVariable('x', '1', 2, 0);
    await vars.variables(locals);
    assert.equal(count(sent, '-stack-list-variables'), 4, 'a write forgets what was read ahead');
    vars.readAheadLocals(2, 0);
    await vars.reset();
    const after = vars.scopes(2, 0)[0].variablesReference;
    await vars.variables(after);
    assert.equal(count(sent, '-stack-list-variables'), 6, 'a resume forgets it');
  });

  test('an interrupted kernel pc is named by gdb once, until the symbols change', async () => {
    const kernelRegs = Buffer.alloc(168);
    kernelRegs.writeBigUInt64LE(0xffffffff81a0dfebn, 128); // ip: the idle loop
    kernelRegs.writeBigUInt64LE(0x10n, 136); // cs: kernel
    kernelRegs.writeBigUInt64LE(0xffffffff82603e38n, 152);
    const lines: string[] = [];
    const { gdb, sent } = recordingGdb({
      ...answers,
      '-data-read-memory-bytes': `memory=[{begin="0xffffc90000003f58",offset="0x0",end="0xffffc90000004000",contents="${kernelRegs.toString('hex')}"}]`,
      '-interpreter-exec': '',
    });
    (gdb as { console: GdbBackend['console'] }).console = async (command) => {
      await gdb.send('-interpreter-exec', ['console', command]);
      lines.push(command);
      return `Line 52 of "arch/x86/include/asm/irqflags.h" starts at address 0xffffffff81a0dfea <native_safe_halt+10> and ends at 0xffffffff81a0dfeb <native_safe_halt+11>.\n`;
    };
    const a = attached(gdb);
    const stacks = new StackTraces();
    const label = async () => (await stacks.stackTrace(a, { threadId: 2, startFrame: 0, levels: 20 }, undefined)).stackFrames.map((f) => f.name).slice(-2);
    const first = await label();
    assert.match(first.join(' | '), /native_safe_halt\+0xb/);
    for (let stop = 0; stop < 3; stop++) {
      stacks.resumed();
      assert.deepEqual(await label(), first);
    }
    assert.equal(count(sent, '-data-read-memory-bytes'), 4, 'pt_regs are read at every stop');
    assert.deepEqual(lines, ['info line *0xffffffff81a0dfeb'], 'the same pc is named once');
    stacks.forgetSources();
    stacks.resumed();
    assert.deepEqual(await label(), first);
    assert.equal(lines.length, 2, 'asked again once the symbols changed');
  });
});
