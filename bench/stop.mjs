#!/usr/bin/env node
// Warm stops: a breakpoint in a hot function (scheduler_tick, hit from the timer interrupt; the
// guest runs two busy loops so it ticks), and
// for each stop what VS Code asks before the UI is ready: threads, the stopped thread's stack
// (20 frames), its scopes and locals. kdap (the built adapter, attached to a booted guest) vs
// plain gdb/MI doing the same work (-thread-info, -stack-list-frames, -stack-list-variables)
// on the same guest, with the same warm gdb index. Rounds alternate the contenders on one QEMU
// (each attaches, takes N stops, detaches; the kernel runs on), so load hits both alike.
//
// The timer of a stop runs from gdb's `*stopped` record (for kdap: the adapter's trace line
// of it) to the last answer. MI commands are counted over the same span. Every stop of either
// contender must be in scheduler_tick with every CPU listed and locals answered, or the bench
// stops without a ratio. Junk frames (a pc below the kernel's floor, 0, or named after a
// per-CPU symbol linked at 0) are counted the same way for both, and for kdap how many stops
// that end in an interrupt handler show the interrupted context.
//   node bench/stop.mjs [x86_64|arm64] [rounds] [stops per round]
// KDAP_ADAPTER=path/to/adapter.js measures another build of the adapter (an earlier commit's).
// KDAP_STOP_TIMELINE=1 prints, for each kdap stop, the adapter's trace and the answers in time from `*stopped`.
// Prints medians and ratios; never a pass/fail.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const arch = process.argv[2] === 'arm64' ? 'arm64' : 'x86_64';
const rounds = Number(process.argv[3] ?? 3);
const perRound = Number(process.argv[4] ?? 10);
const smp = 2;
const hot = 'scheduler_tick';
const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
const fx = manifest.arches[arch];
const indexDir = path.join(cache, 'gdb-index');
const adapterJs = process.env.KDAP_ADAPTER ? path.resolve(process.env.KDAP_ADAPTER) : path.join(root, 'dist', 'adapter.js');
const { DebugClient } = require('@vscode/debugadapter-testsupport');
const { QemuProcess } = require(path.join(root, 'out', 'src', 'engine', 'qemu.js'));
const { GdbBackend } = require(path.join(root, 'out', 'src', 'gdb', 'backend.js'));

const floor = arch === 'arm64' ? 0xfff0000000000000n : 0xff00000000000000n;
const lowSymbols = /^(fixed_percpu_data|exception_stacks|irq_stack_backing_store|__per_cpu_start)\b/;
/** Where an interrupt's C handler sits, with or without its asm stub below it. */
const irqHandler = arch === 'arm64' ? /^(el1h_64_irq(_handler)?|el0t_64_irq(_handler)?)$/ : /^(asm_)?sysvec_\w+$/;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = () => Number(process.hrtime.bigint()) / 1e6;

function invalid(who, why) {
  console.error(`bench stop: ${who} did not do the work: ${why}`);
  process.exit(1);
}

const junk = (frames) => frames.filter((f) => (f.address !== undefined && (f.address < floor || f.address === 0n)) || lowSymbols.test(f.name ?? '')).length;

