#!/usr/bin/env node
// A 100k-line kernel log to LSP diagnostics: this tree against a baseline commit, same run.
//
//   node bench/logs.mjs [--runs N] [--baseline REV] [--lines N]
//
// The log is built from the real samples in test/fixtures/logs (serial captures, public
// reports, journalctl/syslog pastes), repeated in turn up to --lines lines (100000).
// Both trees are bundled the same way (esbuild, from `src/` of the working tree and of `git
// archive REV`; REV defaults to the merge base with main) and measured the same way, each run
// in a fresh process:
//   in-process  the server's own path: TextDocument → ParsedDocuments.get → diagnostics → JSON
//   server      dist/server.js over stdio: didOpen sent → publishDiagnostics received
// Time is the median of --runs runs (5); memory is the peak RSS of the process that parsed.
// Both must publish diagnostics, and each tree's server must publish as many as its own
// in-process parse finds; the counts may differ between trees (a newer parser finds more).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
};
const runs = Math.max(1, Number(arg('--runs', 5)));
const lineCount = Math.max(1000, Number(arg('--lines', 100_000)));
const git = (...args) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
const baseRev = arg('--baseline', git('merge-base', 'HEAD', 'main').stdout.trim() || 'HEAD');
const esbuild = require(path.join(root, 'node_modules', 'esbuild'));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
const mb = (kb) => `${(kb / 1024).toFixed(0)} MB`;

/** The log: every fixture sample in turn, whole, until there are `lineCount` lines. */
function corpus() {
  const dir = path.join(root, 'test', 'fixtures', 'logs');
  const files = fs
    .readdirSync(dir, { recursive: true })
    .filter((f) => f.endsWith('.log'))
    .sort();
  const parts = files.map((f) => fs.readFileSync(path.join(dir, f), 'utf8').replace(/\n$/, '').split('\n'));
  const lines = [];
  for (let i = 0; lines.length < lineCount; i++) lines.push(...parts[i % parts.length]);
  return { text: lines.slice(0, lineCount).join('\n') + '\n', files: files.length };
}

const ENTRY = `export { ParsedDocuments } from './src/server/documents';
export { diagnostics } from './src/server/features';
export { TextDocument } from 'vscode-languageserver-textdocument';
`;

/** Bundles `server.js` and an in-process entry from the `src/` of `dir`. */
async function bundle(dir, out) {
  // The server process's V8 settings, where the tree has them, so in-process is the server's path.
  const tuning = fs.existsSync(path.join(dir, 'src', 'server', 'tuning.ts')) ? "import './src/server/tuning';\n" : '';
  fs.writeFileSync(path.join(dir, 'bench-entry.ts'), tuning + ENTRY);
  const common = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'error', nodePaths: [path.join(root, 'node_modules')], external: ['vscode'] };
  await esbuild.build({ ...common, entryPoints: [path.join(dir, 'src', 'server', 'main.ts')], outfile: path.join(out, 'server.js') });
  await esbuild.build({ ...common, entryPoints: [path.join(dir, 'bench-entry.ts')], outfile: path.join(out, 'inproc.js') });
  fs.rmSync(path.join(dir, 'bench-entry.ts'));
}

/** A copy of `src/` at `rev`. */
function checkout(rev, dir) {
  fs.mkdirSync(dir, { recursive: true });
  const tar = spawnSync('git', ['archive', rev, 'src'], { cwd: root, maxBuffer: 512 * 1024 * 1024 });
  if (tar.status !== 0) throw new Error(`git archive ${rev}: ${tar.stderr}`);
  const x = spawnSync('tar', ['-x', '-C', dir], { input: tar.stdout });
  if (x.status !== 0) throw new Error(`tar: ${x.stderr}`);
}

const CHILD = `
const fs = require('node:fs');
const [bundlePath, logPath] = process.argv.slice(2);
const { ParsedDocuments, diagnostics, TextDocument } = require(bundlePath);
const text = fs.readFileSync(logPath, 'utf8');
(async () => {
  const t0 = performance.now();
  const doc = TextDocument.create('file:///bench/big.log', 'kernel-log', 1, text);
  const parsed = await new ParsedDocuments().get(doc);
  const diags = diagnostics(parsed.log);
  const json = JSON.stringify({ uri: doc.uri, version: 1, diagnostics: diags });
  const ms = performance.now() - t0;
  const frames = parsed.log.reports.reduce((n, r) => n + r.frames.length, 0);
  process.stdout.write(JSON.stringify({ ms, diagnostics: diags.length, frames, bytes: json.length, rssKb: process.resourceUsage().maxRSS }));
})();
`;

