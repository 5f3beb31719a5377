#!/usr/bin/env node
// Fault injection, many times over: SIGKILL QEMU or gdb while the kernel runs, while a step is
// in flight and while it is stopped, and cut the gdbstub TCP connection (through a relay this
// script owns) while it runs and while it is stopped. A trial passes when the session ends
// (terminated, with a message) within 2 s, the adapter logs no unhandled rejection and does not
// crash, no gdb or QEMU of the adapter is left in the process table, and the next session
// starts at once. Prints passes per case and the median time from fault to terminated.
//   node bench/faults-loop.mjs [--trials 20] [--arch x86_64|arm64|both] [--cases qemu-running,drop-stopped]
// Both fixture arches by default, one table each.
// A benchmark, never a test: needs `node scripts/build.mjs` and tsc -p tsconfig.test.json.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : dflt;
};
const trials = Number(opt('trials', '20'));
const arches = { x86_64: ['x86_64'], arm64: ['arm64'], both: ['x86_64', 'arm64'] }[opt('arch', 'both')] ?? ['x86_64', 'arm64'];
const allCases = ['qemu-running', 'qemu-step', 'qemu-stopped', 'gdb-running', 'gdb-step', 'gdb-stopped', 'drop-running', 'drop-stopped'];
const cases = opt('cases', allCases.join(',')).split(',').filter((c) => allCases.includes(c));
const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
/** The arch being run (the loop at the end sets them). */
let arch;
let fx;
const { DebugClient } = require('@vscode/debugadapter-testsupport');
const { QemuProcess } = require(path.join(root, 'out', 'src', 'engine', 'qemu.js'));

const LIMIT_MS = 2000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : NaN);

let unhandled = 0;
process.on('unhandledRejection', (e) => {
  unhandled++;
  console.error(`bench: unhandled rejection in the bench itself: ${e}`);
});

// Shared with the e2e tests (compiled under out/ by `npm run compile-tests`).
const { alive, childProcesses } = require(path.join(root, 'out', 'test', 'support', 'processes.js'));
const { relay } = require(path.join(root, 'out', 'test', 'support', 'relay.js'));
/** The adapter's live children (zombies are reaped by then or about to be). */
const children = (parent) => childProcesses(parent).filter((c) => !c.zombie);

/** One adapter process with a session started; resolves once the first stop is reported. */
async function startSession(kind, shared, stopAt) {
  const dc = new DebugClient(process.execPath, path.join(root, 'dist', 'adapter.js'), 'kdap');
  dc.defaultTimeout = 120_000;
  let said = '';
  dc.on('output', (e) => {
    if (e.body.category === 'important') said += e.body.output;
  });
  await dc.start();
  const proc = dc._adapterProcess;
  const s = { dc, pid: proc.pid, stderr: '', exit: undefined, said: () => said, link: undefined, stops: 0 };
  proc.stderr.on('data', (d) => (s.stderr += d.toString()));
  proc.on('exit', (code, signal) => (s.exit = { code, signal }));
  dc.on('stopped', () => s.stops++);
  await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  const stopped = dc.waitForEvent('stopped', 120_000);
  if (kind === 'launch') {
    await Promise.all([
      dc.launch({ type: 'kdap', request: 'launch', kernel: fx.kernel, vmlinux: fx.vmlinux, initrd: fx.initrd, append: fx.append, stopAt }),
      dc.configurationSequence(),
    ]);
  } else {
    let remote = shared.qemu.gdbAddress;
    if (kind === 'relay') {
      s.link = await relay(shared.qemu.gdbPort);
      remote = `127.0.0.1:${s.link.port}`;
    }
    await Promise.all([dc.attachRequest({ type: 'kdap', request: 'attach', vmlinux: fx.vmlinux, remote }), dc.waitForEvent('initialized').then(() => dc.configurationDoneRequest())]);
  }
  s.firstStop = await stopped;
  return s;
}

async function closeSession(s) {
  const proc = s.dc._adapterProcess;
  const gone = proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : new Promise((r) => proc.once('exit', r));
  await s.dc.disconnectRequest({}).catch(() => undefined);
  // After a disconnect the adapter exits by itself and the client's stop() never settles.
  await Promise.race([gone, sleep(3000)]);
  await Promise.race([s.dc.stop().catch(() => undefined), sleep(100)]);
}

const plan = {
  'qemu-running': { kind: 'launch', stopAt: 'reset', state: 'running', victim: 'qemu' },
  // start_kernel never returns: a step out of it is still in flight when QEMU dies.
  'qemu-step': { kind: 'launch', stopAt: 'start_kernel', state: 'step-out', victim: 'qemu' },
  'qemu-stopped': { kind: 'launch', stopAt: 'reset', state: 'stopped', victim: 'qemu' },
  'gdb-running': { kind: 'attach', state: 'running', victim: 'gdb' },
  // Attached to an idle guest, the stop is in the idle loop; stepping over its hlt with
  // interrupts masked (kdap's step mode) does not finish by itself.
  'gdb-step': { kind: 'attach', state: 'next', victim: 'gdb' },
  'gdb-stopped': { kind: 'attach', state: 'stopped', victim: 'gdb' },
  'drop-running': { kind: 'relay', state: 'running', victim: 'link' },
  'drop-stopped': { kind: 'relay', state: 'stopped', victim: 'link' },
};

