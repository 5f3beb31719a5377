import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { logger } from '@vscode/debugadapter';
import { KdapSession } from '../../../src/adapter/session';

/** Entries the debugadapter's global logger holds back until someone calls logger.setup(). */
function queued(): number {
  return (logger as unknown as { _pendingLogQ: unknown[] | null })._pendingLogQ?.length ?? 0;
}

function frame(message: object): string {
  const json = JSON.stringify(message);
  return `Content-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`;
}

// bench/soak.mjs found the adapter's heap growing with every DAP message: the session
// inherited LoggingDebugSession, which queues each message's JSON for a log that is never set
// up, so a long session kept every stack trace it ever sent.
test('the session keeps nothing per DAP message', async () => {
  const input = new PassThrough();
  const output = new PassThrough();
  let replies = 0;
  output.on('data', (d: Buffer) => (replies += (d.toString().match(/"type":"response"/g) ?? []).length));
  const session = new KdapSession();
  session.start(input, output);
  const before = queued();
  const n = 200;
  input.write(frame({ seq: 1, type: 'request', command: 'initialize', arguments: { adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true } }));
  for (let i = 0; i < n; i++) input.write(frame({ seq: i + 2, type: 'request', command: 'threads' }));
  const deadline = Date.now() + 10_000;
  while (replies < n + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(replies, n + 1, 'every request was answered');
  assert.ok(queued() - before < 10, `${queued() - before} log entries held for ${n + 1} requests`);
  session.dispose();
  input.end();
});
