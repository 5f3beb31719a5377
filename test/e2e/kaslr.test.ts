/**
 * KASLR on the real thing: the Debian kernels booted WITHOUT nokaslr under QEMU, gdb on the
 * gdbstub. One boot per arch:
 *  1. launch: the early-stop plan (x86_64: the decompressor's exit into the placed, relocated
 *     kernel; arm64: the br x8 ending __primary_switch, by physical address) stops the boot where
 *     the slide becomes known; gdb is told with `symbol-file -o SLIDE`; a breakpoint at
 *     start_kernel then stops there with its source line;
 *  2. attach: the running kernel interrupted, the slide found again from the CPUs' pcs alone
 *     (what kgdb offers) and from the page tables alone (QEMU);
 *  3. the direct map that follows from the slide translates like QEMU's `gva2gpa`, and a function
 *     breakpoint through the relocated symbols hits with the line llvm-symbolizer gives for
 *     pc − slide.
 * Then the product, over DAP like VS Code: a launch without nokaslr stops at start_kernel and a
 * function breakpoint hits at the right line, and an attach to the running randomized guest
 * does the same; walks of relocated symbols equal QEMU's `gva2gpa`.
 * The oracle for every slide is the guest's own /proc/kallsyms (`_stext` − the vmlinux's `_stext`),
 * for every line llvm-symbolizer on the vmlinux at pc − that slide.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { LiveTarget } from '../../src/engine/live-target';
import { QemuProcess } from '../../src/engine/qemu';
import { readVmlinuxFacts } from '../../src/engine/linked-kernel';
import { GdbBackend } from '../../src/gdb/backend';
import { insert } from '../../src/gdb/mi/breakpoints';
import { earlyStopPlan, runToSlide, type BootControl } from '../../src/kernel/kaslr-boot';
import { findSlide, randomizedLayout } from '../../src/kernel/kaslr';
import { physToVirt } from '../../src/kernel/memory-model';
import { fixtureArches, fixturesCacheDir, loadFixtures, type FixtureArch } from '../support/fixtures';
import { GuestConsole } from '../support/guest';
import { continueToStop, value } from '../support/gdb-run';
import { KdapClient } from '../support/dap';
import { adapterShell, gva2gpa } from '../support/oracles';
import type { DebugProtocol } from '@vscode/debugprotocol';

const fixtures = loadFixtures();
const hex = (v: bigint) => `0x${v.toString(16)}`;
const pcRegister: Record<FixtureArch, string> = { x86_64: 'rip', arm64: 'pc' };
/** A physical address inside the guest's RAM, to test the direct map with. */
const ramProbe: Record<FixtureArch, bigint> = { x86_64: 0x100_0000n, arm64: 0x4100_0000n };

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function startGdb(arch: FixtureArch, vmlinux: string): Promise<GdbBackend> {
  const gdb = new GdbBackend({
    gdbPath: 'gdb-multiarch',
    args: ['-iex', `set index-cache directory ${fixturesCacheDir()}/gdb-index`, '-iex', 'set index-cache enabled on', '-iex', 'set confirm off', '-iex', 'set pagination off'],
    timeoutMs: 120_000,
  });
  await gdb.start();
  cleanups.push(() => gdb.stop());
  await gdb.send('-gdb-set', ['mi-async', 'on']);
  await gdb.send('-gdb-set', ['architecture', fixtures.arches[arch].gdbArchitecture]);
  await gdb.send('-file-exec-and-symbols', [vmlinux], 300_000);
  return gdb;
}

async function interrupt(gdb: GdbBackend): Promise<void> {
  const stopped = new Promise<void>((resolve) => {
    const on = (e: { cls: string }) => {
      if (e.cls === 'stopped') {
        gdb.off('exec', on);
        resolve();
      }
    };
    gdb.on('exec', on);
  });
  await gdb.send('-exec-interrupt', ['--all']);
  await stopped;
}

/** What QEMU's monitor answers (relayed by gdb as target output). */
async function monitor(gdb: GdbBackend, command: string): Promise<string> {
  let text = '';
  const collect = (t: string) => (text += t);
  gdb.on('log', collect);
  try {
    await gdb.console(`monitor ${command}`);
  } finally {
    gdb.off('log', collect);
  }
  return text;
}

