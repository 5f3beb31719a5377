#!/usr/bin/env node
// Attach → UI ready on a running guest: kdap's adapter (DAP `attach` to QEMU's gdbstub) vs plain
// gdb/MI doing the same work (-file-exec-and-symbols, -target-select remote, -thread-info,
// -stack-list-frames, -stack-list-variables). One guest boots; rounds alternate the contenders
// on it (each attaches, reaches a UI-ready stop, detaches; the kernel runs on), so load hits
// both alike. Both timers run from spawning the process (the adapter, or gdb) to the last answer
// (threads, the stopped thread's 20-frame stack, its scopes and locals for kdap).
//
// Like with like, the same warm gdb index for everyone:
//   first: kdap with no struct layouts stored for this vmlinux (its first session) vs gdb;
//   warm:  kdap with the layouts its earlier sessions stored vs gdb.
// Every attach of either contender must have stopped with one thread per CPU, a stack and an
// answer for the locals, or the bench stops without a ratio. MI commands are counted in one
// extra traced attach of each kind (tracing costs time, so timed attaches are not traced).
//   node bench/attach-live.mjs [x86_64|arm64] [rounds]
// KDAP_ADAPTER=path/to/adapter.js measures another build of the adapter (an earlier commit's);
// KDAP_BEFORE=path/to/adapter.js adds that build as contenders of its own in the same rounds.
// KDAP_BENCH_MODULE=1 loads the test module in the guest first (its symbols come at attach).
// `server first|warm`: kdap through the adapter process the extension keeps per window
// (`adapter.js --listen`), started before the rounds; timed from connecting to its socket.
// KDAP_ATTACH_TIMELINE=1 prints the traced attaches' output with times from the spawn.
// Prints medians and ratios; never a pass/fail.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import * as net from 'node:net';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const arch = process.argv[2] === 'arm64' ? 'arm64' : 'x86_64';
const rounds = Number(process.argv[3] ?? 5);
const smp = 2;
const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
const fx = manifest.arches[arch];
const indexDir = path.join(cache, 'gdb-index');
const adapterJs = process.env.KDAP_ADAPTER ? path.resolve(process.env.KDAP_ADAPTER) : path.join(root, 'dist', 'adapter.js');
const beforeJs = process.env.KDAP_BEFORE ? path.resolve(process.env.KDAP_BEFORE) : undefined;
const withModule = process.env.KDAP_BENCH_MODULE === '1';
const { DebugClient } = require('@vscode/debugadapter-testsupport');
const { QemuProcess } = require(path.join(root, 'out', 'src', 'engine', 'qemu.js'));
const { GdbBackend } = require(path.join(root, 'out', 'src', 'gdb', 'backend.js'));
const { startAdapterServer } = require(path.join(root, 'out', 'test', 'support', 'adapter-server.js'));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = () => Number(process.hrtime.bigint()) / 1e6;

function invalid(who, why) {
  console.error(`bench attach-live: ${who} did not do the work: ${why}`);
  process.exit(1);
}

/** An index cache dir with gdb's warm index for this vmlinux and no stored struct layouts. */
function firstSessionDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-bench-first-'));
  const index = path.join(indexDir, `${fx.buildId}.gdb-index`);
  if (!fs.existsSync(index)) throw new Error(`no warm gdb index at ${index}: run a session (or bench/stop.mjs) once first`);
  fs.linkSync(index, path.join(dir, path.basename(index)));
  return dir;
}

