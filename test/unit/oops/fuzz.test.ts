/**
 * The parser must survive anything and stay linear: random bytes, mutated real logs, huge
 * lines, and inputs built to make a careless regex backtrack. Time is only ever compared with
 * the same input at an eighth of the size (a factor between linear and quadratic), never with a
 * wall-clock limit.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseLog } from '../../../src/oops/parse';
import { readLog } from './helpers';

/** mulberry32: a seeded generator, so a failing case can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SAMPLES = [
  'x86_64/null-deref.log',
  'x86_64/warn.log',
  'arm64/custom64k-cortexa57-lkdtm-WARNING-BUG-EXCEPTION-ACCESS_NULL-EXEC_DATA-then-sysrq-c.log',
  'public/syzbot-lockdep-ocfs2.log',
  'public/lkml-arm-old-format-quoted.log',
  'public/lkml-powerpc-soft-lockup.log',
  'public/lkp-decoded-x86-warning.log',
].map(readLog);

/**
 * 8× the input may cost at most 32× the time. Linear work costs 8×, quadratic 64×: the gap is
 * wide enough that a loaded machine (two cores shared with QEMU guests) cannot push a linear
 * parser over it, while a backtracking regex still fails. Small and big runs alternate, best of
 * five each, so a burst of load hits both sizes alike. `n` is the small size; the big one is 8n.
 */
function assertLinear(make: (n: number) => string, n: number, label: string, factor = 32): void {
  const small = make(n);
  const big = make(8 * n);
  parseLog(small); // warm the JIT so the first measurement is not the slow one
  let ts = Infinity;
  let tb = Infinity;
  for (let i = 0; i < 5; i++) {
    let t0 = process.hrtime.bigint();
    parseLog(small);
    ts = Math.min(ts, Number(process.hrtime.bigint() - t0));
    t0 = process.hrtime.bigint();
    parseLog(big);
    tb = Math.min(tb, Number(process.hrtime.bigint() - t0));
  }
  assert.ok(tb < ts * factor + 2e6, `${label}: ${n} → ${(ts / 1e6).toFixed(1)} ms, ${8 * n} → ${(tb / 1e6).toFixed(1)} ms`);
}

describe('fuzz: never throws', () => {
  it('random bytes, decoded as UTF-8 and as Latin-1', () => {
    const r = rng(1);
    for (let i = 0; i < 200; i++) {
      const buf = Buffer.alloc(Math.floor(r() * 4096));
      for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(r() * 256);
      parseLog(buf.toString('utf8'));
      parseLog(buf.toString('latin1'));
    }
  });

  it('mutated real logs: deleted, duplicated, swapped and truncated lines and characters', () => {
    const r = rng(2);
    const alphabet = ' []<>()?+/:x0f\t\r=-#|{}\\';
    for (let i = 0; i < 300; i++) {
      const lines = SAMPLES[i % SAMPLES.length].split('\n');
      for (let k = 0; k < 40; k++) {
        const at = Math.floor(r() * lines.length);
        const op = Math.floor(r() * 5);
        if (op === 0) lines.splice(at, 1);
        else if (op === 1) lines.splice(at, 0, lines[Math.floor(r() * lines.length)] ?? '');
        else if (op === 2) lines[at] = (lines[at] ?? '').slice(0, Math.floor(r() * 80));
        else {
          const l = lines[at] ?? '';
          const c = Math.floor(r() * (l.length + 1));
          lines[at] = l.slice(0, c) + alphabet[Math.floor(r() * alphabet.length)] + l.slice(c + (op === 3 ? 1 : 0));
        }
      }
      const log = parseLog(lines.join('\n'));
      for (const rep of log.reports) {
        assert.ok(rep.startLine <= rep.line && rep.line <= rep.endLine, `report range ${rep.startLine}/${rep.line}/${rep.endLine}`);
        for (const f of rep.frames) assert.ok(f.range.start <= f.range.end && f.line >= rep.startLine);
      }
    }
  });

  it('a 10 MB single line', () => {
    const r = rng(3);
    const parts: string[] = [];
    for (let size = 0; size < 10 * 1024 * 1024; ) {
      const piece = ['[<ffffffff81000000>] ', 'foo+0x1/0x2 ', 'Code: <0f> ', '(', '[ 1.0] ', 'x'.repeat(50)][Math.floor(r() * 6)];
      parts.push(piece);
      size += piece.length;
    }
    const log = parseLog(parts.join(''));
    assert.equal(log.lineCount, 1);
  });

  it('200k lines of real logs', () => {
    const lines: string[] = [];
    for (let i = 0; lines.length < 200_000; i++) lines.push(...SAMPLES[i % SAMPLES.length].split('\n'));
    const log = parseLog(lines.join('\n'));
    assert.ok(log.reports.length > 1000);
  });
});

describe('fuzz: linear time', () => {
  const repeatLines = (n: number) => {
    const lines: string[] = [];
    for (let i = 0; lines.length < n; i++) lines.push(...SAMPLES[i % SAMPLES.length].split('\n'));
    return lines.slice(0, n).join('\n');
  };
  it('real logs: 25k vs 200k lines', () => assertLinear(repeatLines, 25_000, 'lines'));

  // Each pattern is grown within one line (up to the 8 KB the parser analyses per line, where a
  // backtracking regex would show as quadratic) and repeated over many lines.
  const adversarial: Record<string, (n: number) => string> = {
    'open brackets': (n) => '[<'.repeat(n),
    'timestamp-like': (n) => '[ 1.'.repeat(n),
    'symbol+offset chain': (n) => ' a+0x1'.repeat(n),
    'nested parentheses': (n) => ' ('.repeat(n) + 'x',
    'decoded source list': (n) => ' foo (' + 'a.c:1 '.repeat(n),
    'code bytes': (n) => 'Code: ' + '<00> '.repeat(n),
    'header text': (n) => 'WARNING: CPU: 1 PID: 1 at ' + 'x'.repeat(n),
    'task line': (n) => 'CPU: 1 PID: 1 Comm: ' + 'a'.repeat(n) + ' Tainted: ' + 'G '.repeat(n),
    'module list': (n) => 'Modules linked in: ' + 'm(OE) [x '.repeat(n),
    'register pairs': (n) => 'RAX: ' + '0000 R1: '.repeat(n),
    'quote markers': (n) => '> '.repeat(n) + 'BUG: x',
    'blank frame': (n) => ' \t'.repeat(n),
    'equals signs': (n) => '='.repeat(n),
    'oops line without [#': (n) => 'Internal error: ' + 'Oops '.repeat(n),
    'frame then junk': (n) => ' [<ffffffff81000000>] ? f+0x1/0x2 [m] ' + '(a.c:1 '.repeat(n),
  };
  for (const [name, pattern] of Object.entries(adversarial)) {
    it(`${name}: longer lines`, () => assertLinear((n) => ('Call Trace:\n' + pattern(n) + '\n').repeat(200), 100, name));
    it(`${name}: more lines`, () => assertLinear((n) => ('Call Trace:\n' + pattern(300) + '\n').repeat(n), 1000, name));
  }
});
