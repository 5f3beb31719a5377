#!/usr/bin/env node
// What stopping a randomized boot at start_kernel costs: QEMU reset → the stop at start_kernel,
// each contender on the same Debian fixture kernel, same QEMU command line but for nokaslr.
//
//   flock /tmp/kdap-qemu.lock node bench/kaslr-launch.mjs [x86_64|arm64] [runs] [--dap]
//
// The product first: F5 through the debug adapter (dist/adapter.js over DAP, launch request →
// stopped at start_kernel), nokaslr (the baseline) against KASLR, where the adapter runs the
// early-stop plan and moves the symbols before stopping. Every stop is checked: start_kernel's
// frame, its pc inside start_kernel at the slide the adapter said. --dap runs this part only.
//
// Then the plans alone over a bare gdb:
// x86_64:  nokaslr + 1 breakpoint (the baseline) · KASLR + the decompressor-exit plan, then
//          start_kernel (what a launch does) · KASLR + a breakpoint at each of the 484 possible
//          addresses (the fallback when the decompressor's landmarks are not found).
// arm64:   nokaslr + 1 breakpoint · KASLR + the br x8 plan, then start_kernel.
// Every contender must stop in start_kernel at the address /proc/kallsyms would give (checked
// against the slide the stop implies and the banner there); times are medians, ratios against
// the baseline. Needs `npm run build` and `npx tsc -p tsconfig.test.json` (out/) first.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const out = (p) => path.join(root, 'out', 'src', p);
for (const f of ['engine/qemu.js', 'engine/linked-kernel.js', 'kernel/kaslr-boot.js']) {
  if (!fs.existsSync(out(f))) {
    console.error(`missing out/src/${f}: run npx tsc -p tsconfig.test.json first`);
    process.exit(2);
  }
}
const { QemuProcess } = require(out('engine/qemu.js'));
const { LiveTarget } = require(out('engine/live-target.js'));
const { GdbBackend } = require(out('gdb/backend.js'));
const { insert } = require(out('gdb/mi/breakpoints.js'));
const { readVmlinuxFacts } = require(out('engine/linked-kernel.js'));
const { earlyStopPlan, runToSlide } = require(out('kernel/kaslr-boot.js'));
const { verifySlide } = require(out('kernel/kaslr.js'));
const { continueToStop, value } = require(path.join(root, 'out', 'test', 'support', 'gdb-run.js'));

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const dapOnly = process.argv.includes('--dap');
const arch = args[0] === 'arm64' ? 'arm64' : 'x86_64';
const runs = Math.max(1, Number(args[1] ?? 1));
const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const fx = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8')).arches[arch];
const hex = (v) => `0x${v.toString(16)}`;

/** One boot: returns ms from the first continue to the stop at start_kernel, and the slide. */
async function once(facts, contender) {
  const append = contender.kaslr ? fx.append.replace(/\s*\bnokaslr\b/, '') : fx.append;
  const qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append, arch, machine: fx.machine, cpu: fx.cpu, smp: 2, memory: '512M', gdb: true, startPaused: true });
  const gdb = new GdbBackend({ gdbPath: 'gdb-multiarch', args: ['-iex', `set index-cache directory ${cache}/gdb-index`, '-iex', 'set index-cache enabled on', '-iex', 'set confirm off'], timeoutMs: 300_000 });
  try {
    await gdb.start();
    await gdb.send('-gdb-set', ['mi-async', 'on']);
    await gdb.send('-gdb-set', ['architecture', fx.gdbArchitecture]);
    await gdb.send('-file-exec-and-symbols', [fx.vmlinux]);
    await gdb.send('-target-select', ['remote', qemu.gdbAddress]);
    const target = new LiveTarget(gdb, arch, { qemu: () => true });
    const startKernel = facts.symbols.get('start_kernel');
    const full = earlyStopPlan(arch, facts, { image: fs.readFileSync(fx.kernel) });
    const plan = contender.plan === 'fallback' ? full.fallback : full;
    const boot = {
      target,
      breakAt: async (a) => void (await insert(gdb, `*${hex(a)}`)),
      clearBreakpoints: async () => void (await gdb.send('-break-delete')),
      resume: async () => {
        const thread = await continueToStop(gdb);
        target.invalidate();
        return thread - 1;
      },
    };
    const t0 = performance.now();
    let slide = 0n;
    let thread;
    let breakpoints = 1;
    if (contender.plan === 'one') {
      await insert(gdb, `*${hex(startKernel)}`);
      thread = await continueToStop(gdb);
    } else {
      const r = await runToSlide(boot, facts, plan);
      slide = r.slide;
      thread = r.cpu + 1;
      breakpoints = plan.kind === 'every-slide' ? plan.addresses.length : plan.kind === 'decompressor-exit' ? 3 : 2;
      if (r.pc !== startKernel + slide) {
        await insert(gdb, `*${hex(startKernel + slide)}`);
        thread = await continueToStop(gdb);
      }
    }
    const ms = performance.now() - t0;
    const pc = await value(gdb, '$pc', thread);
    target.invalidate();
    if (pc !== startKernel + slide) throw new Error(`${contender.name}: stopped at ${hex(pc)}, not start_kernel + ${hex(slide)}`);
    if (!(await verifySlide(target, facts, slide))) throw new Error(`${contender.name}: no banner at the slide ${hex(slide)}`);
    return { ms, slide, breakpoints };
  } finally {
    await gdb.stop().catch(() => undefined);
    await qemu.kill();
  }
}