function within(promise, what, trace, ms = 120_000) {
  let timer;
  const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`kdap: no ${what} after ${ms} ms; output tail:\n${trace.slice(-12).join('')}`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function kdapAttach(qemu, indexCacheDir, traced, adapter = adapterJs, server = undefined) {
  const output = [];
  const t0 = now();
  const dc = new DebugClient(process.execPath, adapter, 'kdap');
  let socket;
  dc.defaultTimeout = 120_000;
  const stamped = [];
  dc.on('output', (e) => {
    output.push(e.body.output);
    stamped.push(`${(now() - t0).toFixed(1).padStart(7)} ms ${e.body.output.trimEnd().slice(0, 160)}`);
  });
  const mark = (what) => stamped.push(`${(now() - t0).toFixed(1).padStart(7)} ms [client] ${what}`);
  if (server) {
    socket = await new Promise((resolve, reject) => {
      const c = net.createConnection(server.socket, () => resolve(c));
      c.on('error', reject);
    });
    dc.connect(socket, socket);
    mark('connected to the adapter server');
  } else {
    await dc.start();
    mark('adapter process up');
  }
  await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path', supportsProgressReporting: true });
  const tAttach = now();
  mark('initialize answered; attach');
  const first = dc.waitForEvent('stopped');
  await Promise.all([
    dc.attachRequest({ type: 'kdap', request: 'attach', vmlinux: fx.vmlinux, remote: qemu.gdbAddress, sourceRoot: manifest.sourceRoot, substitutePath: fx.substitutePath, indexCacheDir, trace: traced }),
    dc.waitForEvent('initialized').then(() => dc.configurationDoneRequest()),
  ]);
  const ev = await within(first, 'stop after attach', output);
  const tStopped = now();
  mark('stopped event');
  const miBefore = output.filter((l) => l.startsWith('→ ')).length;
  const threads = await dc.threadsRequest();
  const st = await dc.stackTraceRequest({ threadId: ev.body.threadId, startFrame: 0, levels: 20 });
  const frames = st.body.stackFrames;
  if (frames.length === 0) invalid('kdap', 'no stack frames');
  const scopes = await dc.scopesRequest({ frameId: frames[0].id });
  const locals = await dc.variablesRequest({ variablesReference: scopes.body.scopes[0].variablesReference });
  const t1 = now();
  mark('locals answered: UI ready');
  if (traced && process.env.KDAP_ATTACH_TIMELINE) console.log(`timeline of a traced attach (tracing adds time):\n${stamped.join('\n')}`);
  const mi = output.filter((l) => l.startsWith('→ ')).length;
  await dc.disconnectRequest({ terminateDebuggee: false });
  if (socket) socket.end();
  else await Promise.race([dc.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
  if (threads.body.threads.length !== smp) invalid('kdap', `${threads.body.threads.length} threads`);
  if (!Array.isArray(locals.body.variables)) invalid('kdap', 'no answer for the locals');
  const real = frames.filter((f) => f.presentationHint !== 'label');
  return {
    ms: t1 - t0,
    fromAttach: t1 - tAttach,
    toStopped: tStopped - t0,
    mi: traced ? mi : undefined,
    miAfterStop: traced ? mi - miBefore : undefined,
    top: real[0]?.name,
    frames: real.length,
    locals: locals.body.variables.length,
    modules: output.filter((l) => /^Module symbols: /.test(l)).join('').trim(),
  };
}

async function gdbAttach(qemu, traced = false) {
  const t0 = now();
  const gdb = new GdbBackend({
    gdbPath: 'gdb-multiarch',
    args: ['-iex', `set index-cache directory ${indexDir}`, '-iex', 'set index-cache enabled on', '-iex', 'set pagination off', '-iex', 'set confirm off'],
    timeoutMs: 120_000,
  });
  let sent = 0;
  gdb.on('trace', (dir) => dir === 'send' && sent++);
  const stamped = [];
  const mark = (what) => stamped.push(`${(now() - t0).toFixed(1).padStart(7)} ms ${what}`);
  await gdb.start();
  mark('gdb up');
  const sent0 = sent;
  await gdb.send('-file-exec-and-symbols', [fx.vmlinux]);
  mark('-file-exec-and-symbols');
  const sel = await gdb.send('-target-select', ['remote', qemu.gdbAddress]);
  mark('-target-select');
  const threads = await gdb.send('-thread-info');
  mark('-thread-info');
  const thread = String(threads.results['current-thread-id'] ?? 1);
  const st = await gdb.send('-stack-list-frames', ['--thread', thread, '0', '19']);
  mark('-stack-list-frames');
  const locals = await gdb.send('-stack-list-variables', ['--thread', thread, '--frame', '0', '--simple-values']);
  const t1 = now();
  mark('-stack-list-variables: UI ready');
  if (traced && process.env.KDAP_ATTACH_TIMELINE) console.log(`timeline of a plain gdb/MI attach:\n${stamped.join('\n')}`);
  const mi = sent - sent0;
  await gdb.send('-target-detach');
  await gdb.stop();
  if (sel.cls !== 'connected') invalid('gdb/MI', `-target-select answered ${sel.cls}`);
  if (threads.results.threads.length !== smp) invalid('gdb/MI', `${threads.results.threads.length} threads`);
  const frames = st.results.stack.map((f) => f.frame ?? f);
  if (frames.length === 0) invalid('gdb/MI', 'no stack frames');
  if (!Array.isArray(locals.results.variables)) invalid('gdb/MI', 'no answer for the locals');
  return { ms: t1 - t0, mi, top: frames[0].func, frames: frames.length, locals: locals.results.variables.length };
}

console.log(`bench attach-live: ${arch}, adapter ${path.relative(process.cwd(), adapterJs)}, ${rounds} rounds (first + warm kdap, 2 gdb each), smp ${smp}, warm gdb index${withModule ? ', test module loaded' : ''}`);
const dirs = [];
const qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch, smp, gdb: true, startPaused: false });
let server;
try {
  const deadline = Date.now() + 300_000;
  while (!qemu.consoleText.includes(manifest.guest.prompt)) {
    if (Date.now() > deadline) throw new Error(`guest did not boot: ${qemu.consoleText.slice(-500)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  if (withModule) {
    qemu.write(`insmod ${fx.kmod.guestPath}; echo KDAP-INSMOD-$?\n`);
    const until = Date.now() + 60_000;
    while (!/KDAP-INSMOD-\d/.test(qemu.consoleText)) {
      if (Date.now() > until) throw new Error('insmod did not answer');
      await new Promise((r) => setTimeout(r, 200));
    }
    if (!qemu.consoleText.includes('KDAP-INSMOD-0')) throw new Error(`insmod failed: ${qemu.consoleText.slice(-500)}`);
  }
  // The adapter process the extension keeps for a window (`--listen`), up before the rounds as it
  // is before a session in an editor that has had one.
  server = await startAdapterServer({}, adapterJs);
  dirs.push(server.dir);
  // The warm layouts are stored by the first kdap attach of the run into `warmDir`.
  const warmDir = firstSessionDir();
  const beforeWarmDir = firstSessionDir();
  dirs.push(warmDir, beforeWarmDir);
  const res = { first: [], warm: [], 'server first': [], 'server warm': [], gdb: [], 'before first': [], 'before warm': [] };
  // Untimed, traced: MI counts, and the warm dirs get their layouts.
  const countFirst = await kdapAttach(qemu, warmDir, true);
  const countWarm = await kdapAttach(qemu, warmDir, true);
  const countServer = await kdapAttach(qemu, warmDir, true, adapterJs, server);
  const countGdb = await gdbAttach(qemu, true);
  const countBefore = beforeJs && [await kdapAttach(qemu, beforeWarmDir, true, beforeJs), await kdapAttach(qemu, beforeWarmDir, true, beforeJs)];
  for (let r = 0; r < rounds; r++) {
    const firstDir = firstSessionDir();
    const beforeFirstDir = firstSessionDir();
    dirs.push(firstDir, beforeFirstDir);
    const kinds = ['first', 'gdb', 'warm', 'gdb', 'server first', 'gdb', 'server warm', 'gdb', ...(beforeJs ? ['before first', 'gdb', 'before warm', 'gdb'] : [])];
    // Every round a different rotation, so no contender always follows the same one.
    const order = [...kinds.slice(r % kinds.length), ...kinds.slice(0, r % kinds.length)];
    const line = [];
    for (const who of order) {
      const dir = { first: firstDir, warm: warmDir, 'server first': firstDir, 'server warm': warmDir, 'before first': beforeFirstDir, 'before warm': beforeWarmDir }[who];
      const got = who === 'gdb' ? await gdbAttach(qemu) : await kdapAttach(qemu, dir, false, who.startsWith('before') ? beforeJs : adapterJs, who.startsWith('server') ? server : undefined);
      res[who].push(got);
      line.push(`${who} ${got.ms.toFixed(0)} ms (${got.top}, ${got.frames} frames, ${got.locals} locals)`);
    }
    console.log(`  round ${r + 1}: ${line.join(', ')}`);
  }
  const ms = (xs, k = 'ms') => median(xs.map((x) => x[k]));
  console.log(`every attach: stopped, ${smp} threads, a stack and the locals answered`);
  if (countFirst.modules) console.log(`kdap says: ${countFirst.modules}`);
  console.log(`MI commands, attach → UI ready: kdap first ${countFirst.mi} (${countFirst.miAfterStop} after the stopped event), warm ${countWarm.mi} (${countWarm.miAfterStop} after), gdb/MI ${countGdb.mi}`);
  const row = (name, k) => console.log(`${name.padEnd(12)} kdap ${ms(k).toFixed(0).padStart(5)} ms (attach request → ready ${ms(k, 'fromAttach').toFixed(0)} ms, spawn → stopped event ${ms(k, 'toStopped').toFixed(0)} ms)   gdb/MI ${ms(res.gdb).toFixed(0).padStart(5)} ms   ratio kdap/gdb ${(ms(k) / ms(res.gdb)).toFixed(2)}`);
  if (countBefore) console.log(`MI commands of the build before: first ${countBefore[0].mi}, warm ${countBefore[1].mi}`);
  console.log(`MI commands through the adapter server (warm): ${countServer.mi}`);
  row('first', res.first);
  row('warm', res.warm);
  row('server first', res['server first']);
  row('server warm', res['server warm']);
  if (beforeJs) {
    console.log(`build before: ${path.relative(process.cwd(), beforeJs)}`);
    row('before first', res['before first']);
    row('before warm', res['before warm']);
  }
} finally {
  server?.proc.stdin.end();
  await qemu.kill();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}
