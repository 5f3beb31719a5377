#!/usr/bin/env node
// Soak: one long adapter session, to see whether stops or module loads get slower or leak
// memory over time. Phase 1 repeats continue → pause (or a `next`) and then asks what VS Code
// asks at every stop (threads, stackTrace of 20 levels, scopes of the top frame). Phase 2 types
// insmod/rmmod of a Debian module into the guest shell, so kdap's hidden module hooks run each
// time. Both phases report the median cycle time of the first and last window of cycles and
// the RSS of the adapter and of its gdb, against the issue's limits (20 % growth, 20 % slower).
//   node bench/soak.mjs [x86_64|arm64] [--cycles 1000] [--modules 200] [--module loop] [--next-every 10]
//                       [--run-ms 5] [--snapshots DIR]
// The adapter also reports its JS heap after a forced GC (a preload answering SIGUSR2), since
// RSS alone mixes real growth with V8 enlarging its heap; --snapshots writes heap snapshots too.
// A benchmark that prints figures, never a pass/fail; needs `node scripts/build.mjs` and
// tsc -p tsconfig.test.json (it uses out/test/support/dap.js).
import { spawnSync } from 'node:child_process';
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
const arch = argv.includes('arm64') || opt('arch', 'x86_64') === 'arm64' ? 'arm64' : 'x86_64';
const cycles = Math.max(2, Number(opt('cycles', '1000')));
const moduleCycles = Math.max(0, Number(opt('modules', '200')));
const nextEvery = Math.max(0, Number(opt('next-every', '10')));
const runMs = Math.max(0, Number(opt('run-ms', '5')));
const cycledName = opt('module', 'loop');
const LIMIT = 0.2;