const contenders =
  arch === 'x86_64'
    ? [
        { name: 'nokaslr, 1 breakpoint (baseline)', kaslr: false, plan: 'one' },
        { name: 'KASLR, decompressor exit', kaslr: true, plan: 'early' },
        { name: 'KASLR, every slot (fallback)', kaslr: true, plan: 'fallback' },
      ]
    : [
        { name: 'nokaslr, 1 breakpoint (baseline)', kaslr: false, plan: 'one' },
        { name: 'KASLR, br x8 then start_kernel', kaslr: true, plan: 'early' },
      ];

const facts = await readVmlinuxFacts(fx.vmlinux);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One F5 through the adapter: ms from the launch request to the stop at start_kernel, and the slide. */
async function f5(kaslr) {
  const { KdapClient } = require(path.join(root, 'out', 'test', 'support', 'dap.js'));
  const dc = new KdapClient();
  await dc.start();
  try {
    await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
    const entry = dc.stopped('entry', 600_000);
    const append = kaslr ? fx.append.replace(/\s*\bnokaslr\b/, '') : fx.append;
    const t0 = performance.now();
    await Promise.all([
      dc.launchRequest({ type: 'kdap', request: 'launch', kernel: fx.kernel, vmlinux: fx.vmlinux, initrd: fx.initrd, append, smp: 2, memory: '512M', stopAt: 'start_kernel' }),
      dc.waitForEvent('initialized').then(() => dc.configurationDoneRequest()),
    ]);
    const thread = (await entry).body.threadId;
    const ms = performance.now() - t0;
    const top = (await dc.stackTraceRequest({ threadId: thread, levels: 1 })).body.stackFrames[0];
    const said = /KASLR: slide (0x[0-9a-f]+)/.exec(dc.trace.join(''));
    const slide = said ? BigInt(said[1]) : 0n;
    if (kaslr !== (said !== null)) throw new Error(`F5 ${kaslr ? 'KASLR' : 'nokaslr'}: the adapter ${said ? 'said' : 'did not say'} a slide`);
    const pc = BigInt(top.instructionPointerReference);
    const start = facts.symbols.get('start_kernel') + slide;
    if (top.name !== 'start_kernel' || pc < start || pc >= start + 0x40n) throw new Error(`F5: stopped in ${top.name} at ${hex(pc)}, not start_kernel + ${hex(slide)}`);
    return { ms, slide, breakpoints: 0 };
  } finally {
    await dc.endLaunch().catch(() => undefined);
  }
}

const dapResults = [];
for (const kaslr of [false, true]) {
  const times = [];
  let last;
  for (let i = 0; i < runs; i++) {
    last = await f5(kaslr);
    times.push(last.ms);
  }
  dapResults.push({ name: kaslr ? 'F5, KASLR (plan + symbols moved)' : 'F5, nokaslr (baseline)', ms: median(times), times, last });
}
console.log(`${arch}: F5 through the adapter → stopped at start_kernel (median of ${runs}; checked: start_kernel's frame at the slide the adapter said)`);
for (const r of dapResults) {
  console.log(`  ${r.name.padEnd(36)} ${(r.ms / 1000).toFixed(2).padStart(7)} s  ×${(r.ms / dapResults[0].ms).toFixed(2)}  (slide ${hex(r.last.slide)}; runs ${r.times.map((t) => (t / 1000).toFixed(2)).join(', ')} s)`);
}
if (dapOnly) process.exit(0);
const results = [];
for (const c of contenders) {
  const times = [];
  let last;
  for (let i = 0; i < runs; i++) {
    last = await once(facts, c);
    times.push(last.ms);
  }
  results.push({ ...c, ms: median(times), times, last });
}
const base = results[0].ms;
console.log(`${arch}: QEMU reset → stopped at start_kernel (median of ${runs}; every stop checked: pc = start_kernel + slide, banner there)`);
for (const r of results) {
  console.log(
    `  ${r.name.padEnd(36)} ${(r.ms / 1000).toFixed(2).padStart(7)} s  ×${(r.ms / base).toFixed(2)}  ` +
      `(${r.last.breakpoints} bp, slide ${hex(r.last.slide)}; runs ${r.times.map((t) => (t / 1000).toFixed(1)).join(', ')} s)`,
  );
}
