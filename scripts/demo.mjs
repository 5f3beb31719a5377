#!/usr/bin/env node
// The main job: boots the x86_64 fixture kernel under QEMU through kdap's debug adapter
// (the same dist/adapter.js VS Code runs), and prints what the engine shows at each step.
//   npm run demo            (after `bash scripts/setup.sh`)
//   npm run demo -- arm64   (the arm64 fixture instead)
// It prepares only the fixture it shows (fixtures.sh --only ARCH): one Debian kernel with its
// vmlinux, source and initramfs; not the kgdb or 16K kernels that `npm test` also needs.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(root);
const arch = process.argv.includes('arm64') ? 'arm64' : 'x86_64';

function step(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`demo: '${cmd} ${args.join(' ')}' failed`);
    process.exit(1);
  }
}

const prepared = Date.now();
step('bash', ['scripts/fixtures.sh', '--only', arch]);
console.log(`demo: fixtures ready in ${((Date.now() - prepared) / 1000).toFixed(1)} s`);
step(process.execPath, ['scripts/build.mjs']);

const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
const fx = manifest.arches[arch];
const { DebugClient } = require('@vscode/debugadapter-testsupport');

const t0 = Date.now();
const secs = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
const say = (text) => console.log(`\n[${secs()}] ${text}`);

