// What every part of the vscode tier shares: paths, the results being collected, logging, and
// the list of things to stop at exit (servers, browsers), newest first.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const cache = process.env.KDAP_CACHE || path.join(os.homedir(), '.cache', 'kdap');
export const serverMain = path.join(cache, 'code-server', 'node_modules', 'code-server', 'lib', 'vscode', 'out', 'server-main.js');
export const chromiumPath = '/usr/bin/chromium';
export const vsix = path.join(root, 'dist', 'kdap.vsix');
export const artifacts = path.join(root, 'test-artifacts');
export const shots = path.join(artifacts, 'vscode');
export const verbose = process.env.VERBOSE === '1';
export const started = Date.now();
export const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-vscode-'));

/** One entry per test: status passed, failed or skipped. */
export const results = [];
/** Things to undo at exit, newest first. */
export const cleanups = [];

export function log(msg) {
  console.log(`[vscode ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${msg}`);
}

export function record(name, status, detail) {
  const entry = { name, status };
  if (detail && status === 'skipped') entry.reason = detail;
  else if (detail) entry.error = detail;
  results.push(entry);
  const tag = { passed: '  ok  ', failed: '  FAIL', skipped: '  skip' }[status];
  console.log(`${tag} ${name}${detail ? `\n        ${detail.split('\n').join('\n        ')}` : ''}`);
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export function withTimeout(what, promise, ms) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

/** Files under `dir` whose name matches `re`, for logs the server writes in dated folders. */
export function findFiles(dir, re, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) findFiles(p, re, out);
    else if (re.test(e.name)) out.push(p);
  }
  return out;
}

/** Stops what was started so far (browsers, servers), newest first. */
export async function runCleanups() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch {
      // keep cleaning
    }
  }
}

/** Copies the test workspace, with a real capture from the fixture kernel as a .oops file. */
export const capturedOops = path.join(root, 'test', 'fixtures', 'logs', 'x86_64', 'kdap_test-oops.log');
export const capturedOopsName = 'kdap_test-x86_64.oops';
export function copyWorkspace(name) {
  const ws = path.join(tmp, name);
  fs.cpSync(path.join(root, 'test', 'vscode', 'workspace'), ws, { recursive: true });
  // .oops makes it a Kernel Log (its first line is shell).
  fs.copyFileSync(capturedOops, path.join(ws, capturedOopsName));
  return ws;
}
