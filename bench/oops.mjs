#!/usr/bin/env node
// Oops decoding: kdap against the kernel's own scripts on the same log and objects, cold with
// cold and warm with warm.
//
//   node bench/oops.mjs [x86_64|arm64] [runs] [LOG]
//
// cold  the objects (vmlinux, .ko) dropped from the page cache first (dd iflag=nocache, no root
//       needed), then one fresh process: scripts/decode_stacktrace.sh, scripts/faddr2line given
//       every frame (one call per object), `kdap oops decode` (dist/cli.js).
// warm  the page cache warm. The scripts have no other warm state: they start addr2line and
//       readelf anew every time. kdap's warm state is the language server's: the log open in a
//       kernel-log document, its symbolizer processes up after a first decode; then
//       `kdap/decode` of the report (every frame and the Code: line) and a hover on every frame
//       at once, through dist/server.js over stdio.
// Every contender must do the whole job: a peer that exits non-zero or leaves a frame
// undecoded stops the benchmark. Prints medians and the ratios; never a pass/fail.
// Needs `npm run build` and `npm run compile-tests` (out/) first.
import { spawnSync } from 'node:child_process';
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
for (const f of [cli, serverJs, path.join(root, 'out', 'src', 'oops', 'parse.js'), path.join(root, 'out', 'test', 'unit', 'server', 'lsp-client.js')]) {
  if (!fs.existsSync(f)) {
    console.error(`missing ${f}: run npm run build and npm run compile-tests first`);
    process.exit(2);
  }
}
const { parseLog } = require(path.join(root, 'out', 'src', 'oops', 'parse.js'));
const { LspClient } = require(path.join(root, 'out', 'test', 'unit', 'server', 'lsp-client.js'));

const fallback = arch === 'arm64' ? 'arm64/debian61-cortexa57-nonfatal-null-deref-in-dummy-ko-then-sysrq-c.log' : 'x86_64/kdap_test-oops.log';
const logFile = path.resolve(process.argv[4] ?? path.join(root, 'test', 'fixtures', 'logs', fallback));
const logText = fs.readFileSync(logFile, 'utf8');
const parsed = parseLog(logText);
const report = parsed.reports.find((r) => r.frames.length >= 8 && r.frames.length <= 20) ?? parsed.reports.find((r) => r.frames.length > 0);
if (!report) {
  console.error(`${logFile}: no report with frames`);
  process.exit(2);
}
const frames = report.frames.filter((f) => !f.inlined && f.symbol !== undefined);
const kmodDir = path.dirname(fx.kmod.ko);
const modulePaths = [kmodDir, fx.debugModulesDir];
const env = { ...process.env, ARCH: arch, CROSS_COMPILE: fx.crossCompile };

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`);
const fail = (what, why) => {
  console.error(`${what} did not do the work: ${why}`);
  process.exit(1);
};

function moduleObject(name) {
  return [path.join(kmodDir, `${name}.ko`), fx.modules[name]?.debug].find((p) => p && fs.existsSync(p));
}

/** Objects the tools read: evicted from the page cache for a cold run. */
function dropCaches() {
  const files = [fx.vmlinux, ...new Set(frames.filter((f) => f.module).map((f) => moduleObject(f.module)).filter(Boolean))];
  for (const f of files) spawnSync('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none']);
}

function run(cmd, args, input) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { input, env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return { ms: performance.now() - t0, status: r.status, out: r.stdout ?? '', err: r.stderr ?? '' };
}

// Each peer's check: the frames of the report come back with a source location.
const located = /\([^()\s]+:\d+/;
function checkDecodeStacktrace(r) {
  if (r.status !== 0) fail('decode_stacktrace.sh', `exit ${r.status}: ${r.err.slice(0, 300)}`);
  const names = new Set(r.out.split('\n').filter((l) => located.test(l)).map((l) => /(?:\]|^)\s*(?:\? )?([A-Za-z_.$][\w.$]*) \(/.exec(l)?.[1]));
  const missing = frames.filter((f) => !names.has(f.symbol));
  if (missing.length) fail('decode_stacktrace.sh', `${missing.length} frame(s) not decoded, first ${missing[0].symbol}`);
}
function checkFaddr2line(r, specs) {
  if (r.status !== 0) fail('faddr2line', `exit ${r.status}: ${r.err.slice(0, 300)}`);
  const answered = r.out.split('\n').filter((l) => / at \S+:\d+/.test(l) && !l.startsWith(' (inlined by)')).length;
  if (answered < specs.length) fail('faddr2line', `${answered} of ${specs.length} frames located`);
}
function checkKdapText(r, what) {
  if (r.status !== 0) fail(what, `exit ${r.status}: ${r.err.slice(0, 300)}`);
  const lines = r.out.split('\n');
  const missing = frames.filter((f) => !located.test(lines[f.line - 1] ?? '') && !lines.some((l) => l.includes(`${f.symbol}+`) && located.test(l)));
  if (missing.length) fail(what, `${missing.length} frame(s) not decoded, first ${missing[0].symbol}`);
}

/** `sym+0xoff/0xsize` of every frame, grouped per object, as faddr2line takes them. */
function faddr2lineSpecs() {
  const byObject = new Map();
  for (const f of frames) {
    if (f.offset === undefined || f.size === undefined) continue;
    const obj = f.module ? moduleObject(f.module) : fx.vmlinux;
    if (!obj) fail('faddr2line', `no object for module ${f.module}`);
    const list = byObject.get(obj) ?? [];
    list.push(`${f.symbol}+0x${f.offset.toString(16)}/0x${f.size.toString(16)}`);
    byObject.set(obj, list);
  }
  return byObject;
}

const peers = {
  'decode_stacktrace.sh': () => {
    // It takes one modules folder: the one that holds the report's modules.
    const mod = frames.find((f) => f.module);
    const modDir = mod ? path.dirname(moduleObject(mod.module) ?? path.join(kmodDir, 'x')) : kmodDir;
    const r = run(path.join(src, 'scripts', 'decode_stacktrace.sh'), [fx.vmlinux, src, modDir], logText);
    checkDecodeStacktrace(r);
    return r.ms;
  },
  faddr2line: () => {
    let ms = 0;
    for (const [obj, specs] of faddr2lineSpecs()) {
      const r = run(path.join(src, 'scripts', 'faddr2line'), [obj, ...specs]);
      checkFaddr2line(r, specs);
      ms += r.ms;
    }
    return ms;
  },
  'kdap oops decode': () => {
    const args = [cli, 'oops', 'decode', '--vmlinux', fx.vmlinux, ...modulePaths.flatMap((m) => ['--module-path', m]), '--source-root', src, logFile];
    const r = run(process.execPath, args);
    checkKdapText(r, 'kdap oops decode');
    return r.ms;
  },
};

/** The language server's warm state and what a user does in it. */
async function server() {
  const c = new LspClient(serverJs);
  const kdap = { vmlinux: fx.vmlinux, modulePaths, sourceRoot: src };
  await c.request('initialize', { processId: process.pid, rootUri: null, capabilities: {}, workspaceFolders: null, initializationOptions: { kdap } });
  c.notify('initialized', {});
  const uri = `file://${logFile}`;
  c.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'kernel-log', version: 1, text: logText } });
  const decode = async () => {
    const t0 = performance.now();
    const { result } = await c.request('kdap/decode', { uri, reportLine: report.line });
    const ms = performance.now() - t0;
    if (result.problems.length) fail('kdap/decode', result.problems.join('; '));
    checkKdapText({ status: 0, out: '\n'.repeat(report.startLine - 1) + result.text, err: '' }, 'kdap/decode');
    return ms;
  };
  const hoverAll = async () => {
    const t0 = performance.now();
    const hovers = await Promise.all(frames.map((f) => c.request('textDocument/hover', { textDocument: { uri }, position: { line: f.line - 1, character: f.range.start } })));
    const ms = performance.now() - t0;
    const bare = hovers.filter((h) => !/ at \[?`?[^`\s]+:\d+/.test(h.result?.contents?.value ?? ''));
    if (bare.length) fail('hover', `${bare.length} of ${frames.length} frames without a source location`);
    return ms;
  };
  dropCaches();
  const first = await decode();
  const warmDecode = [];
  const warmHover = [];
  for (let i = 0; i < Math.max(5, runs); i++) {
    warmDecode.push(await decode());
    warmHover.push(await hoverAll());
  }
  await c.request('shutdown', null);
  c.notify('exit', null);
  return { first, decode: median(warmDecode), hover: median(warmHover) };
}

