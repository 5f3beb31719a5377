/**
 * The debug adapter against the real fixture kernels under QEMU, driven over DAP like VS Code.
 * One boot per architecture; the steps run in order on that boot.
 * Ground truth is gdb itself (`gdb -batch … info line`) and the guest's own console.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { KdapClient } from '../support/dap';
import { loadFixtures, ArchFixture } from '../support/fixtures';

const fixtures = loadFixtures();

/** What gdb alone says about a function's line: the oracle for our stack frames. */
function gdbInfoLine(vmlinux: string, func: string): { file: string; line: number } {
  const r = spawnSync('gdb-multiarch', ['-nx', '-batch', vmlinux, '-ex', `info line ${func}`], { encoding: 'utf8', timeout: 120_000 });
  const m = /Line (\d+) of "([^"]+)"/.exec(r.stdout);
  assert.ok(m, `gdb could not locate ${func}: ${r.stdout}${r.stderr}`);
  return { line: Number(m[1]), file: m[2] };
}

/**
 * Where gdb alone puts `break FUNC`: the location that has a source line (on arm64 gdb also
 * binds the ftrace pad before the DWARF entry, a location without one; kdap keeps the other).
 */
function gdbBreakLocation(vmlinux: string, func: string): { address: bigint; file: string; line: number } {
  const r = spawnSync('gdb-multiarch', ['-nx', '-batch', vmlinux, '-ex', `break ${func}`, '-ex', 'info breakpoints'], { encoding: 'utf8', timeout: 120_000 });
  const found = [...r.stdout.matchAll(new RegExp(`^\\S+\\s+(?:breakpoint\\s+keep\\s+)?y\\s+(0x[0-9a-f]+)\\s+in ${func} at (\\S+):(\\d+)$`, 'gm'))];
  assert.equal(found.length, 1, `gdb's locations of ${func}: ${r.stdout}${r.stderr}`);
  return { address: BigInt(found[0][1]), file: found[0][2], line: Number(found[0][3]) };
}

/** gdb's own disassembly of the two instructions at `pc`. */
async function instructionsAt(dc: KdapClient, pc: string): Promise<Array<{ address: bigint; text: string }>> {
  const r = await dc.evaluateRequest({ expression: `-exec x/2i ${pc}`, context: 'repl' });
  return [...r.body.result.matchAll(/^(?:=>)?\s*(0x[0-9a-f]+)(?: <[^>]*>)?:\s+(.*)$/gm)].map((m) => ({ address: BigInt(m[1]), text: m[2].trim() }));
}

const x86Prefixes = new Set(['bnd', 'notrack', 'lock', 'rep', 'repz', 'repe', 'repnz', 'repne', 'cs', 'ds', 'ss', 'es', 'fs', 'gs', 'data16', 'addr32']);

/**
 * Where one instruction step from `insn` must land, from its disassembly: the next instruction,
 * or a direct call's target. Undefined for branches, returns and indirect calls.
 */
function stepTarget(arch: 'x86_64' | 'arm64', insn: { text: string }, next: { address: bigint }): bigint | undefined {
  const tokens = insn.text.split(/\s+/);
  while (arch === 'x86_64' && tokens.length > 1 && x86Prefixes.has(tokens[0])) tokens.shift();
  const [mnemonic, operands = ''] = tokens;
  const direct = /^0x[0-9a-f]+\b/.exec(operands);
  const call = arch === 'x86_64' ? /^callq?$/.test(mnemonic) : mnemonic === 'bl';
  if (call) return direct ? BigInt(direct[0]) : undefined;
  const branch =
    arch === 'x86_64'
      ? /^(j[a-z]*|ret[a-z]*|iret[a-z]*|sysret[a-z]*|call[a-z]*|int[0-9a-z]*|ud[0-9]*|hlt|loop[a-z]*|syscall|sysenter)$/.test(mnemonic)
      : /^(b(\.[a-z]+)?|bl[a-z]*|br[a-z]*|ret[a-z]*|cbn?z|tbn?z|eret[a-z]*|svc|hvc|smc|brk|wfi|wfe)$/.test(mnemonic);
  return branch ? undefined : next.address;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Processes the adapter started (its direct children), from the process table. */
function childrenOf(parent: number): number[] {
  const r = spawnSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)/.exec(l))
    .filter((m): m is RegExpExecArray => !!m && Number(m[2]) === parent)
    .map((m) => Number(m[1]));
}