function inProcess(tree, logPath, childPath) {
  const r = spawnSync(process.execPath, [childPath, path.join(tree, 'inproc.js'), logPath], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`in-process run failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** didOpen → publishDiagnostics through a fresh server on stdio; peak RSS from /proc. */
function server(tree, text) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(tree, 'server.js'), '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let buf = Buffer.alloc(0);
    let t0 = 0;
    const send = (m) => {
      const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...m }));
      child.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
      child.stdin.write(body);
    };
    child.on('error', reject);
    child.stdout.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/Content-Length: (\d+)/i.exec(buf.subarray(0, end).toString())[1]);
        if (buf.length < end + 4 + len) return;
        const msg = JSON.parse(buf.subarray(end + 4, end + 4 + len).toString());
        buf = buf.subarray(end + 4 + len);
        if (msg.id === 1 && msg.result) {
          send({ method: 'initialized', params: {} });
          t0 = performance.now();
          send({ method: 'textDocument/didOpen', params: { textDocument: { uri: 'file:///bench/big.log', languageId: 'kernel-log', version: 1, text } } });
        } else if (msg.method === 'textDocument/publishDiagnostics' && msg.params.diagnostics.length > 0) {
          const ms = performance.now() - t0;
          const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
          const rssKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
          send({ id: 2, method: 'shutdown', params: null });
          send({ method: 'exit', params: null });
          child.on('exit', () => resolve({ ms, diagnostics: msg.params.diagnostics.length, rssKb }));
        } else if (msg.id !== undefined && msg.method !== undefined) {
          send({ id: msg.id, result: null });
        }
      }
    });
    send({ id: 1, method: 'initialize', params: { processId: process.pid, rootUri: null, capabilities: {}, workspaceFolders: null } });
  });
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-bench-logs-'));
try {
  const { text, files } = corpus();
  const logPath = path.join(work, 'big.log');
  fs.writeFileSync(logPath, text);
  const childPath = path.join(work, 'child.cjs');
  fs.writeFileSync(childPath, CHILD);
  const trees = [
    { name: `baseline ${baseRev.slice(0, 10)}`, dir: path.join(work, 'base') },
    { name: 'this tree', dir: path.join(work, 'head') },
  ];
  checkout(baseRev, trees[0].dir);
  fs.cpSync(path.join(root, 'src'), path.join(trees[1].dir, 'src'), { recursive: true });
  for (const t of trees) {
    t.out = path.join(t.dir, 'dist');
    await bundle(t.dir, t.out);
    t.inproc = [];
    t.server = [];
  }
  console.log(`bench/logs.mjs: ${lineCount} lines (${(text.length / 1e6).toFixed(1)} MB) from ${files} fixture logs, ${runs} run(s), node ${process.version}`);
  // Interleaved, so drift in machine load hits both trees alike.
  for (let i = 0; i < runs; i++) {
    for (const t of trees) {
      t.inproc.push(inProcess(t.out, logPath, childPath));
      t.server.push(await server(t.out, text));
    }
  }
  const rows = [];
  for (const t of trees) {
    const d = new Set([...t.inproc, ...t.server].map((r) => r.diagnostics));
    if (d.size !== 1 || [...d][0] === 0) {
      console.error(`${t.name}: runs disagree or published nothing (diagnostics ${[...d].join(', ')}); stopping`);
      process.exit(1);
    }
    t.summary = {
      diagnostics: [...d][0],
      frames: t.inproc[0].frames,
      inprocMs: median(t.inproc.map((r) => r.ms)),
      inprocRssKb: Math.max(...t.inproc.map((r) => r.rssKb)),
      serverMs: median(t.server.map((r) => r.ms)),
      serverRssKb: Math.max(...t.server.map((r) => r.rssKb)),
    };
    const s = t.summary;
    rows.push([t.name, `${s.diagnostics} / ${s.frames}`, fmt(s.inprocMs), mb(s.inprocRssKb), fmt(s.serverMs), mb(s.serverRssKb)]);
  }
  const head = ['', 'reports / frames', 'in-process', 'peak RSS', 'server (stdio)', 'peak RSS'];
  for (const r of [head, ...rows]) console.log(`  ${r[0].padEnd(22)} ${r[1].padStart(17)} ${r[2].padStart(11)} ${r[3].padStart(9)} ${r[4].padStart(15)} ${r[5].padStart(9)}`);
  const [b, h] = trees.map((t) => t.summary);
  console.log(`ratios (baseline / this tree): in-process ${(b.inprocMs / h.inprocMs).toFixed(2)}x, server ${(b.serverMs / h.serverMs).toFixed(2)}x; peak RSS ${(b.serverRssKb / h.serverRssKb).toFixed(2)}x`);
  const out = path.join(root, 'bench', 'results');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'logs.json'), JSON.stringify({ lines: lineCount, runs, baseline: baseRev, trees: trees.map((t) => ({ name: t.name, ...t.summary })) }, null, 2));
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
