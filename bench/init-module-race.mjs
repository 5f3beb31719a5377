#!/usr/bin/env node
// A user breakpoint on do_init_module, the function kdap's own insmod hook stops at: each insmod
// must stop there (reported), then at the module's init function (a breakpoint that binds only
// once the hook has loaded the module's symbols), and the module must come out with its symbol
// file. Runs rmmod + insmod `runs` times on one boot and prints how many rounds held, and the
// time of each round. Ground truth: the guest's own "kdap_test: init ok" line per insmod.
//   node bench/init-module-race.mjs [x86_64|arm64] [runs]      (default x86_64, 20)
// A failed round writes the adapter's MI trace of that round to test-artifacts/bench/.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const arch = process.argv[2] === 'arm64' ? 'arm64' : 'x86_64';
const runs = Number(process.argv[3] ?? 20);
const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
const fx = manifest.arches[arch];
const { KdapClient } = require(path.join(root, 'out', 'test', 'support', 'dap.js'));
const artifacts = path.join(root, 'test-artifacts', 'bench');

const dc = new KdapClient();
const stops = [];
dc.on('stopped', (e) => stops.push(e.body));

/**
 * The stop event after the first `from` ones, or undefined after `ms`. `from` is counted before
 * the request that leads to it: the event can come before that request's response.
 */
async function nextStop(ms, from) {
  const deadline = Date.now() + ms;
  while (stops.length === from) {
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 20));
  }
  return stops[from];
}

async function top(threadId) {
  const st = await dc.stackTraceRequest({ threadId, startFrame: 0, levels: 1 });
  return st.body.stackFrames[0]?.name;
}

/** Runs a shell line in the guest and waits for its end marker. */
async function shell(line, ms = 60_000) {
  const id = Math.random().toString(36).slice(2, 8);
  const from = dc.console.length;
  await dc.type(`${line}; echo KDAP''E${id}`);
  await dc.waitForConsole(new RegExp(`KDAPE${id}\\n`), ms, from);
}