/** A wait that names what it waited for, with the adapter's last words, when it times out. */
function within(promise, what, trace, ms = 60_000) {
  let timer;
  const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`kdap: no ${what} after ${ms} ms; trace tail:\n${trace.slice(-12).map((t) => t.line).join('')}`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Each MI command of a stop (its operation) with gdb's time on it, from trace lines: from its
 * answer back to when it was sent or, sent while gdb was still busy, to the answer before.
 */
function commandTimes(lines) {
  const sent = new Map();
  const out = [];
  let lastAnswer = -Infinity;
  for (const t of lines) {
    const send = /^→ (\d+)(-[\w-]+(?: console "\w+ \w+)?)/.exec(t.line);
    if (send) sent.set(send[1], { what: send[2].replace(/ console "/, ' '), at: t.at });
    const done = /^← (\d+)\^/.exec(t.line);
    const s = done && sent.get(done[1]);
    if (s) {
      out.push([s.what, t.at - Math.max(s.at, lastAnswer)]);
      lastAnswer = t.at;
    }
  }
  return out;
}

async function kdapRound(qemu) {
  const dc = new DebugClient(process.execPath, adapterJs, 'kdap');
  dc.defaultTimeout = 180_000;
  const trace = [];
  dc.on('output', (e) => {
    if (e.body.category === 'console') trace.push({ at: now(), line: e.body.output });
  });
  await dc.start();
  await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  const first = dc.waitForEvent('stopped');
  await Promise.all([
    dc.attachRequest({ type: 'kdap', request: 'attach', vmlinux: fx.vmlinux, remote: qemu.gdbAddress, sourceRoot: manifest.sourceRoot, substitutePath: fx.substitutePath, trace: true, indexCacheDir: indexDir }),
    // configurationSequence() sends configurationDone only after a launch.
    dc.waitForEvent('initialized').then(() => dc.configurationDoneRequest()),
  ]);
  await within(first, 'stop after attach', trace);
  const bp = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: hot }] });
  if (!bp.body.breakpoints[0]?.verified) invalid('kdap', `breakpoint on ${hot} not verified`);
  const out = [];
  for (let i = 0; i < perRound; i++) {
    const stopped = dc.waitForEvent('stopped');
    const from = trace.length;
    await dc.continueRequest({ threadId: 1 });
    const ev = await within(stopped, `stop ${i + 1} in ${hot}`, trace);
    const evAt = now();
    const stopLines = trace.slice(from).filter((t) => /^← \*stopped/.test(t.line));
    if (stopLines.length === 0) invalid('kdap', 'no *stopped in the trace');
    const t0 = stopLines[stopLines.length - 1].at;
    const afterStop = trace.indexOf(stopLines[stopLines.length - 1]);
    const marks = [['stopped event', evAt]];
    const mark = (what) => marks.push([what, now()]);
    const threads = await dc.threadsRequest();
    mark('threads');
    const st = await dc.stackTraceRequest({ threadId: ev.body.threadId, startFrame: 0, levels: 20 });
    mark('stackTrace');
    const scopes = await dc.scopesRequest({ frameId: st.body.stackFrames[0].id });
    mark('scopes');
    const locals = await dc.variablesRequest({ variablesReference: scopes.body.scopes[0].variablesReference });
    mark('variables');
    const ms = now() - t0;
    const mi = trace.slice(afterStop).filter((t) => t.line.startsWith('→ ')).length;
    if (process.env.KDAP_STOP_TIMELINE) {
      console.log(`  stop ${i + 1}: ${ms.toFixed(1)} ms`);
      for (const t of trace.slice(afterStop)) console.log(`    +${(t.at - t0).toFixed(2).padStart(6)} ${t.line.trimEnd().slice(0, 160)}`);
      for (const [what, at] of marks) console.log(`    +${(at - t0).toFixed(2).padStart(6)} [bench] ${what}`);
    }
    const frames = st.body.stackFrames;
    if (frames[0].name !== hot) invalid('kdap', `stopped in ${frames[0].name}`);
    if (threads.body.threads.length !== smp) invalid('kdap', `${threads.body.threads.length} threads`);
    if (locals.body.variables.length === 0) invalid('kdap', 'no locals');
    const real = frames.filter((f) => f.presentationHint !== 'label');
    const labelAt = frames.findIndex((f) => f.presentationHint === 'label' && /^── /.test(f.name));
    const gdbFrames = labelAt < 0 ? frames : frames.slice(0, labelAt);
    const inIrq = gdbFrames.some((f) => irqHandler.test(f.name));
    out.push({
      ms, mi, commands: commandTimes(trace.slice(afterStop)),
      junk: junk(real.map((f) => ({ name: f.name, address: f.instructionPointerReference ? BigInt(f.instructionPointerReference) : undefined }))),
      inIrq, shown: labelAt >= 0, bottom: gdbFrames[gdbFrames.length - 1]?.name,
    });
  }
  await dc.setFunctionBreakpointsRequest({ breakpoints: [] });
  await dc.disconnectRequest({ terminateDebuggee: false });
  await Promise.race([dc.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
  return out;
}

async function gdbRound(qemu) {
  const gdb = new GdbBackend({
    gdbPath: 'gdb-multiarch',
    args: ['-iex', `set index-cache directory ${indexDir}`, '-iex', 'set index-cache enabled on', '-iex', 'set pagination off', '-iex', 'set confirm off'],
    timeoutMs: 120_000,
  });
  let sent = 0;
  let stoppedAt = 0;
  let onStop;
  gdb.on('trace', (dir) => dir === 'send' && sent++);
  gdb.on('exec', (e) => {
    if (e.cls === 'stopped') {
      stoppedAt = now();
      onStop?.(e.results);
    }
  });
  await gdb.start();
  await gdb.send('-gdb-set', ['mi-async', 'on']);
  await gdb.send('-file-exec-and-symbols', [fx.vmlinux]);
  await gdb.send('-target-select', ['remote', qemu.gdbAddress]);
  const bp = await gdb.send('-break-insert', [hot]);
  const out = [];
  for (let i = 0; i < perRound; i++) {
    const stopped = new Promise((r) => (onStop = r));
    await gdb.send('-exec-continue');
    const rec = await stopped;
    const sent0 = sent;
    const t0 = stoppedAt;
    const thread = String(rec['thread-id']);
    const commands = [];
    const timed = async (op, args) => {
      const at = now();
      const r = await gdb.send(op, args);
      commands.push([op, now() - at]);
      return r;
    };
    const threads = await timed('-thread-info');
    const st = await timed('-stack-list-frames', ['--thread', thread, '0', '19']);
    const locals = await timed('-stack-list-variables', ['--thread', thread, '--frame', '0', '--simple-values']);
    const ms = now() - t0;
    const frames = st.results.stack.map((f) => f.frame ?? f).map((f) => ({ name: f.func, address: f.addr ? BigInt(f.addr) : undefined }));
    if (frames[0].name !== hot) invalid('gdb/MI', `stopped in ${frames[0].name}`);
    if (threads.results.threads.length !== smp) invalid('gdb/MI', `${threads.results.threads.length} threads`);
    if (locals.results.variables.length === 0) invalid('gdb/MI', 'no locals');
    out.push({ ms, mi: sent - sent0, junk: junk(frames), commands });
  }
  await gdb.send('-break-delete', [bp.results.bkpt.number]);
  await gdb.send('-target-detach');
  await gdb.stop();
  return out;
}

console.log(`bench stop: ${arch}, adapter ${path.relative(process.cwd(), adapterJs)}, ${rounds} rounds × ${perRound} stops each, breakpoint in ${hot}, smp ${smp}, warm index`);
const qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch, smp, gdb: true, startPaused: false });
try {
  const deadline = Date.now() + 300_000;
  while (!qemu.consoleText.includes(manifest.guest.prompt)) {
    if (Date.now() > deadline) throw new Error(`guest did not boot: ${qemu.consoleText.slice(-500)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  // An idle guest barely ticks (NO_HZ): keep both CPUs busy, one in user space, one mostly in
  // the kernel, so the timer interrupts user code and kernel code alike.
  qemu.write('while :; do :; done &\n');
  qemu.write('while :; do cat /proc/kallsyms > /dev/null; done &\n');
  const kdap = [];
  const gdb = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? ['kdap', 'gdb'] : ['gdb', 'kdap'];
    for (const who of order) {
      const got = who === 'kdap' ? await kdapRound(qemu) : await gdbRound(qemu);
      (who === 'kdap' ? kdap : gdb).push(...got);
      console.log(`  round ${r + 1} ${who.padEnd(4)}: median ${median(got.map((s) => s.ms)).toFixed(1)} ms, ${median(got.map((s) => s.mi))} MI`);
    }
  }
  const row = (name, xs) => `${name.padEnd(8)} ${median(xs.map((s) => s.ms)).toFixed(1).padStart(7)} ms  ${String(median(xs.map((s) => s.mi))).padStart(3)} MI/stop (max ${Math.max(...xs.map((s) => s.mi))})  junk frames ${xs.reduce((n, s) => n + s.junk, 0)} in ${xs.filter((s) => s.junk > 0).length}/${xs.length} stops`;
  console.log(`every stop: in ${hot}, ${smp} threads, locals answered`);
  console.log(row('kdap', kdap));
  console.log(row('gdb/MI', gdb));
  // Where the time goes: each command's median (over the stops that sent it), gdb's time on it.
  const perCommand = (xs) => {
    const by = new Map();
    for (const s of xs) for (const [what, ms] of s.commands) by.set(what, [...(by.get(what) ?? []), ms]);
    return [...by].map(([what, ms]) => `${what} ${median(ms).toFixed(2)} ms (${ms.length})`).join(', ');
  };
  console.log(`  kdap MI, median gdb time (stops that sent it): ${perCommand(kdap)}`);
  console.log(`  gdb/MI, median gdb time (stops that sent it): ${perCommand(gdb)}`);
  console.log(`ratio kdap/gdb (median warm stop → UI ready): ${(median(kdap.map((s) => s.ms)) / median(gdb.map((s) => s.ms))).toFixed(2)}`);
  const irq = kdap.filter((s) => s.inIrq);
  const bottoms = [...new Set(irq.map((s) => s.bottom))].join(', ');
  console.log(`kdap stops in an interrupt handler: ${irq.length}/${kdap.length}, interrupted context shown on ${irq.filter((s) => s.shown).length}/${irq.length} (stacks ending at: ${bottoms})`);
} finally {
  await qemu.kill();
}
