#!/usr/bin/env node
// A kgdb stop with 100+ tasks: how long until the UI is ready, and how many bytes cross the
// serial line, kdap vs plain gdb on the same stop.
//
//   plain gdb   `target remote` on the kgdb port, then `info threads` + `bt` (what a gdb user or
//               a front end that polls every thread does), timed from after the connect.
//   kdap        attach to the same stop, then what VS Code asks for: threads, the stopped
//               thread's stack (20 frames), the other CPUs' top frames, the CPUs view; tasks
//               only if the Tasks group is opened (timed separately, first page of 20).
//               Then continue / Pause (SysRq-g) / UI ready, a few times.
//
// Bytes are RSP bytes from the target (packets and acks): gdb's `set debug remote 1` for plain
// gdb, the adapter's kgdb trace for kdap.
//   node bench/kgdb.mjs [x86_64|arm64] [rounds]      (needs `npm run compile-tests` and a build)
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

  const plain = [];
  const kdapFirst = [];
  const kdapPause = [];
  let tasksPage;
  for (let round = 0; round < rounds; round++) {
    // The same stop for both: SysRq-g on the console, plain gdb, `disconnect` (the kernel stays
    // in kgdb), then kdap attaches to it.
    const from = consoleText().length;
    await typeOnConsole(consolePort, 'echo g > /proc/sysrq-trigger');
    await until('sysrq', () => /sysrq: DEBUG/.test(consoleText().slice(from)), 30_000);
    await sleep(1000);
    plain.push(await plainGdb());
    const r = await kdap(round === 0);
    kdapFirst.push(r.first);
    kdapPause.push(...r.pauses);
    tasksPage ??= r.tasksPage;
  }
  const threads = plain[0].threads;
  const row = (name, xs) => `${name.padEnd(44)} ${(median(xs.map((x) => x.ms)) / 1000).toFixed(2).padStart(7)} s ${String(median(xs.map((x) => x.bytes))).padStart(8)} B`;
  console.log(`\nkgdb ${arch}: ${threads} gdb threads (${threads - 2} tasks + 2 CPUs), ${rounds} rounds, medians`);
  console.log(`${''.padEnd(44)} ${'time'.padStart(9)} ${'line RSP'.padStart(10)}`);
  console.log(row('plain gdb: info threads + bt', plain));
  console.log(row('kdap: attach stop -> UI ready', kdapFirst));
  console.log(row('kdap: Pause (SysRq-g) -> stopped', kdapPause.map((p) => ({ ms: p.toStop, bytes: p.stopBytes }))));
  console.log(row('kdap: stopped -> UI ready', kdapPause));
  if (tasksPage) console.log(row('kdap: open Tasks group (first 20 tasks)', [tasksPage]));
  const ratio = (a, b) => (a / b).toFixed(1);
  console.log(`\nratios (plain gdb / kdap): time ${ratio(median(plain.map((x) => x.ms)), median(kdapPause.map((x) => x.ms)))}x, bytes ${ratio(median(plain.map((x) => x.bytes)), median(kdapPause.map((x) => x.bytes)))}x (stop -> UI ready)`);
  console.log(`per packet round trip: ${(median(plain.map((x) => x.ms / Math.max(1, x.packets))) ).toFixed(0)} ms (plain gdb: ${plain[0].packets} packets)`);
} finally {
  await qemu.kill();
}

/** Plain gdb on the kgdb port: info threads + bt, timed in gdb itself; bytes from `debug remote`. */
async function plainGdb() {
  const script = [
    'python import time',
    'python t0 = time.time()',
    'info threads',
    'bt',
    'python print("KDAP-BENCH %.3f" % (time.time() - t0))',
    'python print("KDAP-THREADS %d" % len(gdb.selected_inferior().threads()))',
    'disconnect',
  ];
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
  const ms = Number(/KDAP-BENCH ([\d.]+)/.exec(out)?.[1]) * 1000;
  const threads = Number(/KDAP-THREADS (\d+)/.exec(out)?.[1]);
  // gdb 13: `[remote] Packet received: ...` per reply, and `[remote] getpkt: ...`/acks.
  const replies = [...err.matchAll(/Packet received: (.*)/g)].map((m) => m[1]);
  const bytes = replies.reduce((n, p) => n + p.length + 4 /* $ # cs */ + 1 /* ack */, 0);
  if (!Number.isFinite(ms)) throw new Error(`plain gdb failed:\n${out.slice(-2000)}\n${err.slice(-2000)}`);
  return { ms, bytes, threads, packets: replies.length };
}

/** kdap on the stop that is waiting now, then `pauses` continue/Pause rounds. */
async function kdap(withTasks) {
  const dc = new DebugClient(process.execPath, path.join(root, 'dist', 'adapter.js'), 'kdap');
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
  let tasksPage;
  if (withTasks) {
    const mark = trace.length;
    const t = performance.now();
    await dc.stackTraceRequest({ threadId: 99_999, startFrame: 0, levels: 20 });
    tasksPage = { ms: performance.now() - t, bytes: lineBytes(trace.slice(mark)) };
  }
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
  return { first, pauses, tasksPage };
}

/** What VS Code asks after a stop, plus the CPUs view. */
async function uiReady(dc, trace, threadId) {
  const mark = trace.length;
  const t = performance.now();
  const threads = (await dc.threadsRequest()).body.threads;
  await dc.stackTraceRequest({ threadId, startFrame: 0, levels: 20 });
  for (const th of threads) if (th.id !== threadId && th.name.startsWith('CPU')) await dc.stackTraceRequest({ threadId: th.id, startFrame: 0, levels: 1 });
  await dc.customRequest('kdap/cpus', {});
  return { ms: performance.now() - t, bytes: lineBytes(trace.slice(mark)) };
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
