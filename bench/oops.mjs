#!/usr/bin/env node
// Crash-log decoding: kdap against the kernel's own scripts on the same log and vmlinux, and a
// 100k-line log through the language server.
//
//   node bench/oops.mjs [x86_64|arm64] [runs] [LOG]
//
// - `kdap oops decode` (dist/cli.js, a fresh process each run) vs `scripts/decode_stacktrace.sh`
//   vs `scripts/faddr2line` given every frame of the log (vmlinux frames in one call, module
//   frames in another), all from the fixture kernel tree.
// - cold: the vmlinux and module files are dropped from the page cache first (dd iflag=nocache,
//   no root needed); warm: the same command again right after.
// - kdap in a long-lived process (what the language server does): the first decode of the log,
//   then the same log again with symbol tables loaded and the helper processes running.
// - the language server: a 100k-line log opened, time to its diagnostics and to its document
//   links, then the first frame link resolved.
// The log is the e2e capture (test-artifacts/e2e/oops-ARCH-oops.log) when there is one, else
// a fixture log. Prints medians and ratios; never a pass/fail. Needs `npm run build` and
// `npm run compile-tests` (out/) first.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const arch = process.argv[2] === 'arm64' ? 'arm64' : 'x86_64';
const runs = Math.max(1, Number(process.argv[3] ?? 3));
const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
const fx = manifest.arches[arch];
const src = manifest.sourceRoot;
const cli = path.join(root, 'dist', 'cli.js');
const serverJs = path.join(root, 'dist', 'server.js');
for (const f of [cli, serverJs, path.join(root, 'out', 'src', 'oops', 'symbolize', 'decode.js')]) {
  if (!fs.existsSync(f)) {
    console.error(`missing ${f}: run npm run build and npm run compile-tests first`);
    process.exit(2);
  }
}
const { parseLog } = require(path.join(root, 'out', 'src', 'oops', 'parse.js'));
const { decodeLog, decodedText } = require(path.join(root, 'out', 'src', 'oops', 'symbolize', 'decode.js'));
const { KernelSymbolizer } = require(path.join(root, 'out', 'src', 'oops', 'symbolize', 'resolver.js'));

const captured = path.join(root, 'test-artifacts', 'e2e', `oops-${arch}-oops.log`);
const fallback = path.join(root, 'test', 'fixtures', 'logs', arch === 'arm64' ? 'arm64/debian61-cortexa57-nonfatal-null-deref-in-dummy-ko-then-sysrq-c.log' : 'x86_64/null-deref.log');
const logFile = process.argv[4] ?? (fs.existsSync(captured) ? captured : fallback);
const logText = fs.readFileSync(logFile, 'utf8');
const kmodDir = path.dirname(fx.kmod.ko);
const env = { ...process.env, ARCH: arch, CROSS_COMPILE: fx.crossCompile };

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

/** Objects the tools read: evicted from the page cache for a cold run. */
function objects() {
  const mods = new Set();
  for (const r of parseLog(logText).reports) for (const f of r.frames) if (f.module) mods.add(f.module);
  const files = [fx.vmlinux];
  for (const m of mods) {
    const k = [path.join(kmodDir, `${m}.ko`), fx.modules[m]?.debug].find((p) => p && fs.existsSync(p));
    if (k) files.push(k);
  }
  return files;
}

function dropCaches() {
  for (const f of objects()) spawnSync('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none']);
}

function timeRun(cmd, args, input) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { input, env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const ms = performance.now() - t0;
  if (r.status !== 0 && !r.stdout) console.error(`${path.basename(cmd)} exited ${r.status}: ${r.stderr.slice(0, 400)}`);
  return { ms, out: r.stdout };
}

function coldWarm(name, cmd, args, input) {
  const cold = [];
  const warm = [];
  let out = '';
  for (let i = 0; i < runs; i++) {
    dropCaches();
    cold.push(timeRun(cmd, args, input).ms);
    const w = timeRun(cmd, args, input);
    warm.push(w.ms);
    out = w.out;
  }
  return { name, cold: median(cold), warm: median(warm), out };
}