const only = process.env.KDAP_E2E_ARCH;
for (const arch of (['x86_64', 'arm64'] as const).filter((a) => !only || a === only)) {
  const fx: ArchFixture = fixtures.arches[arch];
  describe(`debug adapter on ${arch}`, { concurrency: false }, () => {
    const dc = new KdapClient();
    let thread = 1;
    const launch = {
      name: `e2e ${arch}`,
      type: 'kdap',
      request: 'launch',
      kernel: fx.kernel,
      vmlinux: fx.vmlinux,
      initrd: fx.initrd,
      append: fx.append,
      smp: 2,
      memory: '512M',
      sourceRoot: fixtures.sourceRoot,
      substitutePath: fx.substitutePath,
      stopAt: 'start_kernel',
      trace: true,
    };

    before(async () => {
      await dc.start();
    });

    after(async () => {
      dc.saveLogs(`dap-${arch}`);
      await dc.close();
    });

    test('launch boots QEMU and stops at start_kernel with its source line', async () => {
      await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path', supportsVariableType: true });
      const stop = dc.stopped('entry', 180_000);
      await Promise.all([dc.launch(launch), dc.configurationSequence()]);
      thread = (await stop).body.threadId!;
      const top = await dc.topFrame(thread);
      const truth = gdbInfoLine(fx.vmlinux, 'start_kernel');
      assert.equal(top.name, 'start_kernel');
      assert.equal(top.line, truth.line);
      assert.ok(top.source?.path?.endsWith('init/main.c'), `source ${top.source?.path}`);
      const text = fs.readFileSync(top.source!.path!, 'utf8').split('\n');
      // The exact-version source must have start_kernel's opening at the line gdb names.
      assert.match(text.slice(truth.line - 6, truth.line).join('\n'), /start_kernel\(void\)/);
    });

    test('threads are one per vCPU, named by CPU', async () => {
      const t = await dc.threadsRequest();
      assert.deepEqual(t.body.threads.map((x) => x.name.split(' ·')[0]), ['CPU 0', 'CPU 1']);
    });

    test('the guest boots to a shell whose commands reach a kernel breakpoint', async () => {
      await dc.continueRequest({ threadId: thread });
      await dc.waitForConsole(new RegExp(fixtures.guest.prompt.replace(/[#$]/g, '\\$&')), 180_000);
      const pause = dc.stopped('pause');
      await dc.pauseRequest({ threadId: thread });
      await pause;
      const bp = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'do_sys_openat2' }] });
      assert.equal(bp.body.breakpoints[0].verified, true);
      const hit = dc.stopped('breakpoint');
      await dc.continueRequest({ threadId: thread });
      await dc.type('cat /proc/version');
      thread = (await hit).body.threadId!;
      const top = await dc.topFrame(thread);
      assert.equal(top.name, 'do_sys_openat2');
      assert.ok(top.source?.path?.endsWith('fs/open.c'));
      // Exactly where gdb alone breaks (on arm64 the DWARF entry past the ftrace pad, where the
      // arguments are readable): the same address and line.
      const truth = gdbBreakLocation(fx.vmlinux, 'do_sys_openat2');
      assert.equal(top.line, truth.line, `line ${top.line} vs gdb's ${truth.file}:${truth.line}`);
      assert.equal(BigInt(top.instructionPointerReference!), truth.address, `pc ${top.instructionPointerReference} vs gdb's 0x${truth.address.toString(16)}`);
      const scopes = await dc.scopesRequest({ frameId: top.id });
      const locals = await dc.variablesRequest({ variablesReference: scopes.body.scopes[0].variablesReference });
      const names = locals.body.variables.map((v) => v.name);
      assert.ok(names.includes('filename') && names.includes('dfd'), `locals: ${names.join(', ')}`);
      assert.equal(locals.body.variables.find((v) => v.name === 'dfd')?.value, '-100');
    });

    test('the stack ends at syscall entry, and the user context from pt_regs comes after it', async () => {
      const frames = (await dc.stackTraceRequest({ threadId: thread, levels: 64 })).body.stackFrames;
      const names = frames.map((f) => f.name);
      const stub = names.findIndex((n) => /^(entry_SYSCALL_64(_after_hwframe)?|el0t_64_sync)$/.test(n));
      assert.ok(stub > 0, `no syscall entry in ${names.join(' < ')}`);
      assert.equal(frames.length, stub + 2, `one frame after the entry stub: ${names.join(' < ')}`);
      const label = frames[stub + 1];
      assert.equal(label.presentationHint, 'label');
      const m = /user space: pc (0x[0-9a-f]+) sp (0x[0-9a-f]+) \(pt_regs (0x[0-9a-f]+)\)/.exec(label.name);
      assert.ok(m, label.name);
      const [pc, sp, regs] = [BigInt(m[1]), BigInt(m[2]), BigInt(m[3])];
      assert.ok(pc > 0n && pc < 1n << 48n && sp > 0n && sp < 1n << 48n, `user addresses (below the 48-bit user range): ${label.name}`);
      // The kernel's task_pt_regs(current): the top of the task's 16 KiB stack (THREAD_SIZE on
      // both fixture kernels) minus one pt_regs, evaluated by gdb from the task kdap/cpus names.
      const cpus = (await dc.customRequest('kdap/cpus', {})).body.cpus as Array<{ threadId: number; task?: { address: string } }>;
      const task = cpus.find((c) => c.threadId === thread)?.task?.address;
      assert.ok(task, `no current task on thread ${thread}`);
      const top = await dc.topFrame(thread);
      const r = await dc.evaluateRequest({ expression: `(unsigned long)((struct task_struct *)${task})->stack + 16384 - sizeof(struct pt_regs)`, frameId: top.id, context: 'watch' });
      assert.equal(regs, BigInt(/^(0x[0-9a-f]+|\d+)/.exec(r.body.result)![1]));
    });

    test('a struct expands lazily into its members', async () => {
      const top = await dc.topFrame(thread);
      const r = await dc.evaluateRequest({ expression: 'init_task', frameId: top.id, context: 'watch' });
      assert.ok(r.body.variablesReference > 0);
      const members = await dc.variablesRequest({ variablesReference: r.body.variablesReference });
      const comm = members.body.variables.find((v) => v.name === 'comm');
      assert.ok(comm, 'task_struct has comm');
      assert.match(comm.value, /swapper/);
    });

    test('step over, into and out', async () => {
      await dc.setFunctionBreakpointsRequest({ breakpoints: [] });
      const before = await dc.topFrame(thread);
      let s = dc.stopped('step');
      await dc.nextRequest({ threadId: thread });
      thread = (await s).body.threadId ?? thread;
      const afterNext = await dc.topFrame(thread);
      assert.equal(afterNext.name, 'do_sys_openat2');
      assert.notEqual(afterNext.line, before.line);
      s = dc.stopped('step');
      await dc.stepOutRequest({ threadId: thread });
      // The task may return on another vCPU: the stop says which one.
      thread = (await s).body.threadId ?? thread;
      const caller = await dc.topFrame(thread);
      assert.notEqual(caller.name, 'do_sys_openat2');
      assert.match(caller.name, /openat|open/);
      // Instruction steps in: each lands where gdb's disassembly of the instruction says (the
      // next one, or a direct call's target); branches are stepped but not judged.
      let judged = 0;
      for (let i = 0; i < 12 && judged < 3; i++) {
        const frame = await dc.topFrame(thread);
        const [insn, next] = await instructionsAt(dc, frame.instructionPointerReference!);
        assert.ok(insn && next, `gdb's x/2i at ${frame.instructionPointerReference}`);
        const want = stepTarget(arch, insn, next);
        s = dc.stopped('step');
        await dc.stepInRequest({ threadId: thread, granularity: 'instruction' });
        const stepped = (await s).body.threadId ?? thread;
        assert.equal(stepped, thread, 'an instruction step stays on its thread');
        const at = BigInt((await dc.topFrame(thread)).instructionPointerReference!);
        if (want === undefined) continue;
        assert.equal(at, want, `step in from ${insn.text} at 0x${insn.address.toString(16)}: at 0x${at.toString(16)}, want 0x${want.toString(16)}`);
        judged++;
      }
      assert.ok(judged >= 1, 'no instruction step could be checked against the disassembly');
    });

    test('registers scope decodes system registers into bit fields', async () => {
      const top = await dc.topFrame(thread);
      const scopes = await dc.scopesRequest({ frameId: top.id });
      const system = scopes.body.scopes.find((s) => s.name === 'System Registers')!;
      const regs = await dc.variablesRequest({ variablesReference: system.variablesReference });
      const name = arch === 'x86_64' ? 'cr0' : 'cpsr';
      const reg = regs.body.variables.find((v) => v.name === name);
      assert.ok(reg, `${name} in ${regs.body.variables.map((v) => v.name).join(',')}`);
      const fields = await dc.variablesRequest({ variablesReference: reg.variablesReference });
      if (arch === 'x86_64') assert.equal(fields.body.variables.find((f) => f.name === 'PG')?.value, '1');
      else assert.match(fields.body.variables.find((f) => f.name === 'EL')?.value ?? '', /EL1/);
    });

    test('a watchpoint on jiffies_64 stops when the timer writes it, with the new value in memory', async () => {
      const read = async () => BigInt(/= (\d+)/.exec((await dc.evaluateRequest({ expression: '-exec p jiffies_64', context: 'repl' })).body.result)![1]);
      const before = await read();
      const info = await dc.dataBreakpointInfoRequest({ name: 'jiffies_64' });
      const set = await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.body.dataId!, accessType: 'write' }] });
      assert.equal(set.body.breakpoints[0].verified, true);
      const traced = dc.trace.length;
      const hit = dc.stopped('data breakpoint');
      await dc.continueRequest({ threadId: thread });
      thread = (await hit).body.threadId!;
      // gdb's own report of the write (its *stopped record) and the memory it left behind.
      const record = dc.trace.slice(traced).find((l) => /\*stopped,reason="watchpoint-trigger"/.test(l));
      assert.ok(record, 'gdb reported a watchpoint trigger');
      const value = /value=\{old="(\d+)",new="(\d+)"\}/.exec(record)!;
      assert.ok(value, record);
      const [old, now] = [BigInt(value[1]), BigInt(value[2])];
      assert.equal(old, before, 'the first write after the continue');
      // One tick, or several at once when a CPU leaves NOHZ idle (tick_do_update_jiffies64).
      assert.ok(now > old, `jiffies_64 went from ${old} to ${now}`);
      assert.equal(await read(), now, 'memory holds the value gdb reported');
      await dc.setDataBreakpointsRequest({ breakpoints: [] });
    });

    test('the WARN exception filter stops in __warn when the test module warns', async () => {
      await dc.setExceptionBreakpointsRequest({ filters: ['warn'] });
      const cont = dc.continueRequest({ threadId: thread });
      await cont;
      const hit = dc.stopped('exception');
      await dc.type(`insmod ${fx.kmod.guestPath} 2>/dev/null; echo w > ${fx.kmod.procFile}`);
      const e = await hit;
      const info = await dc.exceptionInfoRequest({ threadId: e.body.threadId! });
      assert.equal(info.body.exceptionId, 'warn');
      const st = await dc.stackTraceRequest({ threadId: e.body.threadId!, startFrame: 0, levels: 5 });
      const [fault, reporter] = st.body.stackFrames;
      // The faulting code comes first, the reporting helper (__warn) right below it.
      assert.match(fault.name, /faulting instruction/);
      assert.equal(reporter.name, '__warn');
      assert.ok(BigInt(fault.instructionPointerReference!) >= 0xffff000000000000n);
      await dc.setExceptionBreakpointsRequest({ filters: [] });
    });

    test('breakpoints set while the kernel runs bind with one unseen halt, then hit once', async () => {
      const stops: DebugProtocol.StoppedEvent[] = [];
      const onStop = (e: DebugProtocol.StoppedEvent) => stops.push(e);
      dc.on('stopped', onStop);
      try {
        await dc.continueRequest({ threadId: thread });
        // The guest's shell answering is the proof that the kernel runs when the requests come.
        let from = dc.console.length;
        await dc.type('echo run-$((6*7))');
        await dc.waitForConsole(/run-42/, 60_000, from);
        const traced = dc.trace.length;
        const [fn, src, insn, data] = await Promise.all([
          dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'do_sys_openat2' }] }),
          dc.setBreakpointsRequest({ source: { path: `${fixtures.sourceRoot}/fs/open.c` }, breakpoints: [] }),
          dc.customRequest('setInstructionBreakpoints', { breakpoints: [] }) as Promise<DebugProtocol.SetInstructionBreakpointsResponse>,
          dc.setDataBreakpointsRequest({ breakpoints: [] }),
        ]);
        assert.equal(fn.body.breakpoints[0].verified, true, fn.body.breakpoints[0].message);
        assert.deepEqual([src.body.breakpoints, insn.body.breakpoints, data.body.breakpoints], [[], [], []]);
        const sent = dc.trace.slice(traced).filter((l) => /^→ \d+-exec-/.test(l)).map((l) => /-exec-[\w-]+/.exec(l)![0]);
        assert.deepEqual(sent, ['-exec-interrupt', '-exec-continue'], 'four requests, one halt and one resume');
        from = dc.console.length;
        const hit = dc.stopped('breakpoint');
        await dc.type('cat /proc/version');
        const e = await hit;
        thread = e.body.threadId!;
        assert.deepEqual(e.body.hitBreakpointIds, [fn.body.breakpoints[0].id]);
        assert.equal((await dc.topFrame(thread)).name, 'do_sys_openat2');
        assert.deepEqual(stops.map((s) => s.body.reason), ['breakpoint'], 'the unseen halt is never reported');
        await dc.setFunctionBreakpointsRequest({ breakpoints: [] });
        await dc.continueRequest({ threadId: thread });
        await dc.waitForConsole(/Linux version/, 60_000, from);
      } finally {
        dc.removeListener('stopped', onStop);
      }
    });

    test('disconnect ends QEMU and gdb', async () => {
      const adapterPid = (dc as unknown as { _adapterProcess: { pid: number } })._adapterProcess.pid;
      const before = childrenOf(adapterPid);
      assert.ok(before.length >= 2, 'the adapter runs QEMU and gdb');
      await dc.disconnectRequest({ terminateDebuggee: true });
      await new Promise((r) => setTimeout(r, 1500));
      const left = before.filter(alive);
      assert.deepEqual(left, [], 'processes left behind');
    });
  });
}
