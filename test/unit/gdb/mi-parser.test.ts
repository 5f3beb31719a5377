import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseMILine, quoteArg, MIParseError, MITuple } from '../../../src/gdb/mi/parser';
import { parseBreakpoint } from '../../../src/gdb/mi/breakpoints';
import { parseFrame } from '../../../src/gdb/mi/stack';
import { tuples, tuple, str } from '../../../src/gdb/mi/values';

const fixtures = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'gdb-mi');

/** Lines gdb printed in a real session against the x86_64 fixture kernel (`< ` = from gdb). */
function received(name: string): string[] {
  return fs
    .readFileSync(path.join(fixtures, name), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('< '))
    .map((l) => l.slice(2));
}

describe('MI parser on a real gdb 13 session', () => {
  const lines = received('x86_64-session.mi');

  test('every line parses into a record of the kind its first character says', () => {
    assert.ok(lines.length > 50);
    for (const line of lines) {
      const r = parseMILine(line);
      const expected =
        line.startsWith('(gdb)') ? 'prompt'
        : /^\d*\^/.test(line) ? 'result'
        : /^\d*\*/.test(line) ? 'exec'
        : /^\d*=/.test(line) ? 'notify'
        : line.startsWith('~') ? 'console'
        : line.startsWith('@') ? 'target'
        : line.startsWith('&') ? 'log'
        : 'other';
      assert.equal(r.type, expected, line);
    }
  });

  test('tokens match the commands that were sent', () => {
    const tokens = lines.map(parseMILine).flatMap((r) => (r.type === 'result' && r.token !== undefined ? [r.token] : []));
    assert.deepEqual(tokens.slice(0, 5), [1, 2, 3, 4, 5]);
  });

  test('the stop at start_kernel carries reason, breakpoint and frame', () => {
    const stop = lines.map(parseMILine).find((r) => r.type === 'exec' && r.cls === 'stopped' && r.results.reason === 'breakpoint-hit');
    assert.ok(stop && stop.type === 'exec');
    const frame = parseFrame(tuple(stop.results, 'frame'));
    assert.equal(frame.func, 'start_kernel');
    assert.equal(frame.line, 951);
    assert.equal(frame.address, 0xffffffff8304ce41n);
    assert.equal(str(stop.results, 'bkptno'), '1');
  });

  test('64-bit addresses survive as bigint (no rounding through number)', () => {
    const mem = lines.map(parseMILine).find((r) => r.type === 'result' && 'memory' in r.results);
    assert.ok(mem && mem.type === 'result');
    const block = tuples(mem.results, 'memory')[0];
    assert.equal(block.begin, '0xffffffff82a079c0');
    assert.equal(BigInt(str(block, 'begin')) + 8n, BigInt(str(block, 'end')));
    // A JS number cannot hold this address exactly: the reason addresses are bigint.
    assert.notEqual(Number(BigInt('0xffffffff82a079c1')).toString(16), 'ffffffff82a079c1');
  });

  test('a list of frame= results becomes frames', () => {
    const r = lines.map(parseMILine).find((x) => x.type === 'result' && 'stack' in x.results);
    assert.ok(r && r.type === 'result');
    const frames = tuples(r.results, 'stack', 'frame').map(parseFrame);
    assert.equal(frames[0].func, 'start_kernel');
    assert.equal(frames[1].func, 'secondary_startup_64');
    assert.equal(frames[1].level, 1);
  });

  test('c-string escapes: octal NULs and quotes inside a value', () => {
    const r = lines.map(parseMILine).find((x) => x.type === 'result' && typeof x.results.value === 'string' && x.results.value.includes('swapper'));
    assert.ok(r && r.type === 'result');
    assert.equal(r.results.value, '"swapper\\000\\000\\000\\000\\000\\000\\000\\000"');
  });

  test('a frame whose pc gdb could not read has no address, not a parse error', () => {
    const r = parseMILine('^done,threads=[{id="3",target-id="Thread 3",frame={level="0",addr="<unavailable>",func="??",args=[]},state="stopped"}]');
    assert.equal(r.type, 'result');
    const frame = parseFrame(tuple(tuples(r.results, 'threads')[0], 'frame'));
    assert.equal(frame.address, undefined);
    assert.equal(frame.func, '??');
  });

  test('a pending breakpoint is recognised', () => {
    const r = lines.map(parseMILine).find((x) => x.type === 'result' && JSON.stringify(x.results).includes('<PENDING>'));
    assert.ok(r && r.type === 'result');
    const b = parseBreakpoint(r.results.bkpt as MITuple);
    assert.equal(b.pending, true);
    assert.deepEqual(b.locations, []);
  });

  test('target output from monitor commands is a target stream', () => {
    const texts = lines.map(parseMILine).flatMap((r) => (r.type === 'target' ? [r.text] : []));
    assert.ok(texts.some((t) => /CPU #1: thread_id=\d+\r\n/.test(t)));
  });
});

describe('MI parser edge cases', () => {
  test('octal escapes decode as UTF-8 bytes', () => {
    const r = parseMILine('~"caf\\303\\251 \\033[0m\\n"');
    assert.deepEqual(r, { type: 'console', text: 'café \u001b[0m\n' });
  });

  test('mi3 multi-location breakpoint (arm64 ftrace pad + DWARF entry)', () => {
    const line =
      '7^done,bkpt={number="2",type="breakpoint",disp="keep",enabled="y",addr="<MULTIPLE>",times="0",original-location="dummy_get_stats64",' +
      'locations=[{number="2.1",enabled="y",addr="0xffff800000bd00b0",func="dummy_get_stats64",file="drivers/net/dummy.c",line="55",thread-groups=["i1"]},' +
      '{number="2.2",enabled="y",addr="0xffff800000bd00b8",func="dummy_get_stats64",file="drivers/net/dummy.c",line="57",thread-groups=["i1"]}]}';
    const r = parseMILine(line);
    assert.equal(r.type, 'result');
    const b = parseBreakpoint((r as { results: MITuple }).results.bkpt as MITuple);
    assert.equal(b.locations.length, 2);
    assert.equal(b.locations[1].address! - b.locations[0].address!, 8n);
  });

  test('mi2 repeated bkpt keys are all kept', () => {
    const r = parseMILine('^done,bkpt={number="1",addr="<MULTIPLE>"},{number="1.1",addr="0x10"},{number="1.2",addr="0x18"}');
    assert.equal(r.type, 'result');
    const results = (r as { results: MITuple }).results;
    const all = results['bkpt*'] as MITuple[];
    assert.equal(all.length, 3);
    const b = parseBreakpoint(all[0], all.slice(1));
    assert.deepEqual(b.locations.map((l) => l.address), [0x10n, 0x18n]);
  });

  test('empty tuple and list, and an error record', () => {
    assert.deepEqual(parseMILine('^done,a={},b=[]'), { type: 'result', cls: 'done', results: { a: {}, b: [] } });
    const e = parseMILine('12^error,msg="No symbol \\"foo\\" in current context."');
    assert.deepEqual(e, { type: 'result', token: 12, cls: 'error', results: { msg: 'No symbol "foo" in current context.' } });
  });

  test('non-MI text is "other", and broken MI raises a parse error naming the column', () => {
    assert.deepEqual(parseMILine('Reading symbols from vmlinux...'), { type: 'other', text: 'Reading symbols from vmlinux...' });
    assert.throws(() => parseMILine('^done,a="unterminated'), MIParseError);
    assert.throws(() => parseMILine('^done,a={b="1"'), /column/);
  });

  test('quoteArg leaves plain words and quotes the rest', () => {
    assert.equal(quoteArg('start_kernel'), 'start_kernel');
    assert.equal(quoteArg('*0xffffffff81000000'), '*0xffffffff81000000');
    assert.equal(quoteArg('init/main.c:951'), 'init/main.c:951');
    assert.equal(quoteArg('sizeof(struct task_struct)'), '"sizeof(struct task_struct)"');
    assert.equal(quoteArg('a "b" \\ c'), '"a \\"b\\" \\\\ c"');
    assert.equal(quoteArg(''), '""');
  });
});