/** `sym+0xoff/0xsize` of every frame, as one faddr2line call per object. */
function faddr2lineSpecs() {
  const byObject = new Map();
  for (const r of parseLog(logText).reports) {
    for (const f of r.frames) {
      if (f.symbol === undefined || f.offset === undefined || f.size === undefined) continue;
      const obj = f.module ? [path.join(kmodDir, `${f.module}.ko`), fx.modules[f.module]?.debug].find((p) => p && fs.existsSync(p)) : fx.vmlinux;
      if (!obj) continue;
      const list = byObject.get(obj) ?? [];
      list.push(`${f.symbol}+0x${f.offset.toString(16)}/0x${f.size.toString(16)}`);
      byObject.set(obj, list);
    }
  }
  return byObject;
}

async function inProcess() {
  const s = new KernelSymbolizer({ vmlinux: fx.vmlinux, modulePaths: [kmodDir, fx.debugModulesDir], sourceRoot: src });
  dropCaches();
  const times = [];
  let frames = 0;
  for (let i = 0; i < runs + 1; i++) {
    const t0 = performance.now();
    const log = parseLog(logText);
    const d = await decodeLog(log, s);
    decodedText(logText, d);
    times.push(performance.now() - t0);
    frames = d.refs.size;
  }
  await s.close();
  return { first: times[0], again: median(times.slice(1)), frames };
}

/** A minimal LSP client over stdio. */
function lsp() {
  const child = spawn(process.execPath, [serverJs, '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buf = Buffer.alloc(0);
  let id = 0;
  const waiting = new Map();
  const listeners = [];
  child.stdout.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/Content-Length: (\d+)/i.exec(buf.subarray(0, end).toString())[1]);
      if (buf.length < end + 4 + len) return;
      const msg = JSON.parse(buf.subarray(end + 4, end + 4 + len).toString());
      buf = buf.subarray(end + 4 + len);
      if (msg.id !== undefined && msg.method === undefined) waiting.get(msg.id)?.(msg);
      else if (msg.id !== undefined) send({ id: msg.id, result: null });
      else for (const l of listeners) l(msg);
    }
  });
  const send = (m) => {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...m }));
    child.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
    child.stdin.write(body);
  };
  return {
    request: (method, params) =>
      new Promise((resolve) => {
        const n = ++id;
        waiting.set(n, (m) => resolve(m.result));
        send({ id: n, method, params });
      }),
    notify: (method, params) => send({ method, params }),
    on: (fn) => listeners.push(fn),
    close: async () => {
      const n = ++id;
      send({ id: n, method: 'shutdown', params: null });
      send({ method: 'exit', params: null });
      await new Promise((r) => child.on('exit', r));
    },
  };
}

