#!/usr/bin/env node
// The first kdap/cpus, kdap/walk and kdap/dmesg of a fresh session (attached to a booted guest),
// cold vs cold: without struct layouts on disk (an empty layout cache beside the warm gdb index)
// and with the layouts the previous session stored. Optionally an earlier build of the adapter
// too (KDAP_BEFORE=path/to/adapter.js), in the same rounds. Every contender must answer the
// same: as many CPUs with the same tasks, the same walk (phys), a log holding "Linux version".
//   node bench/views.mjs [x86_64|arm64] [rounds]
// Prints medians, MI counts and ratios; never a pass/fail.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const arch = process.argv[2] === 'arm64' ? 'arm64' : 'x86_64';
const rounds = Number(process.argv[3] ?? 3);
const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
const fx = manifest.arches[arch];
const warmIndex = path.join(cache, 'gdb-index');
const { DebugClient } = require('@vscode/debugadapter-testsupport');
const { QemuProcess } = require(path.join(root, 'out', 'src', 'engine', 'qemu.js'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = () => Number(process.hrtime.bigint()) / 1e6;
const requests = [['kdap/cpus', {}], ['kdap/walk', { va: 'linux_banner' }], ['kdap/dmesg', {}]];

function invalid(who, why) {
  console.error(`bench views: ${who} did not do the work: ${why}`);
  process.exit(1);
}

/** An index dir with the warm gdb index and no layouts: what a first session per vmlinux has. */
function coldDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-bench-views-'));
  for (const f of fs.readdirSync(warmIndex)) if (f.endsWith('.gdb-index')) fs.symlinkSync(path.join(warmIndex, f), path.join(d, f));
  return d;
}

async function session(adapter, indexCacheDir, qemu) {
  const dc = new DebugClient(process.execPath, adapter, 'kdap');
  dc.defaultTimeout = 120_000;
  let sent = 0;
  dc.on('output', (e) => e.body.category === 'console' && e.body.output.startsWith('→ ') && sent++);
  await dc.start();
  await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  const stopped = dc.waitForEvent('stopped');
  await Promise.all([dc.attachRequest({ type: 'kdap', request: 'attach', vmlinux: fx.vmlinux, remote: qemu.gdbAddress, trace: true, indexCacheDir }), dc.waitForEvent('initialized').then(() => dc.configurationDoneRequest())]);
  await stopped;
  const out = {};
  for (const [command, args] of requests) {
    const [t, s] = [now(), sent];
    const r = await dc.customRequest(command, args);
    out[command] = { ms: now() - t, mi: sent - s, body: r.body };
  }
  await dc.disconnectRequest({ terminateDebuggee: false });
  await Promise.race([dc.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
  return out;
}

const answer = (o) => JSON.stringify([o['kdap/cpus'].body.cpus.map((c) => [c.cpu, c.mode]), o['kdap/walk'].body.phys]);

const contenders = { 'no layouts on disk': [], 'layouts on disk': [] };
if (process.env.KDAP_BEFORE) contenders['earlier build'] = [];
console.log(`bench views: ${arch}, ${rounds} rounds; each a fresh session attached to one booted guest`);
const qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch, smp: 2, gdb: true, startPaused: false });
try {
  const deadline = Date.now() + 300_000;
  while (!qemu.consoleText.includes(manifest.guest.prompt)) {
    if (Date.now() > deadline) throw new Error('guest did not boot');
    await new Promise((r) => setTimeout(r, 200));
  }
  const adapter = path.join(root, 'dist', 'adapter.js');
  let reference;
  for (let r = 0; r < rounds; r++) {
    const d = coldDir();
    const runs = [['no layouts on disk', adapter, d], ['layouts on disk', adapter, d]];
    if (process.env.KDAP_BEFORE) runs.push(['earlier build', path.resolve(process.env.KDAP_BEFORE), coldDir()]);
    for (const [name, a, dir] of runs) {
      const o = await session(a, dir, qemu);
      if (!(o['kdap/cpus'].body.cpus.length === 2)) invalid(name, 'not 2 CPUs');
      if (!o['kdap/walk'].body.phys) invalid(name, `walk: ${o['kdap/walk'].body.fault}`);
      if (!/Linux version/.test(o['kdap/dmesg'].body.text)) invalid(name, 'no Linux version in the log');
      reference ??= answer(o);
      if (answer(o) !== reference) invalid(name, `answers differ: ${answer(o)} vs ${reference}`);
      contenders[name].push(o);
      console.log(`  round ${r + 1} ${name.padEnd(20)} ${requests.map(([c]) => `${c} ${o[c].ms.toFixed(0)} ms/${o[c].mi} MI`).join(', ')}`);
    }
  }
  for (const [c] of requests) {
    const base = median(contenders['no layouts on disk'].map((o) => o[c].ms));
    for (const [name, os_] of Object.entries(contenders)) {
      const ms = median(os_.map((o) => o[c].ms));
      console.log(`${c.padEnd(11)} ${name.padEnd(20)} ${ms.toFixed(1).padStart(7)} ms  ${String(median(os_.map((o) => o[c].mi))).padStart(3)} MI   ratio to no-layouts ${(ms / base).toFixed(2)}`);
    }
  }
} finally {
  await qemu.kill();
}
