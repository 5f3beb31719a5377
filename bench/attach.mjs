#!/usr/bin/env node
// F5 → stopped at start_kernel: kdap's adapter vs plain `gdb -batch` doing the same work
// (start QEMU paused, load vmlinux, connect, hardware-break at start_kernel, continue, bt,
// threads, locals, one type lookup), each with a cold gdb index (empty cache dir) and a warm
// one. Both timers cover the same span: from before QEMU is started to the type lookup's answer
// (gdb stamps that moment itself; its kill and exit are not counted). Every run of either
// contender must have stopped at start_kernel with 2 threads and the same sizeof answer, or the
// bench stops without a ratio. Also counts the MI commands kdap sends from a stop to a UI-ready
// state (threads + stack + scopes + locals).
//   node bench/attach.mjs [x86_64|arm64] [runs]
// Prints medians and ratios; never a pass/fail.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const arch = process.argv[2] === 'arm64' ? 'arm64' : 'x86_64';
const runs = Number(process.argv[3] ?? 3);
const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
const fx = manifest.arches[arch];
const { DebugClient } = require('@vscode/debugadapter-testsupport');
const { QemuProcess } = require(path.join(root, 'out', 'src', 'engine', 'qemu.js'));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Stops the bench: a contender that did not do the work has no time worth comparing. */
function invalid(who, why) {
  console.error(`bench attach: ${who} did not do the work: ${why}`);
  process.exit(1);
}

