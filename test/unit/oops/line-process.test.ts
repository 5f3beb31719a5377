/**
 * The long-lived helper process: pipelined exchanges, batching, idle stop and restart, failures,
 * and that every process it starts is reaped. A small node script stands in for the tools; the
 * real llvm-symbolizer and addr2line are exercised in symbolize-objects.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Batcher } from '../../../src/oops/symbolize/batch';
import { LineProcess, liveProcessIds, ToolError } from '../../../src/oops/symbolize/line-process';

// Answers each line: `n:K` → K lines, `die` → exits 3, `hang` → nothing, else echoes it.
const FAKE = `
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', (l) => {
  if (l === 'die') { process.stderr.write('fake: told to die\\n'); process.exit(3); }
  if (l === 'hang') return;
  const m = /^n:(\\d+)$/.exec(l);
  if (m) { for (let i = 0; i < Number(m[1]); i++) process.stdout.write('line ' + i + '\\n'); process.stdout.write('end\\n'); return; }
  process.stdout.write('echo ' + l + '\\n');
});
rl.on('close', () => process.exit(0));
`;

let dir: string;
let script: string;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function fake(extra: Partial<{ idleMs: number; timeoutMs: number }> = {}): LineProcess {
  return new LineProcess({ program: process.execPath, args: [script], idleMs: extra.idleMs ?? 0, timeoutMs: extra.timeoutMs, label: 'fake' });
}

const oneLine = (got: readonly string[]) => got.length >= 1;
const untilEnd = (got: readonly string[]) => got[got.length - 1] === 'end';

describe('LineProcess', () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-lp-'));
    script = path.join(dir, 'fake.js');
    fs.writeFileSync(script, FAKE);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('pipelines exchanges and hands each its own lines', async () => {
    const p = fake();
    const answers = await Promise.all([p.exchange('a\n', oneLine), p.exchange('n:3\n', untilEnd), p.exchange('b\n', oneLine)]);
    assert.deepEqual(answers, [['echo a'], ['line 0', 'line 1', 'line 2', 'end'], ['echo b']]);
    assert.equal(p.starts, 1);
    const pid = p.pid!;
    await p.dispose();
    assert.equal(alive(pid), false);
    await assert.rejects(p.exchange('x\n', oneLine), ToolError);
  });

  it('stops after the idle time and starts again on demand', async () => {
    const p = fake({ idleMs: 50 });
    assert.deepEqual(await p.exchange('a\n', oneLine), ['echo a']);
    const first = p.pid!;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(p.running, false);
    assert.equal(alive(first), false);
    assert.deepEqual(await p.exchange('b\n', oneLine), ['echo b']);
    assert.equal(p.starts, 2);
    await p.dispose();
  });

  it('a process that dies rejects its open exchanges with its stderr, and the next one restarts', async () => {
    const p = fake();
    await assert.rejects(p.exchange('die\n', oneLine), /exited with status 3: fake: told to die/);
    assert.deepEqual(await p.exchange('c\n', oneLine), ['echo c']);
    await p.dispose();
  });

  it('a missing program is an error, not a hang', async () => {
    const p = new LineProcess({ program: path.join(dir, 'no-such-tool'), args: [], idleMs: 0, label: 'missing' });
    await assert.rejects(p.exchange('a\n', oneLine), /not found/);
    await p.dispose();
  });

  it('an answer that never comes kills the process after the timeout', async () => {
    const p = fake({ timeoutMs: 200 });
    await assert.rejects(p.exchange('hang\n', oneLine), /no answer within 200 ms/);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(p.running, false);
    await p.dispose();
  });

  it('Batcher: lookups of one event-loop turn become one exchange', async () => {
    const p = fake();
    const batches: number[] = [];
    const b = new Batcher<string, string>(async (items) => {
      batches.push(items.length);
      const lines = await p.exchange(items.map((i) => i + '\n').join(''), (got) => got.length >= items.length);
      return lines;
    });
    const got = await Promise.all(['x', 'y', 'z'].map((s) => b.add(s)));
    assert.deepEqual(got, ['echo x', 'echo y', 'echo z']);
    assert.deepEqual(await b.add('w'), 'echo w');
    assert.deepEqual(batches, [3, 1]);
    await p.dispose();
  });

  it('leaves no process behind', () => {
    assert.deepEqual(liveProcessIds(), []);
  });
});
