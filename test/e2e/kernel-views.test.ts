/**
 * kdap/cpus, kdap/walk, kdap/decodePte, kdap/dmesg and per-CPU expressions through the real
 * adapter on the fixture kernels, one boot per architecture. Every answer is checked against something that does not share our
 * code: QEMU's own `monitor gva2gpa` for walks, the guest's shell (`$!`, /proc/kallsyms, sysfs)
 * for tasks, the module and the kernel log, and gdb's own expression evaluator for per-CPU data.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { CpuInfo, DmesgResult } from '../../src/adapter/protocol';
import type { WalkResult } from '../../src/kernel/pagetable';
import { KdapClient } from '../support/dap';
import { loadFixtures, type ArchFixture } from '../support/fixtures';
import { adapterShell, gva2gpa as oracleGva2gpa } from '../support/oracles';

const fixtures = loadFixtures();

interface Measured<T> {
  body: T;
  ms: number;
  /** MI commands the adapter sent for the request, counted in its trace. */
  mi: number;
}

const only = process.env.KDAP_E2E_ARCH;
for (const arch of (['x86_64', 'arm64'] as const).filter((a) => !only || a === only)) {
  const fx: ArchFixture = fixtures.arches[arch];
  describe(`kernel views on ${arch}`, { concurrency: false }, () => {
    const dc = new KdapClient();
    const guest = adapterShell(dc, fixtures.guest.prompt);
    let thread = 1;
    let busyPid = 0;
    let moduleText = 0n;
    /** kdap_test_percpu's per-CPU key from /proc/kallsyms, when the kernel lists it. */
    let percpuKey: bigint | undefined;
    /** The module's `struct module`, from sysfs. */
    let thisModule = 0n;
    let cpus: CpuInfo[] = [];
    const timings: string[] = [];

    async function request<T>(command: string, args: object): Promise<Measured<T>> {
      const from = dc.trace.length;
      const t = process.hrtime.bigint();
      const r = await dc.customRequest(command, args);
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      const mi = dc.trace.slice(from).filter((l) => l.startsWith('→ ')).length;
      return { body: r.body as T, ms, mi };
    }

    async function cpusNow(): Promise<CpuInfo[]> {
      const r = await request<{ cpus: CpuInfo[] }>('kdap/cpus', {});
      timings.push(`kdap/cpus ${r.ms.toFixed(1)} ms, ${r.mi} MI`);
      return r.body.cpus;
    }

    async function walk(va: string, cpu: number, mm?: string): Promise<WalkResult> {
      const r = await request<WalkResult>('kdap/walk', { va, cpu, ...(mm ? { mm } : {}) });
      timings.push(`kdap/walk ${va}${mm ? ` mm=${mm}` : ''}: ${r.ms.toFixed(1)} ms, ${r.mi} MI`);
      return r.body;
    }

    const gva2gpa = (cpu: number, va: bigint) => oracleGva2gpa(dc, cpu, va);

    /** A kernel-mode CPU and a frame on it, for gdb to evaluate kernel expressions there. */
    async function kernelFrame(): Promise<{ cpu: number; frameId: number }> {
      const k = cpus.find((c) => c.mode === 'kernel');
      assert.ok(k, `no CPU in kernel mode: ${JSON.stringify(cpus)}`);
      return { cpu: k.cpu, frameId: (await dc.topFrame(k.threadId)).id };
    }

    async function gdbNumber(expression: string, frameId: number): Promise<bigint> {
      const r = await dc.evaluateRequest({ expression: `(unsigned long)(${expression})`, frameId, context: 'watch' });
      return BigInt(/^(0x[0-9a-f]+|\d+)/.exec(r.body.result)![1]);
    }

    before(async () => {
      await dc.start();
    });

    after(async () => {
      dc.saveLogs(`kernel-views-${arch}`);
      console.log(`# ${arch} request costs:\n#   ${timings.join('\n#   ')}`);
      await dc.endLaunch();
    });

    test('at start_kernel: CPU 0 runs init_task in the kernel, CPU 1 is not online yet', async () => {
      await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
      const stop = dc.stopped('entry', 180_000);
      await Promise.all([
        dc.launch({ name: `kv ${arch}`, type: 'kdap', request: 'launch', kernel: fx.kernel, vmlinux: fx.vmlinux, initrd: fx.initrd, append: fx.append, smp: 2, memory: '512M', stopAt: 'start_kernel', trace: true }),
        dc.configurationSequence(),
      ]);
      thread = (await stop).body.threadId!;
      cpus = await cpusNow();
      assert.equal(cpus.length, 2);
      assert.equal(cpus[0].mode, 'kernel');
      assert.equal(cpus[0].function, 'start_kernel');
      assert.notEqual(cpus[0].state, 'offline');
      assert.deepEqual([cpus[1].state, cpus[1].mode], ['offline', 'unknown']);
      const frameId = (await dc.topFrame(thread)).id;
      // x86_64's current_task starts out as &init_task; arm64's __entry_task is set at the first switch.
      if (arch === 'x86_64') assert.equal(BigInt(cpus[0].task!.address), await gdbNumber('&init_task', frameId));
      else assert.equal(cpus[0].task, undefined);
    });

    test('requests are refused while the kernel runs', async () => {
      await dc.continueRequest({ threadId: thread });
      await new Promise((r) => setTimeout(r, 200)); // gdb's *running follows the continue's reply
      await assert.rejects(dc.customRequest('kdap/cpus', {}), /running: pause it/);
      await assert.rejects(dc.customRequest('kdap/walk', { va: '&jiffies_64' }), /running: pause it/);
      await assert.rejects(dc.customRequest('kdap/decodePte', { value: '0x1' }), /running: pause it/);
    });

    test('the guest loads the test module and pins a busy loop to CPU 1', async () => {
      await guest.waitForPrompt(180_000);
      await guest.sh(`insmod ${fx.kmod.guestPath}`);
      // Kernel messages can land in a command's output: pick the answers out by their shape.
      const text = /0x[0-9a-f]+/.exec(await guest.sh('cat /sys/module/kdap_test/sections/.text'));
      const module = /0x[0-9a-f]+/.exec(await guest.sh('cat /sys/module/kdap_test/sections/.gnu.linkonce.this_module'));
      // Only kernels with KALLSYMS_ALL (the x86_64 fixture, not the arm64 one) list data symbols.
      const sym = /^([0-9a-f]{16}) \w kdap_test_percpu/m.exec((await guest.run('grep -w kdap_test_percpu /proc/kallsyms')).output);
      const pid = /^(\d+)$/m.exec(await guest.sh("taskset -c 1 sh -c 'while :; do :; done' & echo $!"));
      assert.ok(text && module && pid, 'module addresses and pid from the guest');
      assert.ok(sym || arch === 'arm64', 'x86_64 lists kdap_test_percpu in /proc/kallsyms');
      moduleText = BigInt(text[0]);
      thisModule = BigInt(module[0]);
      if (sym) percpuKey = BigInt(`0x${sym[1]}`);
      busyPid = Number(pid[1]);
      assert.ok(busyPid > 1 && moduleText > 0n);
      // Let the scheduler move it onto CPU 1 and keep it there.
      await new Promise((r) => setTimeout(r, 1500));
      const pause = dc.stopped('pause');
      await dc.pauseRequest({ threadId: thread });
      thread = (await pause).body.threadId!;
    });

    test('CPU 1 runs the busy loop: the pid the shell reported, comm sh', async () => {
      cpus = await cpusNow();
      const c1 = cpus.find((c) => c.cpu === 1)!;
      assert.deepEqual([c1.task?.pid, c1.task?.comm, c1.state], [busyPid, 'sh', 'running'], JSON.stringify(c1));
      assert.ok((c1.nrRunning ?? 0) >= 1);
      // Mode against the vCPU's own register, read by gdb.
      const frameId = (await dc.topFrame(c1.threadId)).id;
      const el = arch === 'x86_64' ? (await gdbNumber('$cs', frameId)) & 3n : ((await gdbNumber('$cpsr', frameId)) >> 2n) & 3n;
      assert.equal(c1.mode, (arch === 'x86_64' ? el === 0n : el !== 0n) ? 'kernel' : 'user');
      const threads = await dc.threadsRequest();
      assert.equal(threads.body.threads.find((t) => t.id === c1.threadId)?.name, 'CPU 1 · sh');
    });

    test('each CPU’s preempt_count is what gdb reads where the kernel keeps it; the busy loop’s is 0', async () => {
      const { frameId } = await kernelFrame();
      for (const c of cpus) {
        const expr = arch === 'x86_64'
          ? `*(unsigned int *)((unsigned long)&__preempt_count + __per_cpu_offset[${c.cpu}]) & 0x7fffffff`
          : `((struct task_struct *)${c.task!.address})->thread_info.preempt.count`;
        assert.equal(BigInt(c.preemptCount ?? -1), await gdbNumber(expr, frameId), `CPU ${c.cpu}`);
      }
      // A CPU running user code holds no preempt-disabled, softirq or hardirq section.
      const c1 = cpus.find((c) => c.cpu === 1)!;
      if (c1.mode === 'user') assert.equal(c1.preemptCount, 0);
    });

    test('each CPU’s task is the one gdb finds through rq->curr', async () => {
      const { frameId } = await kernelFrame();
      for (const c of cpus) {
        const curr = await gdbNumber(`((struct rq *)((unsigned long)&runqueues + __per_cpu_offset[${c.cpu}]))->curr`, frameId);
        assert.equal(BigInt(c.task!.address), curr, `CPU ${c.cpu}`);
      }
    });

    test('per-CPU offsets equal __per_cpu_offset[n], and reach the module’s per-CPU variable', async () => {
      const { frameId } = await kernelFrame();
      // The module's only per-CPU variable starts its per-CPU area, mod->percpu (read by gdb).
      const modPercpu = await gdbNumber(`((struct module *)0x${thisModule.toString(16)})->percpu`, frameId);
      if (percpuKey !== undefined) assert.equal(modPercpu, percpuKey, 'kallsyms and mod->percpu agree');
      const key = percpuKey ?? modPercpu;
      for (const c of cpus) {
        const offset = BigInt(c.perCpuOffset!);
        assert.equal(offset, await gdbNumber(`__per_cpu_offset[${c.cpu}]`, frameId));
        const value = await gdbNumber(`*(unsigned long *)0x${BigInt.asUintN(64, key + offset).toString(16)}`, frameId);
        assert.equal(value, BigInt(fx.kmod.percpuBase) + BigInt(c.cpu), `kdap_test_percpu on CPU ${c.cpu}`);
      }
    });

    test('per_cpu(), per_cpu_ptr() and this_cpu() in evaluate: what gdb reads at the same address', async () => {
      const { frameId } = await kernelFrame();
      const evaluate = async (expression: string, context: 'watch' | 'hover' | 'repl', f = frameId) => (await dc.evaluateRequest({ expression, frameId: f, context })).body.result;
      const number = (text: string) => BigInt(/^(?:\([^)]*\)\s*)?(0x[0-9a-f]+|-?\d+)/.exec(text)![1]);
      for (const c of cpus) {
        // The oracle is gdb's own arithmetic on __per_cpu_offset, typed out by hand.
        const rq = `((struct rq *)((char *)&runqueues + __per_cpu_offset[${c.cpu}]))`;
        const curr = await evaluate(`per_cpu(runqueues, ${c.cpu}).curr`, 'watch');
        assert.equal(number(curr), await gdbNumber(`${rq}->curr`, frameId), `per_cpu(runqueues, ${c.cpu}).curr`);
        assert.equal(number(curr), BigInt(c.task!.address), 'the task kdap/cpus reports for the CPU');
        assert.equal(number(await evaluate(`per_cpu(runqueues, ${c.cpu}).nr_running`, 'hover')), await gdbNumber(`${rq}->nr_running`, frameId));
        // The CPU as an expression, and the kernel's own record of each CPU's number.
        assert.equal(number(await evaluate(`per_cpu(cpu_number, (${c.cpu} + 2) % 2 + 0)`, 'repl')), BigInt(c.cpu));
        // The test module's variable, planted as 0x6b640000 + cpu, through its per-CPU key.
        const key = percpuKey ?? (await gdbNumber(`((struct module *)0x${thisModule.toString(16)})->percpu`, frameId));
        assert.equal(number(await evaluate(`*per_cpu_ptr((unsigned long *)0x${key.toString(16)}, ${c.cpu})`, 'watch')), BigInt(fx.kmod.percpuBase) + BigInt(c.cpu));
        // this_cpu is the CPU of the frame's thread, also for a vCPU stopped in user mode.
        const own = (await dc.topFrame(c.threadId)).id;
        assert.equal(number(await evaluate('this_cpu(cpu_number)', 'watch', own)), BigInt(c.cpu), `this_cpu on CPU ${c.cpu}`);
        assert.equal(number(await evaluate('this_cpu_read(runqueues.cpu)', 'hover', own)), BigInt(c.cpu));
      }
      // A struct result expands like any other value.
      const r = await dc.evaluateRequest({ expression: 'per_cpu(runqueues, 1)', frameId, context: 'watch' });
      assert.ok(r.body.variablesReference > 0);
      const members = await dc.variablesRequest({ variablesReference: r.body.variablesReference });
      assert.ok(members.body.variables.some((v) => v.name === 'nr_running'));
      // Strings are not rewritten.
      assert.equal(await evaluate('sizeof("per_cpu(x, 1)")', 'watch'), '14');
      await assert.rejects(dc.evaluateRequest({ expression: 'per_cpu(runqueues)', frameId, context: 'watch' }), /takes 2 arguments/);
    });

    test('walks of kernel data, text, direct map, vmalloc stack and module text match gva2gpa', async () => {
      const { cpu } = await kernelFrame();
      const task = cpus.find((c) => c.cpu === 1)!.task!.address;
      const cases = ['&jiffies_64', '&schedule', task, `((struct task_struct *)${task})->stack`, `0x${moduleText.toString(16)}`];
      for (const va of cases) {
        const w = await walk(va, cpu);
        assert.equal(w.fault, null, `${va}: ${w.fault}`);
        const truth = await gva2gpa(cpu, BigInt(w.va));
        assert.equal(w.phys, `0x${(truth as bigint).toString(16)}`, `${va} (${w.va})`);
      }
      // The kernel's own page table (init_mm) maps kernel data the same way.
      const viaInitMm = await walk('&jiffies_64', cpu, 'kernel');
      assert.equal(viaInitMm.phys, (await walk('&jiffies_64', cpu)).phys);
    });

    test('an unmapped module-area address faults for both', async () => {
      const { cpu } = await kernelFrame();
      const va = moduleText + 0x4000000n;
      const w = await walk(`0x${va.toString(16)}`, cpu);
      assert.equal(w.phys, null);
      assert.ok(w.fault);
      assert.equal(await gva2gpa(cpu, va), 'unmapped');
    });

    test('a user address of the busy loop: its CPU’s tables and its own mm agree with gva2gpa', async () => {
      let c1 = cpus.find((c) => c.cpu === 1)!;
      // The loop spends nearly all its time in user mode; a stop in an interrupt is retried.
      for (let tries = 0; c1.mode !== 'user' && tries < 5; tries++) {
        await dc.continueRequest({ threadId: thread });
        await new Promise((r) => setTimeout(r, 300));
        const pause = dc.stopped('pause');
        await dc.pauseRequest({ threadId: thread });
        thread = (await pause).body.threadId!;
        cpus = await cpusNow();
        c1 = cpus.find((c) => c.cpu === 1)!;
      }
      assert.equal(c1.mode, 'user', 'CPU 1 never stopped in the busy loop’s user code');
      const truth = await gva2gpa(1, BigInt(c1.pc!));
      const viaCpu = await walk(c1.pc!, 1);
      const viaMm = await walk(c1.pc!, 1, `pid:${busyPid}`);
      assert.equal(viaCpu.phys, `0x${(truth as bigint).toString(16)}`);
      assert.equal(viaMm.phys, viaCpu.phys);
      // A vCPU in user mode cannot read kernel memory itself: this_cpu still means CPU 1's copy.
      const own = (await dc.topFrame(c1.threadId)).id;
      const r = await dc.evaluateRequest({ expression: 'this_cpu(cpu_number)', frameId: own, context: 'watch' });
      assert.equal(r.body.result, '1', 'this_cpu(cpu_number) on CPU 1 in user mode');
    });

    test('decodePte decodes a live leaf entry with this CPU’s configuration', async () => {
      const w = await walk('&jiffies_64', (await kernelFrame()).cpu);
      const leaf = w.levels[w.levels.length - 1];
      const d = (await request<{ flags: string[]; phys: string | null; summary: string }>('kdap/decodePte', { value: leaf.raw, level: leaf.level })).body;
      assert.equal(BigInt(d.phys!), BigInt(w.phys!) & ~BigInt(w.pageSize! - 1));
      assert.deepEqual(d.flags, leaf.flags);
      assert.match(d.summary, new RegExp(`^${leaf.level}/`));
      await assert.rejects(dc.customRequest('kdap/decodePte', { value: 'zz' }), /must be a number/);
      await assert.rejects(dc.customRequest('kdap/walk', { va: 'no_such_symbol_here' }), /Cannot evaluate/);
    });

    test('hovers: a pointer shows where it maps, a pte_t/pteval_t its decode; phys as gva2gpa says', async () => {
      const { cpu, frameId } = await kernelFrame();
      const hover = async (expression: string) => {
        const t = process.hrtime.bigint();
        const r = await dc.evaluateRequest({ expression, frameId, context: 'hover' });
        timings.push(`hover ${expression}: ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms: ${r.body.result}`);
        return r.body.result;
      };
      const physIn = (text: string) => {
        const m = / {2}· {2}.*→ phys (0x[0-9a-f]+)/.exec(text);
        assert.ok(m, `no phys in the hover: ${text}`);
        return BigInt(m[1]);
      };
      // Pointers: kernel data (2 MiB or 4 KiB mapped) and the kernel's top-level page table.
      for (const expression of ['&jiffies_64', 'init_mm.pgd']) {
        const text = await hover(expression);
        const va = BigInt(/^(?:\([^)]*\)\s*)?(0x[0-9a-f]+)/.exec(text)![1]);
        assert.equal(physIn(text), await gva2gpa(cpu, va), `${expression}: ${text}`);
      }
      // An entry mapping a 4 KiB page: the vmalloc'ed kernel stack of CPU 1's task. The walk
      // only says where the entry is; what it maps is checked against QEMU's translation.
      const task = cpus.find((c) => c.cpu === 1)!.task!.address;
      const stack = await gdbNumber(`((struct task_struct *)${task})->stack`, frameId);
      const w = await walk(`0x${stack.toString(16)}`, cpu);
      const leaf = w.levels[w.levels.length - 1];
      const type = `${leaf.linuxLevel.toLowerCase()}_t`;
      // Without page_offset_base (arm64) the walk gives the entry's physical address: its
      // linear-map alias is __phys_to_virt(), PAGE_OFFSET from the kernel's config.
      let entryVa = leaf.entryAddress;
      if (leaf.entryAddress === leaf.entryPhysical) {
        const vaBits = BigInt(/^CONFIG_ARM64_VA_BITS=(\d+)$/m.exec(fs.readFileSync(fx.config, 'utf8'))![1]);
        const memstart = await gdbNumber('memstart_addr', frameId);
        entryVa = `0x${BigInt.asUintN(64, (BigInt(leaf.entryPhysical!) - memstart) | -(1n << vaBits)).toString(16)}`;
      }
      const raw = await gdbNumber(`*(unsigned long *)${entryVa}`, frameId);
      assert.equal(raw, BigInt(leaf.raw), 'gdb reads the entry the walk read');
      const pageFrame = ((await gva2gpa(cpu, stack)) as bigint) & ~BigInt(w.pageSize! - 1);
      const entry = `*(${type} *)${entryVa}`;
      const text = await hover(entry);
      const member = leaf.linuxLevel.toLowerCase();
      assert.match(text, new RegExp(`^\\{${member} = 0x${raw.toString(16)}\\}  ·  \\S+/${leaf.linuxLevel} .*→ phys 0x`), text);
      assert.equal(physIn(text), pageFrame, text);
      const valText = await hover(`(${entry}).${member}`);
      assert.match(valText, new RegExp(`^0x${raw.toString(16)}  ·  `), valText);
      assert.equal(physIn(valText), physIn(text));
      // Only hovers are decorated: a watch shows gdb's value alone.
      const watch = await dc.evaluateRequest({ expression: entry, frameId, context: 'watch' });
      assert.doesNotMatch(watch.body.result, / {2}· {2}/);
    });

    test('a second kdap/cpus in the same stop is answered from the cache', async () => {
      const r = await request<{ cpus: CpuInfo[] }>('kdap/cpus', {});
      assert.equal(r.mi, 0);
      assert.deepEqual(r.body.cpus, cpus);
    });

    test('kdap/dmesg: the guest’s own dmesg, line for line, with a marker written to /dev/kmsg', async () => {
      await dc.continueRequest({ threadId: thread });
      const marker = `kdap-marker-${arch}-${process.pid}`;
      await guest.sh(`echo ${marker} > /dev/kmsg`);
      const oracle = (await guest.sh('dmesg')).split('\n').filter((l) => /^\[\s*\d+\.\d{6}\] /.test(l));
      const pause = dc.stopped('pause');
      await dc.pauseRequest({ threadId: thread });
      thread = (await pause).body.threadId!;
      const r = await request<DmesgResult>('kdap/dmesg', {});
      timings.push(`kdap/dmesg: ${r.ms.toFixed(1)} ms, ${r.mi} MI, ${r.body.reads} reads, ${r.body.bytesRead} bytes, ${r.body.records.length} records`);
      const lines = r.body.text.trimEnd().split('\n');
      const mine = oracle.filter((l) => l.endsWith(`] ${marker}`));
      assert.equal(mine.length, 1, `the marker once in the guest's dmesg:\n${oracle.slice(-5).join('\n')}`);
      assert.deepEqual(lines.filter((l) => l.endsWith(`] ${marker}`)), mine, 'the marker line, timestamp included');
      // The guest read its log before the pause: its last lines are ours at the same place.
      const n = Math.min(40, oracle.length);
      const at = lines.indexOf(oracle[oracle.length - 1]);
      assert.ok(at >= 0, `the guest's last line is in kdap/dmesg: ${oracle[oracle.length - 1]}`);
      assert.deepEqual(lines.slice(at - n + 1, at + 1), oracle.slice(-n));
      if (/Linux version/.test(oracle[0])) assert.equal(lines[0], oracle[0], 'both start at the first record');
      assert.equal(r.body.format, 'lockless');
      assert.equal(r.body.lost, 0);
      const rec = r.body.records.find((x) => x.text === marker)!;
      assert.equal(rec.facility, 1, '/dev/kmsg writes are LOG_USER');
    });
  });
}
