#!/usr/bin/env node
// A kgdb stop with 100+ tasks: how long until the UI is ready, and how many bytes cross the
// serial line, kdap vs plain gdb, like with like:
//
//   first   the first stop a debugger sees after connecting (SysRq-g, then connect): caches
//           empty. plain gdb: `target remote`, then `info threads` + `bt` (what a gdb user or a
//           front end that polls every thread does), timed from after the connect. kdap:
//           attach, then what VS Code asks: threads, the stopped thread's stack (20 frames),
//           the other CPUs' top frames, the CPUs view.
//   warm    a later stop in the same session: a breakpoint on version_proc_show, which a loop in
//           the guest reaches every 2 s; the same requests, timed from the stop.
//
// Each contender gets its own SysRq-g stop per round and detaches after (the kernel runs on).
// Every contender's answers are checked (a stack that starts where it should, the task count)
// before a time is kept. kdap's Pause (SysRq-g) → stopped is printed too, and the first page of
// the Tasks group. Bytes are RSP bytes from the target (packets and acks): gdb's
// `set debug remote 1` for plain gdb, the adapter's kgdb trace for kdap.
//   node bench/kgdb.mjs [x86_64|arm64] [rounds]      (needs `npm run compile-tests` and a build)
// KDAP_ADAPTER=path/to/adapter.js measures another build of the adapter (an earlier commit's).
// Prints medians and ratios; never a pass/fail.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const arch = process.argv[2] === 'arm64' ? 'arm64' : 'x86_64';
const rounds = Number(process.argv[3] ?? 3);
const extraTasks = 100;
const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
const k = manifest.kgdb?.[arch];
if (!k) throw new Error('no kgdb kernels in fixtures.json: run scripts/fixtures-kgdb.sh');
const adapterJs = process.env.KDAP_ADAPTER ? path.resolve(process.env.KDAP_ADAPTER) : path.join(root, 'dist', 'adapter.js');
const { DebugClient } = require('@vscode/debugadapter-testsupport');
const { QemuProcess, findFreePort } = require(path.join(root, 'out', 'src', 'engine', 'qemu.js'));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-bench-kgdb-'));
const consoleLog = path.join(dir, 'console.log');
const consoleText = () => (fs.existsSync(consoleLog) ? fs.readFileSync(consoleLog, 'utf8') : '');

async function until(what, check, ms) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function connect(port, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await new Promise((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(200);
    }
  }
}

/** Types one line on the console, as a user at the board would, and hangs up. */
async function typeOnConsole(port, line) {
  const s = await connect(port);
  s.write(`${line}\n`);
  await sleep(300);
  s.destroy();
  await sleep(300);
}

// --- boot: console on one port; x86_64 kgdb on a second UART, arm64 on the console's --------
const consolePort = await findFreePort();
const kgdbPort = k.kgdbTty === k.console ? consolePort : await findFreePort();
const chardev = (id, port, log) => ['-chardev', `socket,id=${id},host=127.0.0.1,port=${port},server=on,wait=off${log ? `,logfile=${log}` : ''}`, '-serial', `chardev:${id}`];
const args = ['-M', k.machine, '-cpu', k.cpu, '-accel', 'tcg', '-smp', '2', '-m', '512M', '-display', 'none', '-monitor', 'none', '-no-reboot',
  '-kernel', k.kernel, '-initrd', k.initrd, '-append', `${k.append} kgdboc=${k.kgdbTty},115200${arch === 'x86_64' ? ' rodata=off' : ''}`,
  ...chardev('con', consolePort, consoleLog), ...(kgdbPort !== consolePort ? chardev('kgdb', kgdbPort) : [])];