console.log(`bench/oops.mjs ${arch}, ${runs} run(s), ${path.relative(root, logFile)}: "${report.title}", ${frames.length} frames`);
const results = {};
for (const [name, fn] of Object.entries(peers)) {
  const cold = [];
  const warm = [];
  for (let i = 0; i < runs; i++) {
    dropCaches();
    cold.push(fn());
    warm.push(fn());
  }
  results[name] = { cold: median(cold), warm: median(warm) };
}
const ls = await server();

const rows = [
  ['', 'cold', 'warm'],
  ...Object.entries(results).map(([name, r]) => [name, fmt(r.cold), fmt(r.warm)]),
  ['kdap server: first kdap/decode', fmt(ls.first), ''],
  ['kdap server: kdap/decode of the report', '', fmt(ls.decode)],
  [`kdap server: hover on all ${frames.length} frames`, '', fmt(ls.hover)],
];
for (const r of rows) console.log(`  ${r[0].padEnd(40)} ${r[1].padStart(10)} ${r[2].padStart(10)}`);
const dst = results['decode_stacktrace.sh'];
const x = (a, b) => `${(a / b).toFixed(1)}x`;
console.log(`cold vs cold: decode_stacktrace.sh / kdap oops decode = ${x(dst.cold, results['kdap oops decode'].cold)}, faddr2line / kdap = ${x(results.faddr2line.cold, results['kdap oops decode'].cold)}`);
console.log(`warm vs warm: decode_stacktrace.sh / kdap/decode = ${x(dst.warm, ls.decode)}, decode_stacktrace.sh / hover on every frame = ${x(dst.warm, ls.hover)}; ` +
  `faddr2line / hover on every frame = ${x(results.faddr2line.warm, ls.hover)}`);
const out = path.join(root, 'bench', 'results');
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, `oops-${arch}.json`), JSON.stringify({ arch, runs, log: logFile, frames: frames.length, peers: results, server: ls }, null, 2));
