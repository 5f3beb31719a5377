#!/usr/bin/env node
// Many sessions in one adapter process (`adapter.js --listen`, the process the extension keeps
// per window): does each session leave memory behind, or gdb processes? One guest boots; each
// session attaches over the socket, asks what VS Code asks at a stop (threads, a 20-frame
// stack, scopes, locals), lists the tasks (kdap/tasks: the task layer and its symbol table),
// shows one task's stack, and disconnects. The server's JS heap after a full GC (a preload
// answering SIGUSR2) and its RSS are printed after the first window of sessions and at the end,
// with the attach time of the first and last windows; every session must have stopped with a
// thread per CPU, listed tasks and left no gdb behind, or no figure is printed.
//   node bench/sessions.mjs [x86_64|arm64] [sessions=40]
// Prints figures, never a pass/fail. Needs `npm run build` and `npx tsc -p tsconfig.test.json`.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const arch = process.argv[2] === 'arm64' ? 'arm64' : 'x86_64';
const sessions = Math.max(4, Number(process.argv[3] ?? 40));
const windowSize = Math.max(2, Math.floor(sessions / 4));
const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
const fx = manifest.arches[arch];
const { ProtocolClient } = require('@vscode/debugadapter-testsupport/lib/protocolClient');
const { QemuProcess } = require(path.join(root, 'out', 'src', 'engine', 'qemu.js'));
const { startAdapterServer } = require(path.join(root, 'out', 'test', 'support', 'adapter-server.js'));

const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function invalid(why) {
  console.error(`bench sessions: ${why}`);
  process.exitCode = 1;
  throw new Error(why);
}

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
const gdbChildren = (pid) =>
  spawnSync('ps', ['-eo', 'pid=,ppid=,stat=,comm='], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(\S+)/.exec(l))
    .filter((m) => m && Number(m[2]) === pid && !m[3].startsWith('Z') && /gdb/.test(m[4])).length;

// The heap probe: encoded so that NODE_OPTIONS' space splitting keeps it whole.
const probe = `process.on('SIGUSR2',()=>{globalThis.gc();const m=process.memoryUsage();process.stderr.write('KDAPHEAP '+JSON.stringify({heap:m.heapUsed,ext:m.external+m.arrayBuffers})+'\\n')})`;

let server;
let qemu;

async function heap() {
  const from = server.stderr.length;
  process.kill(server.proc.pid, 'SIGUSR2');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const m = /KDAPHEAP (\{.*\})\n/.exec(server.stderr.slice(from));
    if (m) {
      const h = JSON.parse(m[1]);
      return { heap: h.heap / 1048576, ext: h.ext / 1048576, rss: rssKb(server.proc.pid) / 1024 };
    }
    await sleep(20);
  }
  invalid(`the server did not report its heap: ${server.stderr.slice(-300)}`);
}

function within(promise, what, ms = 120_000) {
  let timer;
  const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`bench sessions: no ${what} in ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const send = (client, command, args) => within(client.send(command, args), `answer to ${command}`);

async function oneSession() {
  const socket = await new Promise((resolve, reject) => {
    const s = net.createConnection(server.socket, () => resolve(s));
    s.once('error', reject);
  });
  const c = new ProtocolClient();
  c.connect(socket, socket);
  const t0 = now();
  await send(c, 'initialize', { adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  const stopped = new Promise((resolve) => c.once('stopped', resolve));
  c.once('initialized', () => void c.send('configurationDone', {}).catch(() => undefined));
  await send(c, 'attach', { vmlinux: fx.vmlinux, remote: qemu.gdbAddress, sourceRoot: manifest.sourceRoot, substitutePath: fx.substitutePath });
  const ev = await within(stopped, 'stop after attach');
  const threads = await send(c, 'threads', {});
  const st = await send(c, 'stackTrace', { threadId: ev.body.threadId, startFrame: 0, levels: 20 });
  const scopes = await send(c, 'scopes', { frameId: st.body.stackFrames[0].id });
  await send(c, 'variables', { variablesReference: scopes.body.scopes[0].variablesReference });
  const ms = now() - t0;
  if (threads.body.threads.length !== 2) invalid(`${threads.body.threads.length} threads`);
  const tTasks = now();
  const tasks = await send(c, 'kdap/tasks', {});
  const tDisc = now();
  const list = tasks.body.tasks ?? tasks.body.rows ?? [];
  if (list.length < 20) invalid(`only ${list.length} tasks listed`);
  await send(c, 'disconnect', {});
  socket.end();
  const deadline = Date.now() + 10_000;
  while (gdbChildren(server.proc.pid) > 0) {
    if (Date.now() > deadline) invalid('a session left its gdb running');
    await sleep(50);
  }
  if (process.env.KDAP_BENCH_VERBOSE) console.log(`  session: ready ${ms.toFixed(0)} ms, tasks ${(tDisc - tTasks).toFixed(0)} ms, disconnect → no gdb ${(now() - tDisc).toFixed(0)} ms`);
  return ms;
}

console.log(`bench sessions: ${arch}, ${sessions} sessions in one adapter process (attach, stop, tasks, disconnect), windows of ${windowSize}`);
try {
  qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch, smp: 2, gdb: true, startPaused: false });
  const deadline = Date.now() + 300_000;
  while (!qemu.consoleText.includes(manifest.guest.prompt)) {
    if (Date.now() > deadline) invalid(`guest did not boot: ${qemu.consoleText.slice(-300)}`);
    await sleep(200);
  }
  server = await startAdapterServer({ NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc --import=data:text/javascript,${encodeURIComponent(probe)}` });
  const times = [];
  let base;
  for (let i = 0; i < sessions; i++) {
    times.push(await oneSession());
    if (i + 1 === windowSize) base = await heap();
  }
  const end = await heap();
  console.log(`every session: stopped with 2 threads, listed the tasks, left no gdb`);
  console.log(`attach → UI ready: first ${windowSize} sessions ${median(times.slice(0, windowSize)).toFixed(0)} ms, last ${windowSize} ${median(times.slice(-windowSize)).toFixed(0)} ms (median)`);
  const per = (end.heap - base.heap) / (sessions - windowSize);
  console.log(`server after a full GC: JS heap ${base.heap.toFixed(1)} → ${end.heap.toFixed(1)} MB (${(per * 1024).toFixed(1)} kB per session over ${sessions - windowSize}), external ${base.ext.toFixed(1)} → ${end.ext.toFixed(1)} MB, RSS ${base.rss.toFixed(0)} → ${end.rss.toFixed(0)} MB`);
} finally {
  server?.proc.stdin.end();
  await qemu?.kill();
  await sleep(500);
  if (server) fs.rmSync(server.dir, { recursive: true, force: true });
}