async function trial(name, s, shared) {
  const p = plan[name];
  const result = { ok: false, ms: undefined, why: [], inFlight: undefined };
  const procs = children(s.pid);
  const thread = s.firstStop.body.threadId ?? 1;
  if (p.state === 'running') await s.dc.continueRequest({ threadId: thread });
  if (p.state === 'step-out') await s.dc.stepOutRequest({ threadId: thread });
  if (p.state === 'next') await s.dc.nextRequest({ threadId: thread });
  const stopsAtFault = s.stops;
  const terminated = s.dc.waitForEvent('terminated', 15_000).then(() => Date.now(), () => undefined);
  let t0;
  if (p.victim === 'link') {
    t0 = Date.now();
    s.link.cut();
  } else {
    const victim = procs.find((c) => (p.victim === 'qemu' ? c.comm.startsWith('qemu-system') : c.comm.includes('gdb')));
    if (!victim) {
      result.why.push(`no ${p.victim} among ${JSON.stringify(procs)}`);
      return result;
    }
    t0 = Date.now();
    process.kill(victim.pid, 'SIGKILL');
  }
  const at = await terminated;
  if (p.state === 'step-out' || p.state === 'next') result.inFlight = s.stops === stopsAtFault;
  if (at === undefined) result.why.push('no terminated event within 15 s');
  else {
    result.ms = at - t0;
    if (result.ms > LIMIT_MS) result.why.push(`terminated after ${result.ms} ms`);
  }
  if (!s.said().trim()) result.why.push('no message to the user');
  // Reaping takes a moment after terminated; give it the same budget.
  const deadline = Date.now() + LIMIT_MS;
  let left = procs.filter((c) => alive(c.pid));
  while (left.length && Date.now() < deadline) {
    await sleep(100);
    left = left.filter((c) => alive(c.pid));
  }
  if (left.length) result.why.push(`left running: ${left.map((c) => `${c.comm}(${c.pid})`).join(' ')}`);
  if (/unhandled|UnhandledPromiseRejection/i.test(s.stderr)) result.why.push(`unhandled rejection: ${s.stderr.slice(0, 300)}`);
  if (s.exit && (s.exit.code !== 0 || s.exit.signal)) result.why.push(`adapter crashed (${JSON.stringify(s.exit)})`);
  await closeSession(s);
  if (s.link) s.link.cut();
  result.ok = result.why.length === 0;
  return result;
}

async function sharedQemu() {
  const qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch, gdb: true, startPaused: false });
  const deadline = Date.now() + 300_000;
  while (!qemu.consoleText.includes(manifest.guest.prompt)) {
    if (!qemu.running || Date.now() > deadline) throw new Error(`guest did not boot: ${qemu.consoleText.slice(-400)}`);
    await sleep(200);
  }
  return { qemu };
}

for (arch of arches) {
  fx = manifest.arches[arch];
  const rows = [];
  let shared;
  try {
    for (const name of cases) {
      const p = plan[name];
      if (p.kind !== 'launch' && !shared) shared = await sharedQemu();
      const results = [];
      let restartFailures = 0;
      let s = await startSession(p.kind, shared, p.stopAt);
      for (let i = 0; i < trials; i++) {
        const r = await trial(name, s, shared);
        // The next session starting at once is part of this trial.
        try {
          s = await startSession(p.kind, shared, p.stopAt);
        } catch (err) {
          r.ok = false;
          r.why.push(`next session did not start: ${err.message}`);
          restartFailures++;
          s = await startSession(p.kind, shared, p.stopAt);
        }
        results.push(r);
        process.stderr.write(`${arch} ${name} #${i + 1}: ${r.ok ? 'pass' : 'FAIL'} ${r.ms ?? '-'} ms${r.inFlight === false ? ' (step had finished)' : ''}${r.why.length ? ` — ${r.why.join('; ')}` : ''}\n`);
      }
      await closeSession(s);
      const inFlight = results.filter((r) => r.inFlight !== undefined);
      rows.push({
        case: name,
        passes: `${results.filter((r) => r.ok).length}/${results.length}`,
        'median ms': median(results.filter((r) => r.ms !== undefined).map((r) => r.ms)),
        'max ms': Math.max(...results.filter((r) => r.ms !== undefined).map((r) => r.ms)),
        note: inFlight.length ? `step in flight ${inFlight.filter((r) => r.inFlight).length}/${inFlight.length}` : restartFailures ? `${restartFailures} restarts failed` : '',
      });
    }
  } finally {
    await shared?.qemu.kill();
  }
  console.log(`faults-loop ${arch}, ${trials} trials per case, limit ${LIMIT_MS} ms`);
  console.table(rows);
}
if (unhandled) console.log(`${unhandled} unhandled rejections in the bench`);
// A session's client can keep a socket open after its adapter is gone: the figures are out, exit.
process.exit(0);
