#!/usr/bin/env node
// Module symbols: what kdap's hidden insmod/rmmod hooks add to each insmod and rmmod, and what
// attaching costs with N modules loaded, against the same guest with no debugger and with the
// kernel's own `lx-symbols` (scripts/gdb, constants.py generated from the headers package).
//   node bench/modules.mjs [x86_64|arm64] [runs]
// Wall time is measured on the host from typing the command to the shell's answer: the guest's
// own clock stops while gdb holds the VM, so `time insmod` in the guest would not see the hooks.
// Prints medians and ratios; never a pass/fail.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const arch = process.argv[2] === 'arm64' ? 'arm64' : 'x86_64';
const runs = Number(process.argv[3] ?? 5);
const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
const fx = manifest.arches[arch];
const { DebugClient } = require('@vscode/debugadapter-testsupport');
const { QemuProcess } = require(path.join(root, 'out', 'src', 'engine', 'qemu.js'));
const { GuestConsole } = require(path.join(root, 'out', 'test', 'support', 'guest.js'));

const median = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : NaN);
const ms = (x) => `${x.toFixed(0).padStart(6)} ms`;
const guestDir = path.posix.dirname(fx.kmod.guestPath);
const ko = (name) => (name === 'kdap_test' ? fx.kmod.guestPath : `${guestDir}/${name}.ko`);
const all = ['brd', 'binfmt_misc', 'dummy', 'loop', 'kdap_test'];
const modulePaths = [fx.debugModulesDir, path.dirname(fx.kmod.ko)];
const cycled = 'loop';

async function timed(guest, command) {
  const t = performance.now();
  await guest.sh(command, 300_000);
  return performance.now() - t;
}

/** rmmod + insmod of one module, `runs` times: wall time of each insmod and each rmmod. */
async function cycle(guest) {
  const insmod = [];
  const rmmod = [];
  for (let i = 0; i < runs; i++) {
    rmmod.push(await timed(guest, `rmmod ${cycled}`));
    insmod.push(await timed(guest, `insmod ${ko(cycled)}`));
  }
  return { insmod, rmmod };
}

async function kdapAttach(qemu) {
  const dc = new DebugClient(process.execPath, path.join(root, 'dist', 'adapter.js'), 'kdap');
  dc.defaultTimeout = 300_000;
  let modulePhase;
  const hooks = { load: [], freeInit: [], unload: [] };
  dc.on('kdap/modulesChanged', (e) => hooks[e.body.change]?.push(e.body.ms));
  dc.on('output', (e) => {
    const m = /Module symbols: (\d+) of (\d+) loaded modules \(([\d.]+) s\)/.exec(e.body.output);
    if (m) modulePhase = { loaded: Number(m[1]), of: Number(m[2]), ms: Number(m[3]) * 1000 };
  });
  const t = performance.now();
  await dc.start();
  await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  await Promise.all([
    dc.attachRequest({ vmlinux: fx.vmlinux, remote: qemu.gdbAddress, modulePaths, stopOnAttach: false, sourceRoot: manifest.sourceRoot, substitutePath: fx.substitutePath }),
    dc.waitForEvent('initialized').then(() => dc.configurationDoneRequest()),
  ]);
  return { dc, ms: performance.now() - t, modulePhase, hooks };
}

async function kdapDetach(dc) {
  // Pause first: disconnecting from a running kernel races -exec-interrupt against
  // -target-detach in the session's teardown, which can leave the VM stopped.
  const paused = dc.waitForEvent('stopped', 60_000);
  await dc.pauseRequest({ threadId: 1 });
  await paused;
  await dc.disconnectRequest({});
  await dc.stop();
}