async function kdapOnce(indexCacheDir) {
  const dc = new DebugClient(process.execPath, path.join(root, 'dist', 'adapter.js'), 'kdap');
  dc.defaultTimeout = 300_000;
  const trace = [];
  dc.on('output', (e) => {
    if (e.body.category === 'console') trace.push(e.body.output);
  });
  // The adapter starts QEMU itself: the timer starts before.
  const t0 = Date.now();
  await dc.start();
  await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  const stopped = dc.waitForEvent('stopped', 300_000);
  await Promise.all([
    dc.launch({ type: 'kdap', request: 'launch', kernel: fx.kernel, vmlinux: fx.vmlinux, initrd: fx.initrd, append: fx.append, smp: 2,
      sourceRoot: manifest.sourceRoot, substitutePath: fx.substitutePath, stopAt: 'start_kernel', trace: true, indexCacheDir }),
    dc.configurationSequence(),
  ]);
  const ev = await stopped;
  const before = trace.filter((l) => l.startsWith('→')).length;
  const threads = await dc.threadsRequest();
  const st = await dc.stackTraceRequest({ threadId: ev.body.threadId, startFrame: 0, levels: 20 });
  const scopes = await dc.scopesRequest({ frameId: st.body.stackFrames[0].id });
  await dc.variablesRequest({ variablesReference: scopes.body.scopes[0].variablesReference });
  // A type lookup: what the first hover or watch costs when the index is cold.
  const size = await dc.evaluateRequest({ expression: 'sizeof(struct task_struct)', frameId: st.body.stackFrames[0].id, context: 'watch' });
  const ms = Date.now() - t0;
  const miPerStop = trace.filter((l) => l.startsWith('→')).length - before - 1;
  await dc.disconnectRequest({ terminateDebuggee: true });
  await Promise.race([dc.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
  const top = st.body.stackFrames[0].name;
  if (ev.body.reason !== 'entry' || top !== 'start_kernel') invalid('kdap', `stopped (${ev.body.reason}) in ${top}`);
  if (threads.body.threads.length !== 2) invalid('kdap', `${threads.body.threads.length} threads`);
  return { ms, miPerStop, sizeof: Number(size.body.result) };
}

async function gdbOnce(indexCacheDir) {
  // The same span as kdap's: QEMU's start is inside the timer.
  const t0 = Date.now();
  const qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch, smp: 2, gdb: true, startPaused: true });
  const args = ['-nx', '-batch'];
  if (indexCacheDir) args.push('-iex', `set index-cache directory ${indexCacheDir}`, '-iex', 'set index-cache enabled on');
  args.push(fx.vmlinux, '-ex', `target remote ${qemu.gdbAddress}`, '-ex', 'hbreak start_kernel', '-ex', 'continue', '-ex', 'bt',
    '-ex', 'info threads', '-ex', 'info locals', '-ex', 'p sizeof(struct task_struct)',
    // The end of the span, stamped by gdb itself: its kill and exit are not the user's wait.
    '-ex', 'python import time; print("KDAP-END %.3f" % time.time())', '-ex', 'kill');
  let out = '';
  await new Promise((resolve, reject) => {
    const g = spawn('gdb-multiarch', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    g.stdout.on('data', (d) => (out += d));
    g.stderr.resume();
    g.on('exit', resolve);
    g.on('error', reject);
  });
  await qemu.kill();
  const end = Number(/KDAP-END ([\d.]+)/.exec(out)?.[1]) * 1000;
  if (!Number.isFinite(end)) invalid('gdb -batch', `no end stamp:\n${out.slice(-1500)}`);
  if (!/^#0\s+start_kernel\b/m.test(out)) invalid('gdb -batch', `bt does not start at start_kernel:\n${out.slice(-1500)}`);
  const threads = (out.match(/^[* ] +\d+ +Thread /gm) ?? []).length;
  if (threads !== 2) invalid('gdb -batch', `${threads} threads:\n${out.slice(-1500)}`);
  const sizeof = Number(/^\$1 = (\d+)$/m.exec(out)?.[1]);
  return { ms: end - t0, sizeof };
}

function freshDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-bench-index-'));
}

const warmDir = path.join(cache, 'gdb-index');
const results = { kdapCold: [], gdbCold: [], kdapWarm: [], gdbWarm: [], mi: [], sizeof: undefined };
console.log(`bench attach: ${arch}, ${runs} runs each; vmlinux ${(fs.statSync(fx.vmlinux).size / 2 ** 20).toFixed(0)} MiB`);
for (let i = 0; i < runs; i++) {
  const d1 = freshDir();
  const kc = await kdapOnce(d1);
  fs.rmSync(d1, { recursive: true, force: true });
  const d2 = freshDir();
  const gc = await gdbOnce(d2);
  fs.rmSync(d2, { recursive: true, force: true });
  const kw = await kdapOnce(warmDir);
  const gw = await gdbOnce(warmDir);
  for (const r of [kc, gc, kw, gw]) if (r.sizeof !== gc.sizeof || !(r.sizeof > 0)) invalid('a contender', `sizeof(struct task_struct) answers differ: kdap ${kc.sizeof}/${kw.sizeof}, gdb ${gc.sizeof}/${gw.sizeof}`);
  results.kdapCold.push(kc.ms);
  results.gdbCold.push(gc.ms);
  results.kdapWarm.push(kw.ms);
  results.gdbWarm.push(gw.ms);
  results.mi.push(kw.miPerStop);
  results.sizeof = gc.sizeof;
  console.log(`  run ${i + 1}: kdap cold ${results.kdapCold[i].toFixed(0)} ms, gdb cold ${results.gdbCold[i].toFixed(0)} ms, kdap warm ${results.kdapWarm[i].toFixed(0)} ms, gdb warm ${results.gdbWarm[i].toFixed(0)} ms`);
}
const row = (name, k, g) => console.log(`${name.padEnd(34)} kdap ${median(k).toFixed(0).padStart(6)} ms   gdb -batch ${median(g).toFixed(0).padStart(6)} ms   ratio kdap/gdb ${(median(k) / median(g)).toFixed(2)}`);
console.log(`every run: stopped at start_kernel, 2 threads, sizeof(struct task_struct) = ${results.sizeof}`);
row('F5 → stopped + UI ready (cold index)', results.kdapCold, results.gdbCold);
row('F5 → stopped + UI ready (warm index)', results.kdapWarm, results.gdbWarm);
console.log(`MI commands from a stop to UI ready (threads, stack, scopes, locals): ${median(results.mi)} (gdb CLI: bt + info threads + info locals = 3 commands)`);
const ok = spawnSync('pgrep', ['-f', 'qemu-system-.*kdap'], { encoding: 'utf8' });
if (ok.stdout.trim()) console.log(`warning: QEMU still running: ${ok.stdout.trim()}`);