const qemu = await QemuProcess.spawn({ program: k.qemu, args, arch, gdbPort: undefined });
try {
  await until('the guest shell', () => consoleText().includes(manifest.guest.prompt), 180_000);
  await typeOnConsole(consolePort, `for i in $(seq ${extraTasks}); do sleep 100000 & done`);
  await sleep(1500);

  // The warm stops' trigger: a reader of /proc/version every 2 s.
  await typeOnConsole(consolePort, 'while :; do cat /proc/version >/dev/null; sleep 2; done &');
  await sleep(1500);

  const plain = { first: [], warm: [] };
  const mine = { first: [], warm: [], pause: [] };
  let tasksPage;
  let threads;
  for (let round = 0; round < rounds; round++) {
    await breakIn();
    const p = await plainGdb();
    plain.first.push(p.first);
    plain.warm.push(p.warm);
    threads ??= p.threads;
    await breakIn();
    const r = await kdap(round === 0, p.threads);
    mine.first.push(r.first);
    mine.warm.push(r.warm);
    mine.pause.push(...r.pauses);
    tasksPage ??= r.tasksPage;
  }
  const med = (xs, key) => median(xs.map((x) => x[key]));
  const row = (name, xs) => `${name.padEnd(44)} ${(med(xs, 'ms') / 1000).toFixed(2).padStart(7)} s ${String(med(xs, 'bytes')).padStart(8)} B`;
  console.log(`\nkgdb ${arch}: ${threads} gdb threads (${threads - 2} tasks + 2 CPUs), ${rounds} rounds, medians`);
  console.log(`${''.padEnd(44)} ${'time'.padStart(9)} ${'line RSP'.padStart(10)}`);
  console.log(row('first stop: plain gdb (info threads + bt)', plain.first));
  console.log(row('first stop: kdap (attach stop -> UI ready)', mine.first));
  console.log(row('warm stop: plain gdb (info threads + bt)', plain.warm));
  console.log(row('warm stop: kdap (breakpoint -> UI ready)', mine.warm));
  console.log(row('kdap: Pause (SysRq-g) -> stopped', mine.pause.map((x) => ({ ms: x.toStop, bytes: x.stopBytes }))));
  console.log(row('kdap: Pause stop -> UI ready', mine.pause));
  if (tasksPage) console.log(row('kdap: open Tasks group (first 20 tasks)', [tasksPage]));
  const ratio = (a, b, key) => (med(a, key) / med(b, key)).toFixed(1);
  console.log(`\nratios plain gdb / kdap, first vs first: time ${ratio(plain.first, mine.first, 'ms')}x, bytes ${ratio(plain.first, mine.first, 'bytes')}x`);
  console.log(`ratios plain gdb / kdap, warm vs warm:   time ${ratio(plain.warm, mine.warm, 'ms')}x, bytes ${ratio(plain.warm, mine.warm, 'bytes')}x`);
  console.log(`per packet round trip: ${median(plain.first.map((x) => x.ms / Math.max(1, x.packets))).toFixed(0)} ms (plain gdb, first stop: ${plain.first[0].packets} packets)`);
} finally {
  await qemu.kill();
}

/** SysRq-g on the console, as a user at the board would; waits until the kernel is in kgdb. */
async function breakIn() {
  const from = consoleText().length;
  await typeOnConsole(consolePort, 'echo g > /proc/sysrq-trigger');
  await until('sysrq', () => /sysrq: DEBUG/.test(consoleText().slice(from)), 30_000);
  await sleep(1000);
}

function invalid(who, why) {
  throw new Error(`bench kgdb: ${who} did not do the work: ${why}`);
}

/**
 * Plain gdb on the kgdb port: first stop (after the connect) and a warm one (a breakpoint after
 * `continue`), each `info threads` + `bt` timed in gdb itself; bytes from `debug remote`, cut at
 * markers gdb writes into the same log stream. Detaches at the end: the kernel runs on.
 */
