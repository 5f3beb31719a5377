/**
 * kdap/cpus, kdap/walk and kdap/decodePte through the real adapter on the fixture kernels, one
 * boot per architecture. Every answer is checked against something that does not share our
 * code: QEMU's own `monitor gva2gpa` for walks, the guest's shell (`$!`, /proc/kallsyms, sysfs)
 * for tasks and the module, and gdb's own expression evaluator for per-CPU data.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { CpuInfo } from '../../src/adapter/protocol';
import type { WalkJson } from '../../src/kernel/pagetable';
import { KdapClient } from '../support/dap';
import { loadFixtures, type ArchFixture } from '../support/fixtures';
import { GuestConsole } from '../support/guest';

const fixtures = loadFixtures();

/** The guest shell, typed into through the adapter (kdap/serialInput) and read from its output. */
function shell(dc: KdapClient): GuestConsole {
  return new GuestConsole(
    {
      on: (event, listener) => {
        if (event === 'console') dc.on('output', (e: DebugProtocol.OutputEvent) => e.body.category === 'stdout' && listener(e.body.output));
        return undefined;
      },
      write: (text) => {
        void dc.customRequest('kdap/serialInput', { text });
        return true;
      },
    },
    fixtures.guest.prompt,
  );
}

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
    const guest = shell(dc);
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

    async function walk(va: string, cpu: number, mm?: string): Promise<WalkJson> {
      const r = await request<WalkJson>('kdap/walk', { va, cpu, ...(mm ? { mm } : {}) });
      timings.push(`kdap/walk ${va}${mm ? ` mm=${mm}` : ''}: ${r.ms.toFixed(1)} ms, ${r.mi} MI`);
      return r.body;
    }

    /** What gdb itself prints for a console command (`-exec` in the REPL). */
    async function gdbConsole(command: string): Promise<string> {
      const from = dc.trace.length;
      const r = await dc.evaluateRequest({ expression: `-exec ${command}`, context: 'repl' });
      // Monitor output is relayed as target output (@"…"), which the trace keeps.
      const target = dc.trace.slice(from).filter((l) => l.startsWith('← @')).map((l) => JSON.parse(l.slice(3).trim()) as string);
      return r.body.result + target.join('');
    }

    /** QEMU's own translation, on the monitor's CPU `cpu`. */
    async function gva2gpa(cpu: number, va: bigint): Promise<bigint | 'unmapped'> {
      await gdbConsole(`monitor cpu ${cpu}`);
      const text = await gdbConsole(`monitor gva2gpa 0x${va.toString(16)}`);
      if (/Unmapped/.test(text)) return 'unmapped';
      const m = /gpa: (0x[0-9a-fA-F]+)/.exec(text);
      assert.ok(m, `gva2gpa said: ${text}`);
      return BigInt(m[1]);
    }

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
      await dc.close();
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

    test('a second kdap/cpus in the same stop is answered from the cache', async () => {
      const r = await request<{ cpus: CpuInfo[] }>('kdap/cpus', {});
      assert.equal(r.mi, 0);
      assert.deepEqual(r.body.cpus, cpus);
    });

    test('disconnect', async () => {
      await dc.disconnectRequest({ terminateDebuggee: true });
    });
  });
}
