/**
 * kgdb attach over DAP, on the custom kgdb kernels (scripts/fixtures-kgdb.sh), one boot per arch:
 *
 *   x86_64  kgdboc=ttyS1: the kgdb line is a second UART, the console (ttyS0) has its own TCP
 *           port; KGDB_KDB is on, so SysRq-g enters kdb first.
 *   arm64   kgdboc=ttyAMA0: QEMU virt has one PL011, so console and kgdb share one line and the
 *           adapter splits it; no kdb.
 *
 * Both boot with kgdbwait, so the attach finds the kernel waiting in kgdb. Then: threads are the
 * CPUs plus a Tasks group, the boot continues to the shell (typed through the adapter's console),
 * Pause breaks in with SysRq-g, a breakpoint on do_sys_openat2 hits from a command typed on the
 * console, kernel views work without system registers, an Oops stops at the exception filter,
 * and disconnect leaves the kernel running.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { findFreePort, QemuProcess } from '../../src/engine/qemu';
import { KdapClient, repoRoot } from '../support/dap';
import { alive, childProcesses } from '../support/processes';
import { kgdbFixture, loadFixtures, type FixtureArch, type KgdbKernelFixture } from '../support/fixtures';

const fixtures = loadFixtures();

const TASKS_THREAD_ID = 99_999;

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Boot {
  qemu: QemuProcess;
  /** QEMU's copy of everything the console printed, also while no client was connected. */
  consoleLog: string;
  kgdb: Record<string, unknown>;
}

/** QEMU with the UART(s) on TCP ports of 127.0.0.1, logging the console to a file. */
async function boot(arch: FixtureArch, k: KgdbKernelFixture, dir: string): Promise<Boot> {
  const consoleLog = path.join(dir, 'console.log');
  const consolePort = await findFreePort();
  const serial = (id: string, port: number, log?: string): string[] => [
    '-chardev', `socket,id=${id},host=127.0.0.1,port=${port},server=on,wait=off${log ? `,logfile=${log}` : ''}`,
    '-serial', `chardev:${id}`,
  ];
  const args = ['-M', k.machine, '-cpu', k.cpu, '-accel', 'tcg', '-smp', '2', '-m', '512M', '-display', 'none', '-monitor', 'none', '-no-reboot'];
  args.push('-kernel', k.kernel, '-initrd', k.initrd);
  // x86_64 kgdb cannot take out breakpoints set during boot once the text is read-only
  // (kdap warns about it at attach); Documentation/dev-tools/kgdb.rst: run without it.
  const rodata = arch === 'x86_64' ? ' rodata=off' : '';
  args.push('-append', `${k.append} kgdboc=${k.kgdbTty},115200 kgdbwait${rodata}`);
  args.push(...serial('con', consolePort, consoleLog));
  let kgdb: Record<string, unknown>;
  if (k.kgdbTty === k.console) {
    kgdb = { port: `tcp:127.0.0.1:${consolePort}`, shareConsole: true };
  } else {
    const kgdbPort = await findFreePort();
    args.push(...serial('kgdb', kgdbPort));
    kgdb = { port: `tcp:127.0.0.1:${kgdbPort}`, console: `tcp:127.0.0.1:${consolePort}`, shareConsole: false };
  }
  const qemu = await QemuProcess.spawn({ program: k.qemu, args, arch, gdbPort: undefined });
  return { qemu, consoleLog, kgdb };
}

/** QEMU's chardev takes one client at a time: retry until the adapter's connection is gone. */
async function connectWithRetry(port: number, timeoutMs: number): Promise<net.Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const sock = net.connect({ host: '127.0.0.1', port });
        sock.once('connect', () => resolve(sock));
        sock.once('error', reject);
      });
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** The TCP port of the console UART. */
function consolePort(b: Boot): number {
  return Number(/:(\d+)$/.exec(String(b.kgdb.console ?? b.kgdb.port))![1]);
}