/** `file:line` of an address as llvm-symbolizer reads the vmlinux: the oracle for gdb's lines. */
function symbolize(vmlinux: string, address: bigint): { func: string; file: string; line: number } {
  const r = spawnSync('llvm-symbolizer', [`--obj=${vmlinux}`, '--no-inlines', hex(address)], { encoding: 'utf8' });
  const [func, where] = r.stdout.trim().split('\n');
  const m = /^(.*):(\d+):\d+$/.exec(where ?? '');
  assert.ok(m, `llvm-symbolizer: ${r.stdout} ${r.stderr}`);
  return { func, file: m[1], line: Number(m[2]) };
}

async function frame(gdb: GdbBackend, thread: number): Promise<{ func: string; file: string; line: number; addr: bigint }> {
  const r = await gdb.send('-stack-info-frame', ['--thread', String(thread)]);
  const f = r.results.frame as Record<string, string>;
  return { func: f.func, file: f.file ?? '', line: Number(f.line ?? 0), addr: BigInt(f.addr) };
}

/** The slide the guest's /proc/kallsyms implies, and the runtime addresses it lists. */
async function kallsymsOracle(guest: GuestConsole, names: readonly string[], linkStext: bigint): Promise<{ slide: bigint; at: Map<string, bigint> }> {
  const text = await guest.sh(`grep -w ${['_stext', ...names].map((n) => `-e ${n}`).join(' ')} /proc/kallsyms`);
  const at = new Map<string, bigint>();
  for (const m of text.matchAll(/^([0-9a-f]{16}) \w (\w+)$/gm)) if (!at.has(m[2])) at.set(m[2], BigInt(`0x${m[1]}`));
  assert.ok(at.has('_stext'), `no _stext in /proc/kallsyms:\n${text}`);
  return { slide: at.get('_stext')! - linkStext, at };
}

/** The slide the adapter said it found, from its Debug Console lines. */
function saidSlide(dc: KdapClient): bigint {
  const m = /KASLR: slide (0x[0-9a-f]+)/.exec(dc.trace.join(''));
  assert.ok(m, `the Debug Console names no slide:\n${dc.trace.filter((l) => l.startsWith('KASLR')).join('')}`);
  return BigInt(m[1]);
}

interface Walk { va: string; phys: string | null; fault: string | null }

/**
 * At a stop in do_sys_openat2 on a randomized kernel: the frame's function and line are what
 * llvm-symbolizer gives for pc − slide, the pc is inside the function as kallsyms places it, and
 * kdap's walks of relocated symbols (text, data, the current task) equal QEMU's gva2gpa.
 */
async function checkRandomizedStop(dc: KdapClient, thread: number, vmlinux: string, slide: bigint, kallsyms: Map<string, bigint>, diag: (s: string) => void): Promise<void> {
  const top = await dc.topFrame(thread);
  const pc = BigInt(top.instructionPointerReference!);
  const want = symbolize(vmlinux, pc - slide);
  diag(`stop at ${hex(pc)} = ${want.func} ${want.file}:${want.line} at link ${hex(pc - slide)}; frame says ${top.name} ${top.source?.path}:${top.line}`);
  assert.equal(top.name, 'do_sys_openat2');
  assert.equal(want.func, 'do_sys_openat2');
  assert.equal(top.line, want.line);
  assert.ok(top.source?.path?.endsWith('fs/open.c'), `source ${top.source?.path}`);
  const entry = kallsyms.get('do_sys_openat2');
  assert.ok(entry !== undefined && pc >= entry && pc < entry + 0x100n, `pc ${hex(pc)} vs kallsyms do_sys_openat2 ${entry === undefined ? '?' : hex(entry)}`);
  const cpus = (await dc.customRequest('kdap/cpus', {})).body.cpus as Array<{ threadId: number; cpu: number; task?: { address: string } }>;
  const me = cpus.find((c) => c.threadId === thread);
  assert.ok(me?.task, `no current task on thread ${thread}`);
  for (const expr of ['&do_sys_openat2', '&jiffies_64', me.task.address]) {
    const w = (await dc.customRequest('kdap/walk', { va: expr, cpu: me.cpu })).body as Walk;
    assert.equal(w.fault, null, `${expr}: ${w.fault}`);
    const truth = await gva2gpa(dc, me.cpu, BigInt(w.va));
    diag(`walk ${expr} ${w.va} → ${w.phys}; gva2gpa ${typeof truth === 'bigint' ? hex(truth) : truth}`);
    assert.equal(w.phys, typeof truth === 'bigint' ? hex(truth) : truth, expr);
    // Data where kallsyms has it (a function's gdb address may lie past its patchable entry).
    if (expr === '&jiffies_64' && kallsyms.has('jiffies_64')) assert.equal(BigInt(w.va), kallsyms.get('jiffies_64'), `${expr} where kallsyms has it`);
  }
}