async function languageServer() {
  const parts = [logText, ...['x86_64/warn.log', 'arm64/debian61-cortexa57-fatal-oops-panic_on_oops.log', 'public/syzbot-lockdep-ocfs2.log'].map((f) => fs.readFileSync(path.join(root, 'test', 'fixtures', 'logs', f), 'utf8'))];
  const lines = [];
  for (let i = 0; lines.length < 100_000; i++) lines.push(...parts[i % parts.length].trimEnd().split('\n'));
  const text = lines.slice(0, 100_000).join('\n') + '\n';
  const c = lsp();
  await c.request('initialize', { processId: process.pid, rootUri: null, capabilities: {}, workspaceFolders: null });
  c.notify('initialized', {});
  c.notify('workspace/didChangeConfiguration', { settings: { kdap: { vmlinux: fx.vmlinux, modulePaths: [kmodDir, fx.debugModulesDir], sourceRoot: src } } });
  const uri = 'file:///bench/big.log';
  const diagnosed = new Promise((resolve) => c.on((m) => m.method === 'textDocument/publishDiagnostics' && m.params.uri === uri && resolve(m.params.diagnostics.length)));
  const t0 = performance.now();
  c.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'kernel-log', version: 1, text } });
  const linksP = c.request('textDocument/documentLink', { textDocument: { uri } });
  const reports = await diagnosed;
  const diagMs = performance.now() - t0;
  const links = await linksP;
  const linkMs = performance.now() - t0;
  const frame = links.find((l) => l.data);
  const t1 = performance.now();
  const resolved = await c.request('documentLink/resolve', frame);
  const resolveMs = performance.now() - t1;
  const t2 = performance.now();
  await Promise.all(links.filter((l) => l.data).slice(0, 200).map((l) => c.request('documentLink/resolve', l)));
  const resolve200Ms = performance.now() - t2;
  await c.close();
  return { reports, links: links.length, diagMs, linkMs, resolveMs, resolve200Ms, target: resolved?.target ?? null };
}

console.log(`bench/oops.mjs ${arch}, ${runs} run(s), log ${path.relative(root, logFile)} (${logText.split('\n').length} lines)`);
const kdapArgs = [cli, 'oops', 'decode', '--vmlinux', fx.vmlinux, '--module-path', kmodDir, '--module-path', fx.debugModulesDir, '--source-root', src, logFile];
const kdap = coldWarm('kdap oops decode', process.execPath, kdapArgs);
const dst = coldWarm('decode_stacktrace.sh', path.join(src, 'scripts', 'decode_stacktrace.sh'), [fx.vmlinux, src, kmodDir], logText);
const specs = faddr2lineSpecs();
const fa = { name: 'faddr2line', cold: 0, warm: 0 };
let specCount = 0;
for (const [obj, list] of specs) {
  const r = coldWarm('faddr2line', path.join(src, 'scripts', 'faddr2line'), [obj, ...list]);
  fa.cold += r.cold;
  fa.warm += r.warm;
  specCount += list.length;
}
const inproc = await inProcess();
const ls = await languageServer();

const rows = [
  ['', 'cold', 'warm'],
  [kdap.name, fmt(kdap.cold), fmt(kdap.warm)],
  [dst.name, fmt(dst.cold), fmt(dst.warm)],
  [`faddr2line (${specCount} frames)`, fmt(fa.cold), fmt(fa.warm)],
  ['kdap in one process (first, again)', fmt(inproc.first), fmt(inproc.again)],
];
for (const r of rows) console.log(`  ${r[0].padEnd(36)} ${r[1].padStart(10)} ${r[2].padStart(10)}`);
const ratio = (a, b) => `${(a / b).toFixed(1)}x`;
console.log(`ratios: decode_stacktrace.sh / kdap = ${ratio(dst.cold, kdap.cold)} cold, ${ratio(dst.warm, kdap.warm)} warm; ` +
  `faddr2line / kdap = ${ratio(fa.cold, kdap.cold)} cold, ${ratio(fa.warm, kdap.warm)} warm; ` +
  `decode_stacktrace.sh / kdap in the server (log again) = ${ratio(dst.warm, inproc.again)}`);
console.log(`language server, 100k lines: ${ls.reports} reports diagnosed in ${fmt(ls.diagMs)}, ${ls.links} links in ${fmt(ls.linkMs)}, ` +
  `first frame link resolved in ${fmt(ls.resolveMs)}, 200 more in ${fmt(ls.resolve200Ms)}`);
const out = path.join(root, 'bench', 'results');
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, `oops-${arch}.json`), JSON.stringify({ arch, runs, log: logFile, frames: inproc.frames, kdap, decodeStacktrace: { cold: dst.cold, warm: dst.warm }, faddr2line: { ...fa, frames: specCount }, inProcess: inproc, languageServer: ls }, (k, v) => (k === 'out' ? undefined : v), 2));
