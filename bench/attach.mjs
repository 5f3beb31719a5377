#!/usr/bin/env node
// F5 → stopped at start_kernel: kdap's adapter vs plain `gdb -batch` doing the same work
// (load vmlinux, connect to a paused QEMU, hardware-break at start_kernel, continue, bt),
// each with a cold gdb index (empty cache dir) and a warm one. Also counts the MI commands
// kdap sends from a stop to a UI-ready state (threads + stack + scopes + locals).
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

async function kdapOnce(indexCacheDir) {
  const dc = new DebugClient(process.execPath, path.join(root, 'dist', 'adapter.js'), 'kdap');
  dc.defaultTimeout = 300_000;
  const trace = [];
  dc.on('output', (e) => {
    if (e.body.category === 'console') trace.push(e.body.output);
  });
  const t0 = performance.now();
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
  await dc.evaluateRequest({ expression: 'sizeof(struct task_struct)', frameId: st.body.stackFrames[0].id, context: 'watch' });
  const ms = performance.now() - t0;
  const miPerStop = trace.filter((l) => l.startsWith('→')).length - before - 1;
  await dc.disconnectRequest({ terminateDebuggee: true });
  await Promise.race([dc.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
  return { ms, miPerStop, threads: threads.body.threads.length };
}

async function gdbOnce(indexCacheDir) {
  const qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch, smp: 2, gdb: true, startPaused: true });
  const t0 = performance.now();
  const args = ['-nx', '-batch'];
  if (indexCacheDir) args.push('-iex', `set index-cache directory ${indexCacheDir}`, '-iex', 'set index-cache enabled on');
  args.push(fx.vmlinux, '-ex', `target remote ${qemu.gdbAddress}`, '-ex', 'hbreak start_kernel', '-ex', 'continue', '-ex', 'bt',
    '-ex', 'info threads', '-ex', 'info locals', '-ex', 'p sizeof(struct task_struct)', '-ex', 'kill');
  await new Promise((resolve, reject) => {
    const g = spawn('gdb-multiarch', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    g.stdout.resume();
    g.stderr.resume();
    g.on('exit', resolve);
    g.on('error', reject);
  });
  const ms = performance.now() - t0;
  await qemu.kill();
  return { ms };
}

function freshDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-bench-index-'));
}

const warmDir = path.join(cache, 'gdb-index');
const results = { kdapCold: [], gdbCold: [], kdapWarm: [], gdbWarm: [], mi: [] };
console.log(`bench attach: ${arch}, ${runs} runs each; vmlinux ${(fs.statSync(fx.vmlinux).size / 2 ** 20).toFixed(0)} MiB`);
for (let i = 0; i < runs; i++) {
  const d1 = freshDir();
  results.kdapCold.push((await kdapOnce(d1)).ms);
  fs.rmSync(d1, { recursive: true, force: true });
  const d2 = freshDir();
  results.gdbCold.push((await gdbOnce(d2)).ms);
  fs.rmSync(d2, { recursive: true, force: true });
  const warm = await kdapOnce(warmDir);
  results.kdapWarm.push(warm.ms);
  results.mi.push(warm.miPerStop);
  results.gdbWarm.push((await gdbOnce(warmDir)).ms);
  console.log(`  run ${i + 1}: kdap cold ${results.kdapCold[i].toFixed(0)} ms, gdb cold ${results.gdbCold[i].toFixed(0)} ms, kdap warm ${results.kdapWarm[i].toFixed(0)} ms, gdb warm ${results.gdbWarm[i].toFixed(0)} ms`);
}
const row = (name, k, g) => console.log(`${name.padEnd(34)} kdap ${median(k).toFixed(0).padStart(6)} ms   gdb -batch ${median(g).toFixed(0).padStart(6)} ms   ratio kdap/gdb ${(median(k) / median(g)).toFixed(2)}`);
row('F5 → stopped + UI ready (cold index)', results.kdapCold, results.gdbCold);
row('F5 → stopped + UI ready (warm index)', results.kdapWarm, results.gdbWarm);
console.log(`MI commands from a stop to UI ready (threads, stack, scopes, locals): ${median(results.mi)} (gdb CLI: bt + info threads + info locals = 3 commands)`);
const ok = spawnSync('pgrep', ['-f', 'qemu-system-.*kdap'], { encoding: 'utf8' });
if (ok.stdout.trim()) console.log(`warning: QEMU still running: ${ok.stdout.trim()}`);