async function round(i) {
  const t0 = performance.now();
  const traced = dc.trace.length;
  const problems = [];
  const notes = [];
  await shell('rmmod kdap_test 2>/dev/null; true');
  const initsBefore = (dc.console.match(/kdap_test: init ok/g) ?? []).length;
  const stopsBefore = stops.length;
  await dc.type(`insmod ${fx.kmod.guestPath}`);
  let s = await nextStop(60_000, stopsBefore);
  if (!s) problems.push('no stop at do_init_module');
  else if (s.reason !== 'breakpoint' || (await top(s.threadId)) !== 'do_init_module') problems.push(`first stop: ${s.reason} in ${await top(s.threadId)}`);
  if (s) {
    const from = stops.length;
    await dc.continueRequest({ threadId: s.threadId });
    s = await nextStop(60_000, from);
    if (!s) problems.push('no stop at kdap_test_init');
    else if (s.reason !== 'breakpoint' || (await top(s.threadId)) !== 'kdap_test_init') problems.push(`second stop: ${s.reason} in ${await top(s.threadId)}`);
  }
  if (!s) {
    // A stop never came: stop the kernel ourselves, so that the loop below can resume it.
    const p = nextStop(10_000, stops.length);
    await dc.pauseRequest({ threadId: 1 }).catch(() => undefined);
    await p;
  }
  // Let the insmod finish, resuming the kernel from every stop not resumed yet (the last one,
  // and any extra one a failed round brings).
  let resumed = stopsBefore + (problems.length === 0 ? 1 : 0);
  const initOk = () => (dc.console.match(/kdap_test: init ok/g) ?? []).length > initsBefore;
  const deadline = Date.now() + 60_000;
  while (!initOk() && Date.now() < deadline) {
    if (stops.length > resumed) {
      resumed = stops.length;
      await dc.continueRequest({ threadId: stops[stops.length - 1].threadId }).catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!initOk()) problems.push('the guest never printed "kdap_test: init ok"');
  const extra = stops.length - stopsBefore - 2;
  if (extra > 0) problems.push(`${extra} more stop(s) than the two expected`);
  const mine = ((await dc.customRequest('kdap/modules', {})).body.modules ?? []).find((m) => m.name === 'kdap_test');
  if (!mine?.symbolFile) problems.push(`kdap_test has no symbol file (${JSON.stringify(mine)})`);
  const ms = performance.now() - t0;
  // gdb's own words: the same function hit twice in a round is a step over its breakpoint
  // that did not move the vCPU (a repeat kdap must resume without showing).
  const hits = dc.trace.slice(traced).map((l) => /^← ~"Thread \d+ hit Breakpoint [\d.]+, (\w+) /.exec(l)?.[1]).filter(Boolean);
  const repeats = hits.length - new Set(hits).size;
  if (problems.length || repeats) {
    fs.mkdirSync(artifacts, { recursive: true });
    const file = path.join(artifacts, `init-module-race-${arch}-round${i + 1}.mi.log`);
    fs.writeFileSync(file, dc.trace.slice(traced).join(''));
    (problems.length ? problems : notes).push(`trace: ${path.relative(root, file)}`);
  }
  return { ok: problems.length === 0, ms, problems: [...problems, ...notes], repeats, hits };
}

const results = [];
try {
  await dc.start();
  await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  const initialized = dc.waitForEvent('initialized', 300_000);
  const launched = dc.launch({
    name: 'init-module-race', type: 'kdap', request: 'launch', kernel: fx.kernel, vmlinux: fx.vmlinux, initrd: fx.initrd, append: fx.append,
    smp: 2, memory: '512M', stopAt: 'none', sourceRoot: manifest.sourceRoot, substitutePath: fx.substitutePath,
    modulePaths: [path.dirname(fx.kmod.ko)], trace: true,
    // KDAP_BENCH_GDB_DEBUG=infrun (or remote, …): gdb's own debug output in the saved traces.
    setupCommands: (process.env.KDAP_BENCH_GDB_DEBUG ?? '').split(',').filter(Boolean).map((d) => `set debug ${d} 1`),
  });
  await initialized;
  // What the e2e test has set by then: source breakpoints in the module, and the two functions.
  await dc.setBreakpointsRequest({ source: { path: fx.kmod.sourceFile }, breakpoints: [{ line: fx.kmod.lines['init-done'] }, { line: fx.kmod.lines.cold }] });
  const set = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'kdap_test_init' }, { name: 'do_init_module' }] });
  if (!set.body.breakpoints[1].verified) throw new Error(`do_init_module did not bind: ${JSON.stringify(set.body.breakpoints[1])}`);
  await dc.configurationDoneRequest();
  await launched;
  await dc.waitForConsole(/guest# /, 300_000);
  // Only the two function breakpoints: the source ones would add a third stop per round.
  await dc.setBreakpointsRequest({ source: { path: fx.kmod.sourceFile }, breakpoints: [] });
  for (let i = 0; i < runs; i++) {
    const r = await round(i);
    results.push(r);
    console.log(`round ${String(i + 1).padStart(2)}: ${r.ok ? 'held' : 'FAILED'} ${(r.ms / 1000).toFixed(1)} s${r.repeats ? `, gdb repeated a hit (${r.hits.join(' ')}): resumed unseen` : ''}${r.problems.length ? ` — ${r.problems.join('; ')}` : ''}`);
  }
} finally {
  await dc.endLaunch().catch((e) => console.log(`teardown: ${e.message}`));
}
const held = results.filter((r) => r.ok).length;
const sorted = results.map((r) => r.ms).sort((a, b) => a - b);
const repeats = results.filter((r) => r.repeats > 0).length;
console.log(`\ninit-module-race ${arch}: ${held}/${results.length} rounds held (stop at do_init_module, then kdap_test_init, symbols loaded); round median ${((sorted[Math.floor(sorted.length / 2)] ?? NaN) / 1000).toFixed(1)} s`);
console.log(`rounds where gdb reported a breakpoint hit twice (a step over it that did not move the vCPU): ${repeats}`);
