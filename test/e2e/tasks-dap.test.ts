/**
 * Tasks in a debug session, driven over DAP as VS Code does: `kdap/tasks` lists the guest's
 * tasks, `kdap/selectTask` makes a sleeping task a thread whose Call Stack, locals and source
 * are its own. The oracle is the guest's own /proc, written just before the pause and again
 * after the session resumed it: a task whose context-switch counts are equal in both did not
 * run in between, so its stack (without inlined and tail-call frames and the scheduler's and
 * lock functions, as the kernel filters it) must equal /proc/<pid>/stack.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { PsReport } from '../../src/engine/task-report';
import { KdapClient } from '../support/dap';
import { loadFixtures, type ArchFixture } from '../support/fixtures';
import { cacheWithStaleModuleIndex, kernelStyleFrames, parseTruth, TRUTH_AWK, type GdbFrame, type Truth } from './tasks-support';

const fixtures = loadFixtures();

const only = process.env.KDAP_E2E_ARCH;
for (const arch of (['x86_64', 'arm64'] as const).filter((a) => !only || a === only)) {
  const fx: ArchFixture = fixtures.arches[arch];
  describe(`tasks in a debug session on ${arch}`, { concurrency: false }, () => {
    const dc = new KdapClient();
    const prompt = new RegExp(fixtures.guest.prompt.replace(/[#$]/g, '\\$&'));
    let thread = 1;
    let dsleep = 0;
    let ps: PsReport = { tasks: [] };
    /** pid → the DAP frames of its task thread at the pause. */
    const stacks = new Map<number, DebugProtocol.StackFrame[]>();
    let first = new Map<number, Truth>();
    let second = new Map<number, Truth>();
    const schedRanges: Array<[bigint, bigint]> = [];
    let locals_: string[] = [];
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-tasks-dap-'));

    /** Types a command and returns what the shell printed between two markers it echoes. */
    const shell = async (command: string, timeoutMs = 120_000): Promise<string> => {
      const n = Math.floor(Math.random() * 1e6);
      const from = dc.console.length;
      await dc.type(`echo KB-$((${n}+1)); ${command}; echo KE-$((${n}+1))`);
      await dc.waitForConsole(new RegExp(`KE-${n + 1}`), timeoutMs, from);
      const text = dc.console.slice(from);
      return text.slice(text.indexOf(`KB-${n + 1}`) + `KB-${n + 1}`.length, text.lastIndexOf(`KE-${n + 1}`));
    };

    before(async () => {
      // gdb's index of the .ko as an earlier session left it, with the module elsewhere.
      const cache = cacheWithStaleModuleIndex(fx.kmod.ko, tmp);
      await dc.start();
      await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path', supportsVariableType: true });
      const stop = dc.stopped('entry', 180_000);
      await Promise.all([
        dc.launch({ name: `tasks ${arch}`, type: 'kdap', request: 'launch', kernel: fx.kernel, vmlinux: fx.vmlinux, initrd: fx.initrd, append: fx.append, smp: 2, memory: '512M', sourceRoot: fixtures.sourceRoot, substitutePath: fx.substitutePath, modulePaths: [path.dirname(fx.kmod.ko)], indexCacheDir: path.join(cache, 'gdb-index'), stopAt: 'start_kernel' }),
        dc.configurationSequence(),
      ]);
      thread = (await stop).body.threadId!;
      await dc.continueRequest({ threadId: thread });
      await dc.waitForConsole(prompt, 180_000);
      await shell(`insmod ${fx.kmod.guestPath}`);
      await shell('echo d > /sys/module/kdap_test/parameters/tasks');
      dsleep = Number(/^\s*(\d+)\s*$/m.exec(await shell('cat /sys/module/kdap_test/parameters/tasks'))![1]);
      const kallsyms = await shell('grep -E " (__sched_text|__lock_text)_(start|end)$" /proc/kallsyms');
      for (const kind of ['sched', 'lock']) {
        const s = new RegExp(`^([0-9a-f]{16}) \\w __${kind}_text_start\\s*$`, 'm').exec(kallsyms);
        const e = new RegExp(`^([0-9a-f]{16}) \\w __${kind}_text_end\\s*$`, 'm').exec(kallsyms);
        if (s && e) schedRanges.push([BigInt(`0x${s[1]}`), BigInt(`0x${e[1]}`)]);
      }
      await shell(`${TRUTH_AWK} > /tmp/truth1`, 180_000);

      const pause = dc.stopped('pause');
      await dc.pauseRequest({ threadId: thread });
      thread = (await pause).body.threadId!;
      ps = (await dc.customRequest('kdap/tasks', {})).body as PsReport;
      // The module's D thread, init, kthreadd and an idle kworker: each becomes a thread in turn.
      const kworker = ps.tasks.find((t) => t.state === 'I' && t.comm.startsWith('kworker/'))?.pid;
      for (const pid of [dsleep, 1, 2, ...(kworker ? [kworker] : [])]) {
        const focused = dc.stopped('task');
        const selected = (await dc.customRequest('kdap/selectTask', { pid })).body as { threadId: number; name: string };
        const e = await focused;
        assert.equal(e.body.threadId, selected.threadId);
        const threads = (await dc.threadsRequest()).body.threads;
        assert.ok(threads.some((t) => t.id === selected.threadId && t.name.includes(`[${pid}]`)), JSON.stringify(threads));
        stacks.set(pid, (await dc.stackTraceRequest({ threadId: selected.threadId, startFrame: 0, levels: 40 })).body.stackFrames);
        if (pid === dsleep) {
          // Its frames have scopes like any thread's: the module function's argument is there.
          const frame = stacks.get(pid)!.find((f) => f.name === 'kdap_test_dsleep');
          const scopes = frame ? (await dc.scopesRequest({ frameId: frame.id })).body.scopes : [];
          const locals = scopes.find((x) => x.name === 'Locals');
          locals_ = locals ? (await dc.variablesRequest({ variablesReference: locals.variablesReference })).body.variables.map((v) => v.name) : [];
        }
      }
      await dc.continueRequest({ threadId: thread });
      await shell(`${TRUTH_AWK} > /tmp/truth2`, 180_000);
      first = parseTruth(await shell('cat /tmp/truth1', 180_000));
      second = parseTruth(await shell('cat /tmp/truth2', 180_000));
    });

    after(async () => {
      dc.saveLogs(`tasks-dap-${arch}`);
      await dc.endLaunch();
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    test('kdap/tasks lists the guest’s tasks with their ps fields', () => {
      const d = ps.tasks.find((t) => t.pid === dsleep);
      assert.deepEqual([d?.comm, d?.state, d?.kernelThread, d?.ppid], ['kdap_dsleep', 'D', true, 2]);
      const missing = [...first.keys()].filter((pid) => second.has(pid) && !ps.tasks.some((t) => t.pid === pid));
      assert.deepEqual(missing, []);
    });

    test('a selected sleeping task’s Call Stack equals /proc/<pid>/stack, with source', (t) => {
      let compared = 0;
      const wrong: string[] = [];
      for (const [pid, frames] of stacks) {
        const a = first.get(pid);
        if (!a || second.get(pid)?.switches !== a.switches) continue;
        compared++;
        const asGdb: GdbFrame[] = frames.map((f) => ({
          name: f.name.replace(/ \[(inlined|tail call)\]$/, ''),
          kind: f.name.endsWith(' [inlined]') ? 'inline' : f.name.endsWith(' [tail call]') ? 'tailcall' : 'normal',
          pc: f.instructionPointerReference ?? '0x0',
          file: f.source?.path ?? null,
          line: f.line,
        }));
        const got = kernelStyleFrames(arch, asGdb, schedRanges);
        if (JSON.stringify(got) !== JSON.stringify(a.stack)) wrong.push(`${pid}:\n  kdap:  ${got.join(' ← ')}\n  /proc: ${a.stack.join(' ← ')}`);
      }
      t.diagnostic(`${compared} of ${stacks.size} selected tasks did not run between the truths`);
      assert.deepEqual(wrong, []);
      assert.ok(compared >= 2, `only ${compared} selected tasks were still`);
    });

    test('the module thread\'s frames: its own source line and locals, the scheduler in core.c, whatever gdb\'s index cache holds for the .ko', () => {
      // The module's thread: its own source line, from the module's symbols.
      const frame = stacks.get(dsleep)!.find((f) => f.name === 'kdap_test_dsleep');
      assert.equal(frame?.line, fx.kmod.lines.dsleep);
      assert.ok(frame?.source?.path?.endsWith('kdap_test.c'), frame?.source?.path);
      assert.ok(locals_.includes('unused'), `locals of kdap_test_dsleep: ${locals_.join(' ')}`);
      const sched = stacks.get(dsleep)!.find((f) => f.name === '__schedule');
      assert.ok(sched?.source?.path?.endsWith('kernel/sched/core.c'), sched?.source?.path);
    });

    // The kernel runs on from before(), continued with task threads listed. Pause must stop it,
    // and again after a continue with gdb's selected thread a task's (VS Code continues the
    // thread in focus, which a selected task's stopped event made the task's), and after that
    // task exited while the kernel ran.
    test('Pause stops the kernel after task threads were selected, also when continued from a task thread that then exits (a zombie: no thread)', async () => {
      // A sleep whose parent never reaps it: killed, it stays a zombie, with no stack.
      await shell("(sh -c 'sleep 100001 & echo $! > /tmp/zombie; exec sleep 100002' &); sleep 1");
      const sleeper = Number(/^\s*(\d+)\s*$/m.exec(await shell('cat /tmp/zombie'))![1]);
      const pause = dc.stopped('pause', 30_000);
      await dc.pauseRequest({ threadId: thread });
      const cpu = (await pause).body.threadId!;
      for (const pid of [dsleep, sleeper]) {
        const focused = dc.stopped('task');
        const task = ((await dc.customRequest('kdap/selectTask', { pid })).body as { threadId: number }).threadId;
        await focused;
        const frames = (await dc.stackTraceRequest({ threadId: task, startFrame: 0, levels: 20 })).body.stackFrames;
        const scopes = (await dc.scopesRequest({ frameId: frames[0].id })).body.scopes;
        await dc.variablesRequest({ variablesReference: scopes[0].variablesReference });
        await dc.evaluateRequest({ expression: `-exec thread ${task}`, context: 'repl' });
        await dc.continueRequest({ threadId: task });
        // The kernel runs: the shell answers.
        assert.match(await shell(pid === sleeper ? `kill ${sleeper}; sleep 1; grep State /proc/${sleeper}/status` : 'echo alive'), pid === sleeper ? /zombie/ : /alive/);
        const again = dc.stopped('pause', 30_000);
        await dc.pauseRequest({ threadId: task });
        const stopped = (await again).body.threadId!;
        const threads = (await dc.threadsRequest()).body.threads;
        assert.ok(threads.some((t) => t.id === stopped), `the stop's thread ${stopped} is listed: ${JSON.stringify(threads)}`);
        // The picked task exited: a zombie has no stack, so it is no thread any more.
        if (pid === sleeper) assert.ok(!threads.some((t) => t.name.includes(`[${sleeper}]`)), `the exited task is no thread: ${JSON.stringify(threads)}`);
      }
      await dc.continueRequest({ threadId: cpu });
      assert.match(await shell('echo alive again'), /alive again/);
    });
  });
}