const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
const fx = manifest.arches[arch];
const { KdapClient } = require(path.join(root, 'out', 'test', 'support', 'dap.js'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : NaN);
const mb = (kb) => (kb === undefined ? NaN : kb / 1024);
const pct = (a, b) => ((b - a) / a) * 100;
const guestDir = path.posix.dirname(fx.kmod.guestPath);
const ko = (name) => (name === 'kdap_test' ? fx.kmod.guestPath : `${guestDir}/${name}.ko`);
if (cycledName !== 'kdap_test' && !fx.modules[cycledName]) throw new Error(`no module ${cycledName} in the manifest (have ${Object.keys(fx.modules).join(', ')})`);

/** Rejects after `ms`: every wait on the adapter or the guest is bounded. */
function within(promise, ms, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

function rssKb(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function children(parent) {
  const r = spawnSync('ps', ['-eo', 'pid=,ppid=,stat=,comm='], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(\S+)/.exec(l))
    .filter((m) => m && Number(m[2]) === parent && !m[3].startsWith('Z'))
    .map((m) => ({ pid: Number(m[1]), comm: m[4] }));
}

const dc = new KdapClient();
dc.defaultTimeout = 60_000;
// RSS alone cannot tell a leak from V8 growing its heap lazily: a preload in the adapter answers
// SIGUSR2 with its heap after a full GC. Encoded so that NODE_OPTIONS' space splitting keeps it whole.
// With --snapshots DIR each probe also writes a heap snapshot there, to diff when the heap grows.
const snapshots = opt('snapshots', '');
const probe = `let n=0;process.on('SIGUSR2',()=>{globalThis.gc();const m=process.memoryUsage();` +
  (snapshots ? `process.getBuiltinModule('v8').writeHeapSnapshot(${JSON.stringify(path.resolve(snapshots))}+'/adapter-'+(++n)+'.heapsnapshot');` : '') +
  `process.stderr.write('KDAPHEAP '+JSON.stringify({heap:m.heapUsed,ext:m.external+m.arrayBuffers})+'\\n')})`;
dc._spawnOptions = { env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc --import=data:text/javascript,${encodeURIComponent(probe)}` } };
let adapterStderr = '';

/** The adapter's live JS heap after a full GC, in kB, and its RSS right after that GC. */
async function heapKb() {
  const from = adapterStderr.length;
  process.kill(adapterPid, 'SIGUSR2');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const m = /KDAPHEAP (\{.*\})\n/.exec(adapterStderr.slice(from));
    if (m) {
      const h = JSON.parse(m[1]);
      return { heap: h.heap / 1024, ext: h.ext / 1024, rss: rssKb(adapterPid) };
    }
    await sleep(20);
  }
  throw new Error(`the adapter did not report its heap:\n${adapterStderr.slice(-500)}`);
}
// Every pid the session owns, so that an error or ^C still leaves nothing behind.
const owned = new Set();
let adapterPid;
let gdbPid;

async function cleanup() {
  if (adapterPid) for (const c of children(adapterPid)) owned.add(c.pid);
  await within(dc.disconnectRequest({ terminateDebuggee: true }), 10_000, 'disconnect').catch(() => undefined);
  await dc.close().catch(() => undefined);
  const deadline = Date.now() + 5000;
  for (const pid of owned) {
    while (Date.now() < deadline) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await sleep(100);
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    void cleanup().finally(() => process.exit(130));
  });
}

/** A shell line in the guest, through the adapter's serial input; resolves with its output. */
async function shell(line, timeoutMs = 120_000) {
  const id = Math.random().toString(36).slice(2, 8);
  const from = dc.console.length;
  await dc.type(`echo KDAP''B${id}; ${line}; echo KDAP''E${id}:$?`);
  await dc.waitForConsole(new RegExp(`KDAPE${id}:\\d+\\n`), timeoutMs, from);
  const text = dc.console.slice(from);
  const begin = text.indexOf(`KDAPB${id}\n`) + `KDAPB${id}\n`.length;
  const m = new RegExp(`KDAPE${id}:(\\d+)`).exec(text);
  const out = text.slice(begin, m.index);
  if (m[1] !== '0') throw new Error(`\`${line}\` exited with ${m[1]}:\n${out}`);
  return out;
}

/** What VS Code asks at every stop. */
async function inspect(threadId) {
  await dc.threadsRequest();
  const st = await dc.stackTraceRequest({ threadId, startFrame: 0, levels: 20 });
  const top = st.body.stackFrames[0];
  if (top) await dc.scopesRequest({ frameId: top.id });
  return top;
}

function window(xs) {
  const w = Math.min(100, Math.floor(xs.length / 2));
  return { w, first: median(xs.slice(0, w)), last: median(xs.slice(-w)) };
}

function verdict(label, n, times, rss) {
  const { w, first, last } = window(times);
  const ratio = last / first;
  const a = rss.adapter;
  const g = rss.gdb;
  const ga = pct(a.base, a.end);
  const gg = pct(g.base, g.end);
  const ok = (x) => (x > LIMIT * 100 ? 'OVER' : 'ok');
  const h = rss.heap;
  const gh = h ? pct(h.base.heap, h.end.heap) : NaN;
  return [
    `${label}: ${n} cycles, first-${w} median ${first.toFixed(0)} ms, last-${w} median ${last.toFixed(0)} ms (${ratio.toFixed(2)}x, ${ok(pct(first, last))}); ` +
      `adapter RSS ${mb(a.base).toFixed(0)} → ${mb(a.end).toFixed(0)} MB (${ga >= 0 ? '+' : ''}${ga.toFixed(0)} %, ${ok(ga)}); ` +
      `gdb RSS ${mb(g.base).toFixed(0)} → ${mb(g.end).toFixed(0)} MB (${gg >= 0 ? '+' : ''}${gg.toFixed(0)} %, ${ok(gg)})`,
    ...(h
      ? [`  adapter after a full GC: JS heap ${(h.base.heap / 1024).toFixed(1)} → ${(h.end.heap / 1024).toFixed(1)} MB (${gh >= 0 ? '+' : ''}${gh.toFixed(0)} %, ${ok(gh)}), external ${(h.base.ext / 1024).toFixed(1)} → ${(h.end.ext / 1024).toFixed(1)} MB, RSS ${mb(h.base.rss).toFixed(0)} → ${mb(h.end.rss).toFixed(0)} MB`]
      : []),
  ];
}

const rows = [];
const sample = (phase, cycle, times) => {
  const recent = times.slice(-Math.min(50, times.length));
  rows.push({ phase, cycle, 'median ms (last 50)': Number(median(recent).toFixed(1)), 'adapter RSS MB': Number(mb(rssKb(adapterPid)).toFixed(1)), 'gdb RSS MB': Number(mb(rssKb(gdbPid)).toFixed(1)) });
};

let exitCode = 0;
try {
  const t0 = performance.now();
  await dc.start();
  adapterPid = dc._adapterProcess.pid;
  dc._adapterProcess.stderr.on('data', (d) => (adapterStderr = (adapterStderr + d.toString()).slice(-20_000)));
  owned.add(adapterPid);
  let stops = 0;
  dc.on('stopped', () => stops++);
  const hooks = { load: 0, unload: 0, freeInit: 0 };
  const hookMs = [];
  dc.on('kdap/modulesChanged', (e) => {
    hooks[e.body.change] = (hooks[e.body.change] ?? 0) + 1;
    hookMs.push(e.body.ms);
  });
  await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  await within(
    Promise.all([
      dc.launch({
        name: `soak ${arch}`, type: 'kdap', request: 'launch', kernel: fx.kernel, vmlinux: fx.vmlinux, initrd: fx.initrd, append: fx.append,
        smp: 2, memory: '512M', sourceRoot: manifest.sourceRoot, substitutePath: fx.substitutePath, stopAt: 'none',
        modulePaths: [fx.debugModulesDir, path.dirname(fx.kmod.ko)],
      }),
      dc.configurationSequence(),
    ]),
    300_000,
    'launch',
  );
  for (const c of children(adapterPid)) {
    owned.add(c.pid);
    if (c.comm.includes('gdb')) gdbPid = c.pid;
  }
  if (!gdbPid) throw new Error(`no gdb among the adapter's children: ${JSON.stringify(children(adapterPid))}`);
  await dc.waitForConsole(new RegExp(manifest.guest.prompt), 300_000);
  // A module that stays loaded, so that the final comparison has more than the cycled one.
  await shell(`insmod ${ko('brd')}`);
  console.error(`soak ${arch}: guest shell after ${((performance.now() - t0) / 1000).toFixed(1)} s; adapter ${adapterPid}, gdb ${gdbPid}`);

  // ---- phase 1: stops ------------------------------------------------------------------------
  const stepTimes = [];
  const stepRss = { adapter: {}, gdb: {} };
  const baseAt = Math.min(100, Math.floor(cycles / 2));
  let nexts = 0;
  const tops = new Map();
  let nextsPaused = 0;
  let thread = 1;
  // stopAt 'none' left the kernel running: the first cycle starts from a stop, like the rest.
  {
    const first = within(dc.waitForEvent('stopped', 600_000), 30_000, 'first pause');
    await dc.pauseRequest({ threadId: thread });
    thread = (await first).body.threadId ?? thread;
    await within(inspect(thread), 30_000, 'inspect at the first pause');
  }
  for (let i = 1; i <= cycles; i++) {
    const t = performance.now();
    if (nextEvery && i % nextEvery === 0) {
      nexts++;
      const stopped = within(dc.waitForEvent('stopped', 600_000), 3000, 'next');
      await dc.nextRequest({ threadId: thread });
      let e = await stopped.catch(() => undefined);
      // A step over the idle loop's hlt with interrupts masked may not end by itself.
      if (!e) {
        nextsPaused++;
        const paused = within(dc.waitForEvent('stopped', 600_000), 30_000, 'pause after next');
        await dc.pauseRequest({ threadId: thread });
        e = await paused;
      }
      thread = e.body.threadId ?? thread;
    } else {
      await dc.continueRequest({ threadId: thread });
      await sleep(runMs);
      const paused = within(dc.waitForEvent('stopped', 600_000), 30_000, 'pause');
      await dc.pauseRequest({ threadId: thread });
      thread = (await paused).body.threadId ?? thread;
    }
    const top = await within(inspect(thread), 30_000, `inspect at cycle ${i}`);
    tops.set(top?.name ?? '?', (tops.get(top?.name ?? '?') ?? 0) + 1);
    stepTimes.push(performance.now() - t);
    if (i === baseAt) {
      stepRss.adapter.base = rssKb(adapterPid);
      stepRss.gdb.base = rssKb(gdbPid);
      stepRss.heap = { base: await heapKb() };
    }
    if (i % 50 === 0 || i === cycles || i === baseAt) sample('step/continue', i, stepTimes);
    if (i % 100 === 0) console.error(`  step/continue ${i}/${cycles}`);
  }
  stepRss.adapter.end = rssKb(adapterPid);
  stepRss.gdb.end = rssKb(gdbPid);
  stepRss.heap.end = await heapKb();
  await dc.continueRequest({ threadId: thread });

  // ---- phase 2: insmod/rmmod -----------------------------------------------------------------
  const modTimes = [];
  const insTimes = [];
  const rmTimes = [];
  const modRss = { adapter: {}, gdb: {} };
  const modBaseAt = Math.min(100, Math.floor(moduleCycles / 2));
  const hooksBefore = { ...hooks };
  for (let i = 1; i <= moduleCycles; i++) {
    const t = performance.now();
    await shell(`insmod ${ko(cycledName)}`, 120_000);
    const t1 = performance.now();
    await shell(`rmmod ${cycledName}`, 120_000);
    const t2 = performance.now();
    insTimes.push(t1 - t);
    rmTimes.push(t2 - t1);
    modTimes.push(t2 - t);
    if (i === modBaseAt) {
      modRss.adapter.base = rssKb(adapterPid);
      modRss.gdb.base = rssKb(gdbPid);
      modRss.heap = { base: await heapKb() };
      modRss.hookBase = hookMs.length;
    }
    if (i % 25 === 0 || i === moduleCycles || i === modBaseAt) sample(`insmod+rmmod ${cycledName}`, i, modTimes);
    if (i % 50 === 0) console.error(`  insmod/rmmod ${i}/${moduleCycles}`);
  }
  modRss.adapter.end = rssKb(adapterPid);
  modRss.gdb.end = rssKb(gdbPid);
  if (modRss.heap) modRss.heap.end = await heapKb();

  // Leave the cycled module loaded, so the comparison covers one that came through the hooks.
  await shell(`insmod ${ko(cycledName)}`);
  const guestList = (await shell('cat /proc/modules')).split('\n').map((l) => l.split(' ')[0]).filter(Boolean).sort();
  const paused = within(dc.waitForEvent('stopped', 600_000), 30_000, 'final pause');
  await dc.pauseRequest({ threadId: thread });
  thread = (await paused).body.threadId ?? thread;
  const kdapList = (await dc.customRequest('kdap/modules', {})).body.modules;
  const kdapNames = kdapList.map((m) => m.name).sort();
  const withSymbols = kdapList.filter((m) => m.symbolFile).length;
  const same = JSON.stringify(guestList) === JSON.stringify(kdapNames);

  console.log(`soak ${arch}: ${cycles} step/continue cycles (a \`next\` every ${nextEvery || 'never'}; ${runMs} ms running before each pause), ${moduleCycles} insmod+rmmod cycles of ${cycledName}.ko`);
  console.table(rows);
  for (const l of verdict('step/continue', cycles, stepTimes, stepRss)) console.log(l);
  console.log(`  ${nexts} nexts, ${nextsPaused} did not end within 3 s and were paused; ${stops} stopped events in all`);
  console.log(`  top frames: ${[...tops].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([n, c]) => `${n} ${c}`).join(', ')}`);
  if (moduleCycles >= 2) {
    for (const l of verdict(`insmod+rmmod ${cycledName}`, moduleCycles, modTimes, modRss)) console.log(l);
    const wi = window(insTimes);
    const wr = window(rmTimes);
    console.log(`  insmod first/last median ${wi.first.toFixed(0)}/${wi.last.toFixed(0)} ms, rmmod ${wr.first.toFixed(0)}/${wr.last.toFixed(0)} ms; hook events: load ${hooks.load - hooksBefore.load}, unload ${hooks.unload - hooksBefore.unload}, freeInit ${(hooks.freeInit ?? 0) - (hooksBefore.freeInit ?? 0)}`);
    const hw = hookMs.slice(hooksBefore.load + hooksBefore.unload + (hooksBefore.freeInit ?? 0));
    const hwin = window(hw);
    console.log(`  adapter hook work (kdap/modulesChanged ms, stop to resume): first-${hwin.w} median ${hwin.first} ms, last-${hwin.w} median ${hwin.last} ms`);
  }
  console.log(`modules: guest /proc/modules [${guestList.join(' ')}], kdap/modules [${kdapNames.join(' ')}] (${withSymbols} with symbols): ${same ? 'same' : 'DIFFERENT'}`);
} catch (e) {
  exitCode = 1;
  console.error(`soak: ${e?.stack ?? e}`);
  if (rows.length) console.table(rows);
  console.error(dc.console.slice(-1500));
} finally {
  await cleanup();
}
process.exit(exitCode);
