#!/usr/bin/env node
// Crash dumps: open → first register and first virtual read, per format, against crash 8.0.2 loading the same dump;
// then the session: open → stopped with threads and the stopped CPU's top frame with its source
// line (DumpConnection + gdb, index cached: warm), and `kdap core dmesg` against crash's `log`.
//   node bench/core.mjs [x86_64|arm64|all] [runs]
// Uses the dumps of scripts/fixtures-dumps.sh (a 512 MiB guest; the real kdump on x86_64). For
// each dump, in a fresh node process (cold, like crash): open the file, read the panicking or
// first CPU's PC, read `linux_banner` through the kernel's page tables, then read 64 MiB of
// RAM spread over the dump; the child's peak RSS is reported. Symbols come from System.map
// (gdb's DWARF load is phase-2 work and measured by the session benches). crash runs
// `crash -s vmlinux dump` with `quit`. Each contender must have done the work: kdap's banner
// must equal vmlinux's, crash must exit 0 without "cannot"/"invalid" on stderr.
// Prints medians and kdap/crash ratios; never a pass/fail.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
const which = process.argv[2] ?? 'all';
const runs = Number(process.argv[3] ?? 3);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (process.argv[2] === '--child') {
  // One measured open, in its own process so RSS and caches are those of a cold start.
  const [, , , file, systemMap] = process.argv;
  const { openDump } = await import(path.join(root, 'out/src/dump/dump.js'));
  const { DumpTarget } = await import(path.join(root, 'out/src/dump/target.js'));
  const symbols = new Map();
  for (const line of fs.readFileSync(systemMap, 'utf8').split('\n')) {
    const [a, , n] = line.split(' ');
    if (n && !symbols.has(n)) symbols.set(n, BigInt(`0x${a}`));
  }
  const debugInfo = { symbol: async (n) => symbols.get(n), layout: async () => undefined };
  const t0 = performance.now();
  const dump = openDump(file);
  const opened = performance.now();
  const target = new DumpTarget(dump, { debugInfo });
  const pcName = dump.arch === 'x86_64' ? 'rip' : 'pc';
  const pc = (await target.registers(0, [pcName])).get(pcName);
  const banner = Buffer.from(await target.readVirtual(await target.symbol('linux_banner'), 400)).toString('latin1').split('\0')[0].split('\n')[0];
  const first = performance.now();
  let bytes = 0;
  let missing = 0;
  for (const r of dump.memory.ranges) {
    for (let pa = r.start; pa < r.end && bytes < 64 << 20; pa += 0x100000n) {
      try {
        bytes += (await target.readPhysical(pa, 65536)).length;
      } catch {
        missing++;
      }
    }
  }
  const read = performance.now();
  dump.close();
  console.log(JSON.stringify({ openMs: opened - t0, firstMs: first - t0, read64Ms: read - first, bytes, missing, pc: `0x${pc.toString(16)}`, banner, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}

if (process.argv[2] === '--session') {
  // Open → stopped with threads and a top frame with source, in a fresh process (gdb's index warm).
  const [, , , file, vmlinux] = process.argv;
  const { DumpConnection } = await import(path.join(root, 'out/src/engine/dump-connection.js'));
  const { Attachment } = await import(path.join(root, 'out/src/engine/attachment.js'));
  const { elfArch } = await import(path.join(root, 'out/src/engine/elf-arch.js'));
  const { listFrames } = await import(path.join(root, 'out/src/gdb/mi/stack.js'));
  const quiet = { console: () => undefined, lost: () => undefined, say: () => undefined };
  const t0 = performance.now();
  const arch = elfArch(vmlinux);
  const connection = await DumpConnection.open({ core: file, vmlinux, arch }, quiet);
  const kernel = await Attachment.start(connection, { vmlinux, arch });
  try {
    await kernel.connect();
    const threads = await kernel.threads.list();
    const stopped = threads.find((t) => t.cpu === (connection.crash?.cpu ?? 0)) ?? threads[0];
    const [top] = await listFrames(kernel.engine.gdb, stopped.id, 0, 0);
    const ms = performance.now() - t0;
    console.log(JSON.stringify({ ms, threads: threads.length, func: top?.func, line: top?.line, crash: connection.crash?.title ?? null }));
  } finally {
    await kernel.close();
  }
  process.exit(0);
}

async function bannerOf(vmlinux) {
  const { vmlinuxIdentity } = await import(path.join(root, 'out/src/dump/identity.js'));
  return (await vmlinuxIdentity(vmlinux)).banner;
}

const scenarios = [];
for (const arch of which === 'all' ? ['x86_64', 'arm64'] : [which]) {
  for (const scenario of ['qemu', 'kdump']) {
    const dir = path.join(cache, 'dumps', arch, scenario);
    if (!fs.existsSync(path.join(dir, '.stamp'))) continue;
    for (const f of fs.readdirSync(dir).filter((f) => /\.(elf|kdump|flat)$/.test(f)).sort()) scenarios.push({ arch, scenario, file: path.join(dir, f) });
  }
}
if (!scenarios.length) {
  console.error('no dumps: run flock /tmp/kdap-qemu.lock bash scripts/fixtures-dumps.sh');
  process.exit(2);
}
const banners = {};
const rows = [];
console.log(`runs: ${runs}; median wall times; kdap = open + first register + first virtual read (cold process)`);
console.log(`${'dump'.padEnd(34)} ${'size'.padStart(8)} ${'kdap open'.padStart(10)} ${'kdap first'.padStart(11)} ${'64MiB read'.padStart(11)} ${'RSS'.padStart(7)} ${'crash load'.padStart(11)} ${'ratio'.padStart(7)}`);
for (const s of scenarios) {
  const fx = manifest.arches[s.arch];
  banners[s.arch] ??= await bannerOf(fx.vmlinux);
  const kdap = [];
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--child', s.file, fx.systemMap], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kdap child failed on ${s.file}: ${r.stderr}`);
    const m = JSON.parse(r.stdout.trim().split('\n').pop());
    // KASLR: System.map addresses are link addresses; the target moves them by KERNELOFFSET.
    if (m.banner !== banners[s.arch]) throw new Error(`kdap read the wrong banner from ${s.file}: ${m.banner}`);
    kdap.push(m);
  }
  const crash = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync('crash', ['-s', fx.vmlinux, s.file], { input: 'quit\n', encoding: 'utf8', timeout: 300_000 });
    const t = performance.now() - t0;
    if (r.status === 0 && !/cannot|invalid|not a supported/i.test(r.stderr)) crash.push(t);
    else { crash.length = 0; crash.push(NaN); crash.error = (r.stderr || r.stdout).trim().split('\n').pop(); break; }
  }
  const first = median(kdap.map((m) => m.firstMs));
  const crashMs = median(crash);
  const size = fs.statSync(s.file).size / (1 << 20);
  rows.push({ s, crashMs, crashError: crash.error, fx });
  console.log(`${`${s.arch}/${s.scenario}/${path.basename(s.file)}`.padEnd(34)} ${`${size.toFixed(0)} MiB`.padStart(8)} ${`${median(kdap.map((m) => m.openMs)).toFixed(1)} ms`.padStart(10)} ${`${first.toFixed(1)} ms`.padStart(11)} ${`${median(kdap.map((m) => m.read64Ms)).toFixed(0)} ms`.padStart(11)} ${`${median(kdap.map((m) => m.maxRssMiB)).toFixed(0)}M`.padStart(7)} ${Number.isNaN(crashMs) ? `fails`.padStart(11) : `${(crashMs / 1000).toFixed(2)} s`.padStart(11)} ${Number.isNaN(crashMs) ? ''.padStart(7) : `${(crashMs / first).toFixed(0)}x`.padStart(7)}${crash.error ? `  (crash: ${crash.error})` : ''}`);
}

// The session and the log, like with like: kdap open → stopped with threads, top frame and its
// source line vs crash's load (both cold processes; gdb's index cache is warm, as after a
// first session); `kdap core dmesg` vs crash's `log` (both print the whole log; each must show
// the guest's last dmesg line).
console.log('');
console.log(`${'dump'.padEnd(34)} ${'kdap session'.padStart(13)} ${'ratio'.padStart(7)} ${'kdap dmesg'.padStart(11)} ${'crash log'.padStart(10)} ${'ratio'.padStart(7)}  top frame`);
const cli = path.join(root, 'dist', 'cli.js');
for (const { s, crashMs, fx } of rows) {
  const truths = JSON.parse(fs.readFileSync(path.join(path.dirname(s.file), 'truths.json'), 'utf8'));
  const lastLine = truths.dmesg[truths.dmesg.length - 1];
  const session = [];
  let top = '';
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--session', s.file, fx.vmlinux], { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) throw new Error(`kdap session failed on ${s.file}: ${r.stderr}`);
    const m = JSON.parse(r.stdout.trim().split('\n').pop());
    if (!m.func || !m.line || m.threads !== 2) throw new Error(`kdap's session did not stop with a top frame and source: ${r.stdout}`);
    top = `${m.func}:${m.line}${m.crash ? ` (${m.crash})` : ''}`;
    session.push(m.ms);
  }
  const dmesg = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [cli, 'core', 'dmesg', '--core', s.file, '--vmlinux', fx.vmlinux], { encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 26 });
    const t = performance.now() - t0;
    if (r.status !== 0 || !r.stdout.includes(lastLine)) throw new Error(`kdap core dmesg did not print the guest's last line on ${s.file}: ${r.stderr}`);
    dmesg.push(t);
  }
  const crashLog = [];
  for (let i = 0; i < runs && !Number.isNaN(crashMs); i++) {
    const t0 = performance.now();
    const r = spawnSync('crash', ['-s', fx.vmlinux, s.file], { input: 'log\nquit\n', encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 26 });
    const t = performance.now() - t0;
    if (r.status !== 0 || !r.stdout.includes(lastLine.replace(/^\[\s*[\d.]+\] /, ''))) {
      crashLog.length = 0;
      break;
    }
    crashLog.push(t);
  }
  const ses = median(session);
  const dm = median(dmesg);
  const cl = crashLog.length ? median(crashLog) : NaN;
  const fmt = (ms) => (Number.isNaN(ms) ? 'fails' : `${(ms / 1000).toFixed(2)} s`);
  console.log(`${`${s.arch}/${s.scenario}/${path.basename(s.file)}`.padEnd(34)} ${fmt(ses).padStart(13)} ${(Number.isNaN(crashMs) ? '' : `${(ses / crashMs).toFixed(2)}x`).padStart(7)} ${fmt(dm).padStart(11)} ${fmt(cl).padStart(10)} ${(Number.isNaN(cl) ? '' : `${(dm / cl).toFixed(2)}x`).padStart(7)}  ${top}`);
}
console.log('ratios: kdap / crash (below 1: kdap is faster). crash "fails" where it cannot read the dump.');