/** Breaks in do_sys_openat2 through a function breakpoint, typing a command that opens a file. */
async function hitOpenat(dc: KdapClient, thread: number, type: (line: string) => void): Promise<number> {
  const bp = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'do_sys_openat2' }] });
  assert.equal(bp.body.breakpoints[0].verified, true);
  const hit = dc.stopped('breakpoint', 120_000);
  await dc.continueRequest({ threadId: thread });
  await new Promise((r) => setTimeout(r, 300));
  type('cat /proc/version');
  return (await hit).body.threadId!;
}

for (const arch of fixtureArches) {
  describe(`KASLR on the Debian ${arch} kernel (booted without nokaslr)`, { concurrency: false }, () => {
    const fx = fixtures.arches[arch];

    test('launch stops where the slide is known, attach finds it again; both equal /proc/kallsyms', { timeout: 900_000 }, async (t) => {
      const facts = await readVmlinuxFacts(fx.vmlinux);
      const append = fx.append.replace(/\s*\bnokaslr\b/, '');
      assert.doesNotMatch(append, /nokaslr/);
      const qemu = await QemuProcess.start({
        kernel: fx.kernel, initrd: fx.initrd, append, arch, machine: fx.machine, cpu: fx.cpu, smp: 2, memory: '512M', gdb: true, startPaused: true,
      });
      cleanups.push(() => qemu.kill());
      const guest = new GuestConsole(qemu, fixtures.guest.prompt);
      let clock = Date.now();
      const gdb = await startGdb(arch, fx.vmlinux);
      t.diagnostic(`gdb loaded the vmlinux in ${Date.now() - clock} ms`);
      await gdb.send('-target-select', ['remote', qemu.gdbAddress!], 30_000);
      const target = new LiveTarget(gdb, arch, { physical: () => 'stub' });
      // gdb's own start_kernel (DWARF's entry: 8 bytes past the ELF symbol's patchable NOPs on arm64).
      const gdbStartKernel = await value(gdb, '(unsigned long)&start_kernel');

      // ---- 1. launch: the earliest stop where the slide is known ----
      const plan = earlyStopPlan(arch, facts, { image: fs.readFileSync(fx.kernel) });
      assert.ok(plan, 'the vmlinux has what the plan needs');
      assert.equal(plan.kind, arch === 'x86_64' ? 'decompressor-exit' : 'entry-branch', 'the cheap plan, not the fallback');
      const boot: BootControl = {
        target,
        breakAt: async (a) => void (await insert(gdb, `*${hex(a)}`)),
        clearBreakpoints: async () => void (await gdb.send('-break-delete')),
        resume: async () => {
          const thread = await continueToStop(gdb);
          target.invalidate();
          return thread - 1; // QEMU's vCPU n is gdb's thread n + 1
        },
      };
      clock = Date.now();
      const early = await runToSlide(boot, facts, plan);
      const slide = early.slide;
      t.diagnostic(`${plan.kind}: slide ${hex(slide)} known ${Date.now() - clock} ms after reset — ${early.steps.join('; ')}`);

      clock = Date.now();
      await gdb.console(`symbol-file -o ${hex(slide)} ${fx.vmlinux}`, 300_000);
      t.diagnostic(`symbol-file -o ${hex(slide)}: ${Date.now() - clock} ms`);
      assert.equal(await value(gdb, '(unsigned long)&start_kernel'), gdbStartKernel + slide, 'gdb moved start_kernel by the slide');

      let hitThread = early.cpu + 1;
      if (early.pc !== gdbStartKernel + slide) {
        await insert(gdb, '*start_kernel');
        clock = Date.now();
        hitThread = await continueToStop(gdb);
        t.diagnostic(`then start_kernel in ${Date.now() - clock} ms`);
        await gdb.send('-break-delete');
      }
      const top = await frame(gdb, hitThread);
      assert.equal(top.addr, gdbStartKernel + slide);
      const want = symbolize(fx.vmlinux, top.addr - slide);
      assert.deepEqual([top.func, top.line, top.file.endsWith('init/main.c')], ['start_kernel', want.line, true], `${top.func} ${top.file}:${top.line} vs ${want.file}:${want.line}`);

      await gdb.send('-exec-continue');
      await guest.waitFor(new RegExp(fixtures.guest.readyMarker), 180_000);
      await guest.waitForPrompt();
      // arm64's /proc/kallsyms starts at _stext (no _text): _stext's slide is the image's.
      const kallsyms = await guest.sh('grep -w -e _stext -e start_kernel /proc/kallsyms');
      const runtime = (name: string) => {
        const m = new RegExp(`^([0-9a-f]{16}) \\w ${name}$`, 'm').exec(kallsyms);
        assert.ok(m, `no ${name} in /proc/kallsyms output:\n${kallsyms}`);
        return BigInt(`0x${m[1]}`);
      };
      const oracle = runtime('_stext') - facts.symbols.get('_stext')!;
      t.diagnostic(`/proc/kallsyms: _stext ${hex(runtime('_stext'))} → slide ${hex(oracle)}`);
      assert.equal(slide, oracle);
      assert.equal(runtime('start_kernel'), facts.symbols.get('start_kernel')! + slide);

      // ---- 2. attach: the same kernel, interrupted ----
      await interrupt(gdb);
      target.invalidate();
      const cpus = await target.cpus();
      const pcs: bigint[] = [];
      for (let cpu = 0; cpu < cpus; cpu++) {
        const pc = (await target.registers(cpu, [pcRegister[arch]])).get(pcRegister[arch]);
        if (pc !== undefined) pcs.push(pc);
      }
      for (const [name, hints] of [
        ['pcs only (kgdb)', { pcs }],
        ['paging registers only (QEMU)', { systemRegisters: true }],
      ] as const) {
        target.invalidate();
        clock = Date.now();
        const found = await findSlide(target, facts, hints);
        t.diagnostic(`attach, ${name}: ${found.method}, ${found.requests} requests, ${Date.now() - clock} ms — ${found.detail}`);
        assert.equal(found.slide, oracle, name);
      }

      // ---- 3. what follows from the slide ----
      const layout = await randomizedLayout(target, facts, slide);
      t.diagnostic(`layout: ${[...layout.variables].map(([k, v]) => `${k}=${hex(v)}`).join(' ')}`);
      assert.ok(layout.directMap, 'the direct map is known');
      const va = physToVirt(layout.directMap, ramProbe[arch]);
      const gpa = await monitor(gdb, `gva2gpa ${hex(va)}`);
      assert.match(gpa, new RegExp(`gpa: ${hex(ramProbe[arch])}\\b`), `gva2gpa ${hex(va)}: ${gpa}`);

      await insert(gdb, 'do_sys_openat2');
      const mark = guest.mark();
      const stop = continueToStop(gdb, 120_000);
      await new Promise((r) => setTimeout(r, 500));
      guest.sendLine('cat /proc/version');
      const thread = await stop;
      const hit = await frame(gdb, thread);
      const line = symbolize(fx.vmlinux, hit.addr - slide);
      assert.deepEqual([hit.func, hit.line], ['do_sys_openat2', line.line], `${hit.func} ${hit.file}:${hit.line} at ${hex(hit.addr)} vs ${line.file}:${line.line}`);
      assert.ok(hit.file.endsWith('fs/open.c') && line.file.endsWith('fs/open.c'));
      await gdb.send('-break-delete');
      await gdb.send('-exec-continue');
      await guest.waitFor(/Linux version/, 60_000, mark);
      await guest.waitForPrompt(60_000, mark);

      // ---- 4. the product's attach to this running randomized guest, over DAP ----
      await interrupt(gdb);
      await gdb.send('-target-detach');
      const { at } = await kallsymsOracle(guest, ['do_sys_openat2', 'jiffies_64'], facts.symbols.get('_stext')!);
      const dc = new KdapClient();
      cleanups.push(() => dc.close());
      await dc.start();
      try {
        await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
        const entry = dc.stopped('entry', 120_000);
        clock = Date.now();
        await Promise.all([
          dc.attachRequest({ vmlinux: fx.vmlinux, remote: qemu.gdbAddress!, sourceRoot: fixtures.sourceRoot, substitutePath: fx.substitutePath, trace: true } as DebugProtocol.AttachRequestArguments),
          dc.waitForEvent('initialized').then(() => dc.configurationDoneRequest()),
        ]);
        const thread = (await entry).body.threadId!;
        t.diagnostic(`DAP attach stopped in ${Date.now() - clock} ms; ${dc.trace.filter((l) => l.startsWith('KASLR')).join(' ').trim()}`);
        assert.equal(saidSlide(dc), oracle, 'the slide the attach found');
        const hit = await hitOpenat(dc, thread, (line) => guest.sendLine(line));
        await checkRandomizedStop(dc, hit, fx.vmlinux, oracle, at, (s) => t.diagnostic(s));
        await dc.setFunctionBreakpointsRequest({ breakpoints: [] });
        await dc.disconnectRequest({ terminateDebuggee: false });
      } finally {
        dc.saveLogs(`kaslr-attach-${arch}`);
      }
    });

    test('DAP launch without nokaslr: stopped at start_kernel, a function breakpoint at its line, walks equal gva2gpa', { timeout: 900_000 }, async (t) => {
      const facts = await readVmlinuxFacts(fx.vmlinux);
      const dc = new KdapClient();
      cleanups.push(() => dc.close());
      await dc.start();
      try {
        await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
        const entry = dc.stopped('entry', 300_000);
        const clock = Date.now();
        await Promise.all([
          dc.launch({
            name: `kaslr ${arch}`, type: 'kdap', request: 'launch', kernel: fx.kernel, vmlinux: fx.vmlinux, initrd: fx.initrd,
            append: fx.append.replace(/\s*\bnokaslr\b/, ''), smp: 2, memory: '512M', sourceRoot: fixtures.sourceRoot, substitutePath: fx.substitutePath,
            stopAt: 'start_kernel', trace: true,
          } as DebugProtocol.LaunchRequestArguments),
          dc.waitForEvent('initialized').then(() => dc.configurationDoneRequest()),
        ]);
        let thread = (await entry).body.threadId!;
        t.diagnostic(`F5 → stopped at start_kernel in ${Date.now() - clock} ms; ${dc.trace.filter((l) => l.startsWith('KASLR')).join(' ').trim()}`);
        const top = await dc.topFrame(thread);
        const pc = BigInt(top.instructionPointerReference!);
        const slide = saidSlide(dc);
        const want = symbolize(fx.vmlinux, pc - slide);
        assert.deepEqual([top.name, want.func, top.line], ['start_kernel', 'start_kernel', want.line], `${top.name} ${top.source?.path}:${top.line} vs ${want.file}:${want.line}`);
        assert.ok(top.source?.path?.endsWith('init/main.c'), `source ${top.source?.path}`);

        const shell = adapterShell(dc, fixtures.guest.prompt);
        await dc.continueRequest({ threadId: thread });
        await shell.waitFor(new RegExp(fixtures.guest.readyMarker), 300_000);
        await shell.waitForPrompt();
        const { slide: oracle, at } = await kallsymsOracle(shell, ['start_kernel', 'do_sys_openat2', 'jiffies_64'], facts.symbols.get('_stext')!);
        t.diagnostic(`/proc/kallsyms: slide ${hex(oracle)}; the adapter said ${hex(slide)}`);
        assert.equal(slide, oracle);
        assert.notEqual(oracle, 0n, 'the kernel was randomized');
        assert.ok(pc >= at.get('start_kernel')! && pc < at.get('start_kernel')! + 0x40n, `start_kernel stop at ${hex(pc)}, kallsyms ${hex(at.get('start_kernel')!)}`);

        const pause = dc.stopped('pause');
        await dc.pauseRequest({ threadId: thread });
        thread = (await pause).body.threadId ?? thread;
        const hit = await hitOpenat(dc, thread, (line) => shell.sendLine(line));
        await checkRandomizedStop(dc, hit, fx.vmlinux, oracle, at, (s) => t.diagnostic(s));
        await dc.endLaunch();
      } finally {
        dc.saveLogs(`kaslr-launch-${arch}`);
      }
    });
  });
}