async function plainGdb() {
  const mark = (name) => `python gdb.write("KDAP-MARK ${name}\\n", gdb.STDLOG)`;
  const timed = (name) => [
    mark(`${name}-start`),
    'python t0 = time.time()',
    'info threads',
    'bt',
    `python print("KDAP-${name} %.3f %d" % (time.time() - t0, len(gdb.selected_inferior().threads())))`,
    mark(`${name}-end`),
  ];
  const script = ['python import time', ...timed('FIRST'), 'break version_proc_show', 'continue', ...timed('WARM'), 'delete', 'detach'];
  const gargs = ['-nx', '-batch', k.vmlinux, '-ex', 'set remotetimeout 30', '-ex', `target remote 127.0.0.1:${kgdbPort}`, '-ex', 'set debug remote 1'];
  for (const line of script) gargs.push('-ex', line);
  let out = '';
  let err = '';
  await new Promise((resolve, reject) => {
    const g = spawn('gdb-multiarch', gargs, { stdio: ['ignore', 'pipe', 'pipe'] });
    g.stdout.on('data', (d) => (out += d));
    g.stderr.on('data', (d) => (err += d));
    g.on('exit', resolve);
    g.on('error', reject);
  });
  const part = (name) => {
    const m = new RegExp(`KDAP-${name} ([\\d.]+) (\\d+)`).exec(out);
    if (!m) invalid('plain gdb', `no ${name} measurement:\n${out.slice(-2000)}\n${err.slice(-2000)}`);
    const log = err.slice(err.indexOf(`KDAP-MARK ${name}-start`), err.indexOf(`KDAP-MARK ${name}-end`));
    // gdb 13: `[remote] Packet received: ...` per reply.
    const replies = [...log.matchAll(/Packet received: (.*)/g)].map((x) => x[1]);
    const bytes = replies.reduce((n, p) => n + p.length + 4 /* $ # cs */ + 1 /* ack */, 0);
    return { ms: Number(m[1]) * 1000, threads: Number(m[2]), bytes, packets: replies.length };
  };
  const first = part('FIRST');
  const warm = part('WARM');
  const bts = [...out.matchAll(/^#0\s+(?:0x[0-9a-f]+ in )?(\S+)/gm)].map((m) => m[1]);
  if (bts.length < 2) invalid('plain gdb', `two backtraces expected, got ${JSON.stringify(bts)}`);
  if (bts[1] !== 'version_proc_show') invalid('plain gdb', `the warm stop is in ${bts[1]}, not version_proc_show`);
  if (first.threads < extraTasks) invalid('plain gdb', `${first.threads} threads at the first stop`);
  return { first, warm, threads: first.threads };
}

/**
 * kdap on the stop that is waiting now: the first stop, a warm breakpoint stop, then a few
 * continue/Pause rounds; disconnects at the end (the kernel runs on).
 */
async function kdap(withTasks, threadsExpected) {
  const dc = new DebugClient(process.execPath, adapterJs, 'kdap');
  dc.defaultTimeout = 180_000;
  const trace = [];
  dc.on('output', (e) => {
    if (e.body.category === 'console') trace.push(e.body.output);
  });
  await dc.start();
  await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  const kgdb = kgdbPort === consolePort ? { port: `tcp:127.0.0.1:${kgdbPort}` } : { port: `tcp:127.0.0.1:${kgdbPort}`, console: `tcp:127.0.0.1:${consolePort}`, shareConsole: false };
  let stopped = dc.waitForEvent('stopped', 180_000);
  await Promise.all([
    dc.attachRequest({ vmlinux: k.vmlinux, kgdb, sourceRoot: manifest.sourceRoot, trace: true }),
    dc.waitForEvent('initialized').then(() => dc.configurationDoneRequest()),
  ]);
  let ev = await stopped;
  const first = await uiReady(dc, trace, ev.body.threadId);
  // kdap shows the CPUs as threads and the tasks in a group of their own, read on demand.
  if (first.threads < 2 || !first.top) invalid('kdap', `first stop: ${first.threads} threads, top frame ${first.top}`);
  let tasksPage;
  if (withTasks) {
    const mark = trace.length;
    const t = performance.now();
    const page = (await dc.stackTraceRequest({ threadId: 99_999, startFrame: 0, levels: 20 })).body;
    tasksPage = { ms: performance.now() - t, bytes: lineBytes(trace.slice(mark)) };
    // The group counts the kernel's tasks: at least the guest's sleepers (gdb saw threadsExpected).
    if (page.totalFrames !== undefined && page.totalFrames < extraTasks) invalid('kdap', `the Tasks group holds ${page.totalFrames} tasks; ${extraTasks} sleepers run (gdb saw ${threadsExpected} threads)`);
  }
  // Warm: the same breakpoint plain gdb used, reached by the guest's loop.
  await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'version_proc_show' }] });
  stopped = dc.waitForEvent('stopped', 60_000);
  await dc.continueRequest({ threadId: ev.body.threadId });
  ev = await stopped;
  const warm = await uiReady(dc, trace, ev.body.threadId);
  if (ev.body.reason !== 'breakpoint' || warm.top !== 'version_proc_show') invalid('kdap', `warm stop: ${ev.body.reason} in ${warm.top}`);
  await dc.setFunctionBreakpointsRequest({ breakpoints: [] });
  const pauses = [];
  for (let i = 0; i < 2; i++) {
    await dc.continueRequest({ threadId: ev.body.threadId });
    await sleep(1500);
    const mark = trace.length;
    const t = performance.now();
    stopped = dc.waitForEvent('stopped', 60_000);
    await dc.pauseRequest({ threadId: ev.body.threadId });
    ev = await stopped;
    const toStop = performance.now() - t;
    const stopBytes = lineBytes(trace.slice(mark));
    pauses.push({ ...(await uiReady(dc, trace, ev.body.threadId)), toStop, stopBytes });
  }
  await dc.disconnectRequest({});
  await Promise.race([dc.stop().catch(() => undefined), sleep(3000)]);
  return { first, warm, pauses, tasksPage };
}

/** What VS Code asks after a stop, plus the CPUs view. */
async function uiReady(dc, trace, threadId) {
  const mark = trace.length;
  const t = performance.now();
  const threads = (await dc.threadsRequest()).body.threads;
  const stack = (await dc.stackTraceRequest({ threadId, startFrame: 0, levels: 20 })).body;
  for (const th of threads) if (th.id !== threadId && th.name.startsWith('CPU')) await dc.stackTraceRequest({ threadId: th.id, startFrame: 0, levels: 1 });
  await dc.customRequest('kdap/cpus', {});
  return { ms: performance.now() - t, bytes: lineBytes(trace.slice(mark)), threads: threads.length, top: stack.stackFrames[0]?.name };
}

/** RSP bytes the target sent, from the adapter's kgdb trace lines. */
function lineBytes(lines) {
  let n = 0;
  for (const l of lines) {
    const m = /^kgdb target→(?:gdb|proxy) (.*)$/.exec(l.trimEnd());
    if (m) n += m[1].length;
  }
  return n;
}
