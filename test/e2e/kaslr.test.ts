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
 * The oracle for every slide is the guest's own /proc/kallsyms (`_stext` − the vmlinux's `_stext`).
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { LiveTarget, parseAddress } from '../../src/engine/live-target';
import { QemuProcess } from '../../src/engine/qemu';
import { readVmlinuxFacts } from '../../src/engine/linked-kernel';
import { GdbBackend } from '../../src/gdb/backend';
import { insert } from '../../src/gdb/mi/breakpoints';
import { earlyStopPlan, runToSlide, type BootControl } from '../../src/kernel/kaslr-boot';
import { findSlide, randomizedLayout } from '../../src/kernel/kaslr';
import { physToVirt } from '../../src/kernel/memory-model';
import { fixtureArches, fixturesCacheDir, loadFixtures, type FixtureArch } from '../support/fixtures';
import { GuestConsole } from '../support/guest';

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

/** Resumes every CPU and waits for the next stop; returns its thread id. */
async function continueToStop(gdb: GdbBackend, timeoutMs = 180_000): Promise<number> {
  const stopped = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no stop in ${timeoutMs} ms`)), timeoutMs);
    const on = (e: { cls: string; results: Record<string, unknown> }) => {
      if (e.cls !== 'stopped') return;
      clearTimeout(timer);
      gdb.off('exec', on);
      resolve(Number(e.results['thread-id'] ?? 1));
    };
    gdb.on('exec', on);
  });
  await gdb.send('-exec-continue');
  return stopped;
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

async function value(gdb: GdbBackend, expression: string, thread?: number): Promise<bigint> {
  const r = await gdb.send('-data-evaluate-expression', [...(thread ? ['--thread', String(thread)] : []), expression]);
  const v = parseAddress(String(r.results.value)) ?? BigInt(String(r.results.value).trim());
  return BigInt.asUintN(64, v);
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
    });
  });
}