/** scripts/gdb with constants.py generated from the headers package. */
function prepareLxGdb() {
  const dir = path.join(cache, 'bench', `lxgdb-${arch}`);
  const top = path.join(dir, 'root');
  if (fs.existsSync(path.join(top, 'scripts', 'gdb', 'linux', 'constants.py'))) return top;
  const src = path.join(manifest.sourceRoot, 'scripts', 'gdb');
  if (!fs.existsSync(path.join(src, 'vmlinux-gdb.py'))) throw new Error(`no scripts/gdb in ${manifest.sourceRoot}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(top, 'scripts', 'gdb'), { recursive: true });
  fs.cpSync(path.join(src, 'vmlinux-gdb.py'), path.join(top, 'vmlinux-gdb.py'));
  fs.cpSync(path.join(src, 'linux'), path.join(top, 'scripts', 'gdb', 'linux'), { recursive: true });
  const gen = path.join(dir, 'gen');
  fs.mkdirSync(gen);
  fs.cpSync(path.join(src, 'linux', 'constants.py.in'), path.join(gen, 'constants.py.in'));
  // The rule of scripts/gdb/linux/Makefile, as an external module build against the headers.
  fs.writeFileSync(path.join(gen, 'Kbuild'), [
    'always-y += constants.py',
    'quiet_cmd_gen_constants_py = GEN     $@',
    "      cmd_gen_constants_py = $(CPP) -E -x c -P $(c_flags) $< > $@ ; sed -i '1,/<!-- end-c-headers -->/d;' $@",
    '$(obj)/constants.py: $(src)/constants.py.in FORCE',
    '\t$(call if_changed_dep,gen_constants_py)',
    '',
  ].join('\n'));
  const t = performance.now();
  const r = spawnSync('make', ['-s', '-C', fx.headers, `M=${gen}`, `ARCH=${arch === 'arm64' ? 'arm64' : 'x86'}`, `CROSS_COMPILE=${fx.crossCompile}`], { encoding: 'utf8' });
  if (r.status !== 0 || !fs.existsSync(path.join(gen, 'constants.py'))) throw new Error(`generating constants.py failed: ${r.stderr.slice(-400)}`);
  console.log(`  lx-symbols: constants.py generated from the headers in ${(performance.now() - t).toFixed(0)} ms`);
  fs.cpSync(path.join(gen, 'constants.py'), path.join(top, 'scripts', 'gdb', 'linux', 'constants.py'));
  // lx-symbols reloads "vmlinux" from the current directory when its objfile name does not end in vmlinux.
  fs.symlinkSync(fx.vmlinux, path.join(top, 'vmlinux'));
  return top;
}

/** gdb with the kernel's scripts, `lx-symbols` timed, then left running the kernel. */
async function lxAttach(qemu, top) {
  const t = performance.now();
  const gdb = spawn('gdb-multiarch', ['-nx', '-q', '-iex', `set index-cache directory ${path.join(cache, 'gdb-index')}`, '-iex', 'set index-cache enabled on',
    '-iex', 'set pagination off', '-iex', 'set confirm off', 'vmlinux', '-ex', 'source vmlinux-gdb.py', '-ex', `target remote ${qemu.gdbAddress}`,
    '-ex', 'python import time; kdap_t0 = time.time()', '-ex', `lx-symbols ${modulePaths.join(' ')}`,
    '-ex', 'python print("LXTIME %.3f" % (time.time() - kdap_t0))', '-ex', 'continue'], { cwd: top, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  gdb.stdout.setEncoding('utf8').on('data', (s) => (out += s));
  gdb.stderr.setEncoding('utf8').on('data', (s) => (out += s));
  const deadline = Date.now() + 300_000;
  while (!/LXTIME/.test(out)) {
    if (Date.now() > deadline || gdb.exitCode !== null) throw new Error(`lx-symbols did not finish:\n${out.slice(-1000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const lx = Number(/LXTIME ([\d.]+)/.exec(out)[1]) * 1000;
  const loaded = (out.match(/^loading @0x/gm) ?? []).length;
  await new Promise((r) => setTimeout(r, 500)); // let `continue` resume the VM
  return { gdb, ms: performance.now() - t, lxMs: lx, loaded, output: () => out };
}

const qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch, smp: 2, memory: '512M', gdb: true, startPaused: false });
try {
  const guest = new GuestConsole(qemu, manifest.guest.prompt);
  await guest.waitForPrompt(300_000);
  console.log(`bench modules: ${arch}, ${runs} rmmod+insmod cycles of ${cycled}.ko per setup`);
  await guest.sh(`insmod ${ko(cycled)}`);

  const none = await cycle(guest);
  console.log(`  no debugger:      insmod ${ms(median(none.insmod))}, rmmod ${ms(median(none.rmmod))}`);

  // Attach with none of the other modules loaded, then with all of them.
  const a0 = await kdapAttach(qemu);
  await kdapDetach(a0.dc);
  for (const m of all) if (m !== cycled) await guest.sh(`insmod ${ko(m)}`);
  const aN = await kdapAttach(qemu);
  const kdap = await cycle(guest);
  console.log(`  kdap attached:    insmod ${ms(median(kdap.insmod))}, rmmod ${ms(median(kdap.rmmod))}`);
  const h = aN.hooks;
  const freeInit = h.freeInit.length ? ms(median(h.freeInit)) : 'not hooked (QEMU: init symbols drop at the next stop)';
  console.log(`  kdap hook work (stop to resume, adapter side): do_init_module ${ms(median(h.load))}, free_module ${ms(median(h.unload))}, do_free_init ${freeInit}`);
  await kdapDetach(aN.dc);

  let lx;
  try {
    const top = prepareLxGdb();
    const att = await lxAttach(qemu, top);
    const before = att.output().length;
    const c = await cycle(guest);
    lx = { ...att, ...c };
    console.log(`  lx-symbols:       insmod ${ms(median(c.insmod))}, rmmod ${ms(median(c.rmmod))} (loaded ${att.loaded} modules at attach)`);
    const reloads = (att.output().slice(before).match(/refreshing all symbols/g) ?? []).length;
    console.log(`  lx-symbols reloaded every module on ${reloads} of ${runs} insmods (the module was known)`);
    att.gdb.kill('SIGKILL');
  } catch (e) {
    console.log(`  lx-symbols skipped: ${e.message}`);
  }

  console.log('');
  const added = median(kdap.insmod) - median(none.insmod);
  const addedRm = median(kdap.rmmod) - median(none.rmmod);
  console.log(`insmod ${cycled}: added by kdap ${ms(added)} (${(median(kdap.insmod) / median(none.insmod)).toFixed(2)}x of no debugger)` +
    (lx ? `; lx-symbols adds ${ms(median(lx.insmod) - median(none.insmod))}, ratio lx-symbols/kdap insmod ${(median(lx.insmod) / median(kdap.insmod)).toFixed(2)}` : ''));
  console.log(`rmmod ${cycled}:  added by kdap ${ms(addedRm)}` + (lx ? `; lx-symbols adds ${ms(median(lx.rmmod) - median(none.rmmod))} (it does not follow rmmod)` : ''));
  console.log(`attach, ${a0.modulePhase?.of ?? '?'} module loaded:  kdap ${ms(a0.ms)} (module phase ${ms(a0.modulePhase?.ms ?? NaN)})`);
  console.log(`attach, ${aN.modulePhase?.of ?? '?'} modules loaded: kdap ${ms(aN.ms)} (module phase ${ms(aN.modulePhase?.ms ?? NaN)}, ${aN.modulePhase?.loaded ?? '?'} of ${aN.modulePhase?.of ?? '?'} with symbols)` +
    (lx ? `; gdb + lx-symbols ${ms(lx.ms)} (lx-symbols itself ${ms(lx.lxMs)}, ${lx.loaded} loaded), ratio lx-symbols/kdap module phase ${(lx.lxMs / (aN.modulePhase?.ms || NaN)).toFixed(2)}` : ''));
} finally {
  await qemu.kill();
}
