/** dist/server.js over stdio, driven by a minimal LSP client: the protocol surface and its latency. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readLog, repoRoot } from '../oops/helpers';
import { LspClient, type Notification } from './lsp-client';

const serverJs = path.join(repoRoot, 'dist', 'server.js');
const SMALL = 'file:///logs/null-deref.log';
const BIG = 'file:///logs/big.log';

interface Diagnostics {
  uri: string;
  version?: number;
  diagnostics: Array<{ range: { start: { line: number } }; severity: number; message: string }>;
}

const diagnosticsFor = (uri: string, version?: number) => (n: Notification) =>
  n.method === 'textDocument/publishDiagnostics' &&
  (n.params as Diagnostics).uri === uri &&
  (version === undefined || (n.params as Diagnostics).version === version);

/** ~100k lines: the fixture logs repeated, as a long serial capture would be. */
function bigLog(): string {
  const parts = ['x86_64/null-deref.log', 'x86_64/warn.log', 'arm64/debian61-cortexa57-fatal-oops-panic_on_oops.log', 'public/syzbot-lockdep-ocfs2.log'].map(readLog);
  const lines: string[] = [];
  for (let i = 0; lines.length < 100_000; i++) lines.push(...parts[i % parts.length].trimEnd().split('\n'));
  return lines.slice(0, 100_000).join('\n') + '\n';
}

describe('kernel-log language server (dist/server.js)', () => {
  let client: LspClient;

  before(async () => {
    if (!fs.existsSync(serverJs) || !fs.readFileSync(serverJs, 'utf8').includes('kdap kernel-log')) {
      const b = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs')], { cwd: repoRoot, encoding: 'utf8' });
      assert.equal(b.status, 0, b.stderr);
    }
    client = new LspClient(serverJs);
    const init = await client.request<{ capabilities: Record<string, unknown> }>('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
    assert.deepEqual(
      [init.result.capabilities.textDocumentSync, init.result.capabilities.hoverProvider, init.result.capabilities.documentSymbolProvider, init.result.capabilities.foldingRangeProvider],
      [2, true, true, true],
    );
    client.notify('initialized', {});
    client.notify('textDocument/didOpen', { textDocument: { uri: SMALL, languageId: 'kernel-log', version: 1, text: readLog('x86_64/null-deref.log') } });
  });

  after(async () => {
    await client?.close();
  });

  it('publishes one diagnostic per report', async () => {
    const n = await client.waitFor(diagnosticsFor(SMALL, 1));
    const d = (n.params as Diagnostics).diagnostics;
    assert.deepEqual(
      d.map((x) => [x.range.start.line, x.severity, x.message]),
      [[373, 1, 'BUG: kernel NULL pointer dereference, address: 0000000000000028']],
    );
  });

  it('answers outline, folding and hover requests', async () => {
    const doc = { textDocument: { uri: SMALL } };
    const symbols = await client.request<Array<{ name: string; children: unknown[] }>>('textDocument/documentSymbol', doc);
    assert.deepEqual(symbols.result.map((s) => [s.name, s.children.length]), [['BUG: kernel NULL pointer dereference, address: 0000000000000028', 1]]);
    const folds = await client.request<Array<{ startLine: number; endLine: number }>>('textDocument/foldingRange', doc);
    assert.deepEqual(folds.result.map((f) => [f.startLine, f.endLine]), [[373, 422], [391, 408]]);
    const hover = await client.request<{ contents: { value: string } }>('textDocument/hover', { ...doc, position: { line: 393, character: 20 } });
    assert.match(hover.result.contents.value, /^`oopsmod_write\.cold\+0x5\/0xa \[oopsmod\]`/);
    const none = await client.request<null>('textDocument/hover', { ...doc, position: { line: 10, character: 5 } });
    assert.equal(none.result, null);
  });

  it('follows incremental edits', async () => {
    const end = readLog('x86_64/null-deref.log').split('\n').length - 1;
    const warn = 'WARNING: CPU: 0 PID: 7 at a.c:1 f+0x1/0x2\nCall Trace:\n f+0x1/0x2\n';
    client.notify('textDocument/didChange', {
      textDocument: { uri: SMALL, version: 2 },
      contentChanges: [{ range: { start: { line: end, character: 0 }, end: { line: end, character: 0 } }, text: warn }],
    });
    const n = await client.waitFor(diagnosticsFor(SMALL, 2));
    assert.deepEqual(
      (n.params as Diagnostics).diagnostics.map((d) => [d.range.start.line, d.severity]),
      [
        [373, 1],
        [end, 2],
      ],
    );
  });

  it('a 100k-line log does not hold up requests on other documents', async (t) => {
    const text = bigLog();
    const opened = Date.now();
    client.notify('textDocument/didOpen', { textDocument: { uri: BIG, languageId: 'kernel-log', version: 1, text } });
    // Sent right behind the big document: answered while it is still being parsed.
    const hover = await client.request<{ contents: { value: string } }>('textDocument/hover', { textDocument: { uri: SMALL }, position: { line: 393, character: 20 } });
    const answered = Date.now() - opened;
    const big = await client.waitFor(diagnosticsFor(BIG, 1));
    const done = Date.now() - opened;
    t.diagnostic(`100k lines: hover on another document after ${answered} ms, diagnostics after ${done} ms, ${(big.params as Diagnostics).diagnostics.length} reports`);
    assert.match(hover.result.contents.value, /oopsmod_write/);
    assert.ok(hover.seq < big.seq, 'hover answered before the big log finished');
    assert.ok((big.params as Diagnostics).diagnostics.length > 300);
  });

  it('clears diagnostics on close', async () => {
    client.notify('textDocument/didClose', { textDocument: { uri: BIG } });
    await client.waitFor((n) => diagnosticsFor(BIG)(n) && (n.params as Diagnostics).diagnostics.length === 0);
    assert.equal(client.stderr, '');
  });
});