for (const arch of (['x86_64', 'arm64'] as const).filter((a) => !process.env.KDAP_E2E_ARCH || a === process.env.KDAP_E2E_ARCH)) {
  const found = kgdbFixture(arch);
  const k = 'missing' in found ? undefined : found;
  describe(`kgdb attach on ${arch}`, { concurrency: false, skip: 'missing' in found ? found.missing : false }, () => {
    const dc = new KdapClient();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kdap-kgdb-${arch}-`));
    let b: Boot;
    let cpuThread = 0;
    let second: KdapClient | undefined;

    /** Waits for the console (as the adapter relays it) to show `re` after `from`. */
    const consoleShows = (re: RegExp, from: number, ms = 120_000) => dc.waitForConsole(re, ms, from);

    before(async () => {
      b = await boot(arch, k!, dir);
      // kgdbwait: the kernel stops at the kgdboc initcall and waits for gdb.
      await until('KGDB: Waiting for connection', () => fs.existsSync(b.consoleLog) && /KGDB: Waiting for connection/.test(fs.readFileSync(b.consoleLog, 'utf8')), 120_000);
      await dc.start();
    });

    after(async () => {
      dc.saveLogs(`kgdb-${arch}`);
      second?.saveLogs(`kgdb-${arch}-reattach`);
      // Before anything that can hang: QEMU must not outlive the test.
      await b?.qemu.kill();
      await dc.close();
      await second?.close();
      if (b && fs.existsSync(b.consoleLog)) fs.copyFileSync(b.consoleLog, path.join(repoRoot, 'test-artifacts', 'e2e', `kgdb-${arch}.qemu-console.log`));
    });

    test('attach finds the kernel waiting in kgdb; threads are the CPUs, then a Tasks group', { timeout: 240_000 }, async () => {
      await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
      const stopped = dc.stopped('entry', 120_000);
      await Promise.all([
        dc.attachRequest({ vmlinux: k!.vmlinux, kgdb: b.kgdb, sourceRoot: fixtures.sourceRoot, modulePaths: [path.dirname(k!.kmod.ko)], trace: true } as DebugProtocol.AttachRequestArguments),
        dc.waitForEvent('initialized').then(() => dc.configurationDoneRequest()),
      ]);
      const e = await stopped;
      // kgdb holds every CPU; VS Code shows the others as running unless the event says so.
      assert.equal(e.body.allThreadsStopped, true);
      const threads = (await dc.threadsRequest()).body.threads;
      assert.deepEqual(threads.map((t) => t.name), ['CPU 0', 'CPU 1', 'Tasks']);
      cpuThread = e.body.threadId ?? threads[0].id;
      const top = await dc.topFrame(threads[0].id);
      // kgdbwait stops in the initial breakpoint: kgdb_breakpoint (x86) / arch_kgdb_breakpoint (arm64).
      assert.match(top.name, /kgdb_breakpoint/);
      // The trace shows no -thread-info over all threads: the DAP threads request costs no task.
      assert.ok(!dc.trace.some((l) => /^→ \d+-thread-info\s*$/.test(l.trim())), 'a full -thread-info was sent');
    });

    test('the Tasks group lists tasks read from kernel memory, page by page', { timeout: 240_000 }, async () => {
      const st = await dc.stackTraceRequest({ threadId: TASKS_THREAD_ID, startFrame: 0, levels: 5 });
      const names = st.body.stackFrames.map((f) => f.name);
      assert.equal(names.length, 5);
      assert.match(names[0], /^swapper\/0 \[0\]/);
      assert.match(names.join('\n'), /kthreadd \[2\]/);
      assert.ok((st.body.totalFrames ?? 0) > 5, `totalFrames ${st.body.totalFrames}`);
      const more = await dc.stackTraceRequest({ threadId: TASKS_THREAD_ID, startFrame: 5, levels: 5 });
      assert.equal(more.body.stackFrames.length, 5);
      assert.notEqual(more.body.stackFrames[0].name, names[4]);
    });

    test('continue boots to the shell; the console comes through the adapter and takes typed commands', { timeout: 240_000 }, async () => {
      const from = dc.console.length;
      await dc.continueRequest({ threadId: cpuThread });
      await consoleShows(/guest# /, from, 180_000);
      const mark = dc.console.length;
      await dc.type('echo kdap-$((6*7))');
      await consoleShows(/kdap-42/, mark, 60_000);
    });

    test('Pause breaks in with SysRq-g', { timeout: 240_000 }, async () => {
      const stopped = dc.stopped(undefined, 60_000);
      await dc.pauseRequest({ threadId: cpuThread });
      const e = await stopped;
      assert.equal(e.body.reason, 'pause');
      const threads = (await dc.threadsRequest()).body.threads;
      assert.equal(threads.length, 3);
      const frames = (await dc.stackTraceRequest({ threadId: e.body.threadId ?? threads[0].id, levels: 20 })).body.stackFrames.map((f) => f.name);
      // Whichever CPU took the SysRq is in the debugger's entry; the stack shows how it got there.
      assert.match(frames.join(' '), /kgdb_breakpoint|sysrq_handle_dbg|kgdb_nmicallback|kgdb_cpu_enter/);
    });

    test('kernel views work without system registers: CPUs and a page walk from init_mm', { timeout: 240_000 }, async () => {
      const cpus = (await dc.customRequest('kdap/cpus', {})).body.cpus as Array<{ cpu: number; mode: string; task?: { comm: string } }>;
      assert.deepEqual(cpus.map((c) => c.cpu), [0, 1]);
      assert.ok(cpus.every((c) => c.mode === 'kernel'));
      assert.ok(cpus.some((c) => c.task), 'no current task found');
      const walk = (await dc.customRequest('kdap/walk', { va: '&jiffies', mm: 'kernel' })).body as { phys: string | null; pageSize: number | null; levels: unknown[]; fault: string | null };
      assert.equal(walk.fault, null);
      assert.equal(walk.levels.length, k!.pgtableLevels);
      // Oracle: __pa_symbol(&jiffies) from the kernel's own variables, evaluated by gdb.
      const expr = arch === 'arm64' ? '(unsigned long)&jiffies - kimage_voffset' : '(unsigned long)&jiffies - 0xffffffff80000000 + phys_base';
      const truth = await dc.evaluateRequest({ expression: `-exec p/x ${expr}`, context: 'repl' });
      assert.equal(BigInt(walk.phys!), BigInt(/0x[0-9a-f]+/.exec(truth.body.result)![0]));
      if (arch === 'arm64') assert.equal(walk.pageSize, 65536);
      // The kernel log from the ring buffer, over the slow line: its lines are the ones QEMU logged from the console.
      const dmesg = (await dc.customRequest('kdap/dmesg', {})).body as { records: Array<{ text: string; level?: number }> };
      // KERN_DEBUG records stay off the console (console_loglevel 7); the others were printed there.
      const shown = dmesg.records.filter((r) => (r.level ?? 4) < 7 && r.text.trim() !== '').map((r) => r.text.split('\n')[0]);
      const banner = shown.find((t) => /^Linux version 6\.1\./.test(t));
      assert.ok(banner, `no banner in ${shown.length} dmesg records`);
      const console = fs.readFileSync(b.consoleLog, 'utf8');
      for (const t of [banner, ...shown.slice(-5)]) assert.ok(console.includes(t), `dmesg record not on the console: ${t}`);
    });

    test('a breakpoint on do_sys_openat2 hits from a command typed on the console', { timeout: 240_000 }, async () => {
      const bps = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'do_sys_openat2' }] });
      assert.equal(bps.body.breakpoints[0].verified, true);
      const stopped = dc.stopped('breakpoint', 60_000);
      await dc.continueRequest({ threadId: cpuThread });
      await dc.type('cat /proc/version');
      const e = await stopped;
      // The stop is shown on its CPU: the thread kgdb reports is in the thread list.
      const threads = (await dc.threadsRequest()).body.threads;
      assert.ok(threads.some((t) => t.id === e.body.threadId), `stopped thread ${e.body.threadId} not in ${JSON.stringify(threads)}`);
      const top = await dc.topFrame(e.body.threadId!);
      assert.equal(top.name, 'do_sys_openat2');
      assert.match(top.source?.path ?? '', /fs\/open\.c$/);
      cpuThread = e.body.threadId!;
    });

    test('a hardware breakpoint request is set as a software one, and says so', { timeout: 240_000 }, async () => {
      const bps = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'do_sys_openat2', mode: 'hardware' } as DebugProtocol.FunctionBreakpoint] });
      assert.equal(bps.body.breakpoints[0].verified, true);
      assert.match(bps.body.breakpoints[0].message ?? '', /software/);
      await dc.setFunctionBreakpointsRequest({ breakpoints: [] });
      const from = dc.console.length;
      await dc.continueRequest({ threadId: cpuThread });
      await consoleShows(/Linux version 6\.1\.\d+-kdap-kgdb/, from, 60_000);
    });

    test('insmod stops nowhere visible and loads the module\'s symbols', { timeout: 240_000 }, async () => {
      const loaded = dc.waitForEvent('kdap/modulesChanged', 90_000);
      const mark = dc.console.length;
      await dc.type(`insmod ${k!.kmod.guestPath}`);
      await loaded;
      await consoleShows(/kdap_test: init ok/, mark, 60_000);
      const modules = dc.trace.join('');
      assert.match(modules, /add-symbol-file[^\n]*kdap_test/);
    });

    test('disconnect while the kernel runs: it is stopped, detached and keeps running', { timeout: 240_000 }, async () => {
      await dc.disconnectRequest({});
      const before = fs.readFileSync(b.consoleLog, 'utf8').length;
      const sock = await connectWithRetry(consolePort(b), 30_000);
      sock.write('\x15echo still-$((40+2))\n');
      await until('the shell to answer after detach', () => /still-42/.test(fs.readFileSync(b.consoleLog, 'utf8').slice(before)), 60_000);
      sock.destroy();
    });

    test('attach to the running kernel (no kgdbwait now): SysRq-g first; then an Oops stops at the filter', { timeout: 240_000 }, async () => {
      const again = new KdapClient();
      second = again;
      await again.start();
      await again.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
      const stopped = again.stopped('entry', 120_000);
      await Promise.all([
        again.attachRequest({ vmlinux: k!.vmlinux, kgdb: b.kgdb, sourceRoot: fixtures.sourceRoot, modulePaths: [path.dirname(k!.kmod.ko)], trace: true } as DebugProtocol.AttachRequestArguments),
        again.waitForEvent('initialized').then(async () => {
          await again.setExceptionBreakpointsRequest({ filters: ['oops'] });
          await again.configurationDoneRequest();
        }),
      ]);
      const entry = await stopped;
      assert.match(again.trace.join(''), /stopped the kernel with SysRq-g/);
      const exception = again.stopped('exception', 90_000);
      await again.continueRequest({ threadId: entry.body.threadId! });
      await again.type("sh -c 'echo o > /proc/kdap_test'");
      const e = await exception;
      const frames = (await again.stackTraceRequest({ threadId: e.body.threadId!, levels: 10 })).body.stackFrames;
      // The faulting instruction first, named from the module's symbols.
      assert.equal(frames[0].name, 'kdap_test_oops');
      assert.match(frames[0].source?.path ?? '', /kdap_test\.c$/);
    });

    test('the kgdb line going away (QEMU killed while stopped) ends the session with a message and no gdb left', { timeout: 60_000 }, async () => {
      const again = second!;
      let said = '';
      again.on('output', (e: DebugProtocol.OutputEvent) => {
        if (e.body.category === 'important') said += e.body.output;
      });
      const adapter = (again as unknown as { _adapterProcess: { pid: number } })._adapterProcess.pid;
      const gdbs = childProcesses(adapter).filter((c) => /gdb/.test(c.comm)).map((c) => c.pid);
      assert.ok(gdbs.length > 0, 'the adapter runs a gdb');
      const ended = again.waitForEvent('terminated', 30_000);
      await b.qemu.kill();
      await ended;
      assert.match(said, /kgdb line closed|connection|lost/i, `told: ${said}`);
      await until('gdb to exit', () => gdbs.every((pid) => !alive(pid)), 10_000);
    });
  });
}