const dc = new DebugClient(process.execPath, path.join(root, 'dist', 'adapter.js'), 'kdap');
dc.defaultTimeout = 180_000;
let consoleText = '';
dc.on('output', (e) => {
  if (e.body.category === 'stdout') consoleText += e.body.output.replace(/\r/g, '').replace(/\x1b\[6n/g, '');
  else if (e.body.category === 'important') process.stdout.write(`  ! ${e.body.output}`);
});
const stopped = () => dc.waitForEvent('stopped', 180_000);
const waitConsole = async (re, ms = 180_000) => {
  const end = Date.now() + ms;
  while (!re.test(consoleText)) {
    if (Date.now() > end) throw new Error(`console never showed ${re}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

async function backtrace(threadId, levels = 12) {
  const st = await dc.stackTraceRequest({ threadId, startFrame: 0, levels });
  for (const [i, f] of st.body.stackFrames.entries()) {
    const where = f.source?.path ? `${path.relative(manifest.sourceRoot, f.source.path)}:${f.line}` : (f.instructionPointerReference ?? '');
    console.log(`  #${i} ${f.name.padEnd(32)} ${where}`);
  }
  return st.body.stackFrames;
}

async function main() {
  say(`kdap demo: ${arch} Debian ${manifest.version} kernel under QEMU, via the kdap debug adapter`);
  await dc.start();
  await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  const first = stopped();
  await Promise.all([
    dc.launch({
      type: 'kdap', request: 'launch', name: 'demo',
      kernel: fx.kernel, vmlinux: fx.vmlinux, initrd: fx.initrd, append: fx.append,
      smp: 2, memory: '512M', sourceRoot: manifest.sourceRoot, substitutePath: fx.substitutePath, stopAt: 'start_kernel',
      modulePaths: [path.dirname(fx.kmod.ko)],
    }),
    dc.configurationSequence(),
  ]);
  let ev = await first;
  say(`Stopped (${ev.body.reason}) at start_kernel; backtrace:`);
  let thread = ev.body.threadId;
  await backtrace(thread);

  const threads = await dc.threadsRequest();
  say(`Threads (one per vCPU): ${threads.body.threads.map((t) => t.name).join(', ')}`);

  const top = (await dc.stackTraceRequest({ threadId: thread, levels: 1 })).body.stackFrames[0];
  const scopes = await dc.scopesRequest({ frameId: top.id });
  const sys = scopes.body.scopes.find((s) => s.name === 'System Registers');
  const regs = await dc.variablesRequest({ variablesReference: sys.variablesReference });
  say('System registers, decoded:');
  for (const r of regs.body.variables) console.log(`  ${r.name.padEnd(10)} ${r.value}`);

  say('Continuing: the kernel boots to the busybox shell on the serial console…');
  await dc.continueRequest({ threadId: thread });
  await waitConsole(/guest# /);
  const boot = consoleText.split('\n').filter((l) => /Linux version|Memory:|smp: Brought up|KDAP-READY/.test(l));
  for (const l of boot) console.log(`  | ${l.trim()}`);

  say(`Loading the test module in the guest: insmod ${fx.kmod.guestPath} (its symbols load by themselves)…`);
  const loaded = dc.waitForEvent('kdap/modulesChanged', 60_000).catch(() => undefined);
  await dc.customRequest('kdap/serialInput', { text: `insmod ${fx.kmod.guestPath}\n` });
  await loaded;
  await waitConsole(/kdap_test: init ok/, 60_000).catch(() => undefined);

  say('Pausing to set a breakpoint on do_sys_openat2, then typing `cat /proc/version` in the guest…');
  let p = stopped();
  await dc.pauseRequest({ threadId: thread });
  await p;
  await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'do_sys_openat2' }] });
  p = stopped();
  await dc.continueRequest({ threadId: thread });
  await dc.customRequest('kdap/serialInput', { text: 'cat /proc/version\n' });
  ev = await p;
  thread = ev.body.threadId;
  say(`Breakpoint hit on thread "${(await dc.threadsRequest()).body.threads.find((t) => t.id === thread)?.name}"; backtrace:`);
  const frames = await backtrace(thread);
  const sc = await dc.scopesRequest({ frameId: frames[0].id });
  const locals = await dc.variablesRequest({ variablesReference: sc.body.scopes[0].variablesReference });
  say('Arguments and locals:');
  for (const v of locals.body.variables) console.log(`  ${v.name.padEnd(10)} = ${v.value}`);
  const comm = await dc.evaluateRequest({ expression: 'init_task.comm', frameId: frames[0].id, context: 'watch' });
  console.log(`  init_task.comm = ${comm.body.result}`);

  const hex = (v) => (v === undefined ? '-' : v);
  const { cpus } = (await dc.customRequest('kdap/cpus', {})).body;
  say('CPUs (kdap/cpus):');
  for (const c of cpus) {
    const task = c.task ? `${c.task.comm} [${c.task.pid}]` : '-';
    console.log(`  CPU ${c.cpu}  ${c.state.padEnd(8)} ${c.mode.padEnd(6)} ${task.padEnd(18)} ${(c.function ?? hex(c.pc)).padEnd(24)} nr_running=${c.nrRunning ?? '-'} preempt=${c.preemptCount ?? '-'} offset=${hex(c.perCpuOffset)}`);
  }
  const perCpu = await dc.evaluateRequest({ expression: 'per_cpu(runqueues, 1).nr_running', frameId: frames[0].id, context: 'watch' });
  console.log(`  per_cpu(runqueues, 1).nr_running = ${perCpu.body.result}`);

  const { modules } = (await dc.customRequest('kdap/modules', {})).body;
  say('Modules (kdap/modules):');
  for (const m of modules) console.log(`  ${m.name.padEnd(12)} ${m.state.padEnd(6)} ${m.base}  .text ${m.sections['.text'] ?? '-'}  ${m.symbolFile ? path.basename(m.symbolFile) : 'no symbols'}`);

  const walk = (await dc.customRequest('kdap/walk', { va: '&jiffies_64' })).body;
  say(`Page walk of &jiffies_64 = ${walk.va} (kdap/walk):`);
  for (const l of walk.levels) console.log(`  ${l.level.padEnd(4)} [${String(l.index).padStart(3)}] ${l.raw}  ${l.flags.join(' ')}`);
  console.log(`  → phys ${walk.phys}, ${walk.pageSize} byte page${walk.summary ? `: ${walk.summary}` : ''}`);
  const hover = await dc.evaluateRequest({ expression: 'filename', frameId: frames[0].id, context: 'hover' });
  console.log(`  hover on filename: ${hover.body.result}`);

  const dmesg = (await dc.customRequest('kdap/dmesg', {})).body;
  say(`Kernel log from the ring buffer (kdap/dmesg: ${dmesg.records.length} records in ${dmesg.reads} reads), last lines:`);
  for (const l of dmesg.text.trimEnd().split('\n').slice(-4)) console.log(`  | ${l}`);

  say('Removing the breakpoint and letting the guest finish the command…');
  await dc.setFunctionBreakpointsRequest({ breakpoints: [] });
  await dc.continueRequest({ threadId: thread });
  await waitConsole(/Linux version [^\n]*\n[^\n]*guest# /s, 60_000).catch(() => undefined);
  const version = consoleText.split('\n').reverse().find((l) => l.startsWith('Linux version'));
  if (version) console.log(`  | ${version.trim()}`);

  await dc.disconnectRequest({ terminateDebuggee: true });
  // The adapter exits after a disconnect; stop() would wait for it forever.
  await Promise.race([dc.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
  say('Done: QEMU and gdb are gone.');
}

main().catch(async (err) => {
  console.error(`demo failed: ${err.stack ?? err}`);
  console.error(consoleText.slice(-1500));
  await Promise.race([dc.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
  process.exit(1);
});
