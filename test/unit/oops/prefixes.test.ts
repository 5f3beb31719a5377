/**
 * One x86 WARNING written out under every prefix style a log reaches us in: the report, its
 * frames and their columns must not depend on what the transport put in front of each line.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { splitPrefix } from '../../../src/oops/lines';
import { parseLog } from '../../../src/oops/parse';
import { snippet } from './helpers';

const WARN = snippet(`
  ------------[ cut here ]------------
  WARNING: CPU: 0 PID: 42 at drivers/foo/bar.c:10 foo_probe+0x1c/0x40 [foo]
  Modules linked in: foo(O) bar
  CPU: 0 PID: 42 Comm: modprobe Tainted: G           O      5.15.0 #1
  RIP: 0010:foo_probe+0x1c/0x40 [foo]
  Code: 48 89 e5 <0f> 0b 5d c3
  RSP: 0018:ffffc90000123c78 EFLAGS: 00010246
  Call Trace:
   <TASK>
   ? __warn+0x7d/0x130
   foo_probe+0x1c/0x40 [foo 0123456789abcdef0123456789abcdef01234567]
   do_one_initcall+0x46/0x1d0
   </TASK>
  ---[ end trace 0000000000000000 ]---
`);

type Prefixer = (line: string, n: number) => string;

const styles: Record<string, Prefixer> = {
  'no prefix': (l) => l,
  'printk timestamp': (l, n) => `[   12.${String(100000 + n)}] ${l}`,
  'timestamp + task caller id': (l, n) => `[   12.${String(100000 + n)}][  T42] ${l}`,
  'timestamp + cpu caller id, short form': (l) => `[ 0.5][ C3] ${l}`,
  'syslog with timestamp': (l, n) => `Jan  2 03:04:05 buildhost kernel: [   12.${String(100000 + n)}] ${l}`,
  'syslog without timestamp': (l) => `Jan  2 03:04:05 buildhost kernel: ${l}`,
  'journalctl short-iso': (l) => `2023-01-02T03:04:05+0000 buildhost kernel: ${l}`,
  'journalctl short-iso-precise': (l) => `2023-01-02T03:04:05.123456+01:00 buildhost kernel: ${l}`,
  'journalctl short-monotonic': (l, n) => `[   12.${String(100000 + n)}] buildhost kernel: ${l}`,
  'dmesg -x': (l, n) => `kern  :warn  : [   12.${String(100000 + n)}] ${l}`,
  'dmesg -T': (l) => `[Mon Jan  2 03:04:05 2023] ${l}`,
  'dmesg --time-format iso': (l) => `2023-01-02T03:04:05,123456+00:00 ${l}`,
  'console loglevel': (l, n) => `<4>[   12.${String(100000 + n)}] ${l}`,
  '/dev/kmsg records': (l, n) => `4,${n},12345678,-;${l}`,
  'mail quote': (l, n) => `> [   12.${String(100000 + n)}] ${l}`,
  'nested mail quote': (l) => `> > ${l}`,
  'CRLF line ends': (l, n) => `[   12.${String(100000 + n)}] ${l}\r`,
  'ANSI colour': (l) => `\x1b[0m${l}`,
};

describe('prefix styles', () => {
  for (const [name, prefix] of Object.entries(styles)) {
    it(name, () => {
      const raw = WARN.trimEnd()
        .split('\n')
        .map((l, i) => prefix(l, i + 1));
      const log = parseLog(raw.join('\n') + '\n');
      assert.equal(log.reports.length, 1);
      const r = log.reports[0];
      assert.deepEqual([r.kind, r.startLine, r.line, r.endLine], ['warning', 1, 2, 14]);
      assert.deepEqual([r.cpu, r.pid, r.comm, r.taint, r.release], [0, 42, 'modprobe', 'O', '5.15.0']);
      assert.deepEqual(r.modules, ['foo', 'bar']);
      assert.deepEqual([r.pc?.symbol, r.pc?.offset, r.pc?.module, r.pc?.line], ['foo_probe', 0x1cn, 'foo', 5]);
      assert.deepEqual(r.code?.words[r.code.faultIndex], '0f');
      assert.deepEqual(
        r.frames.map((f) => [f.line, f.symbol, f.reliable, f.context]),
        [
          [10, '__warn', false, 'TASK'],
          [11, 'foo_probe', true, 'TASK'],
          [12, 'do_one_initcall', true, 'TASK'],
        ],
      );
      assert.equal(r.frames[1].buildId, '0123456789abcdef0123456789abcdef01234567');
      // Columns point into the raw line, whatever came before the message.
      const texts = r.frames.map((f) => raw[f.line - 1].slice(f.range.start, f.range.end));
      assert.deepEqual(texts, ['__warn+0x7d/0x130', 'foo_probe+0x1c/0x40 [foo 0123456789abcdef0123456789abcdef01234567]', 'do_one_initcall+0x46/0x1d0']);
      assert.equal(raw[4].slice(r.pc!.range.start, r.pc!.range.end), 'foo_probe+0x1c/0x40 [foo]');
      assert.equal(raw[1].slice(r.titleRange.start, r.titleRange.end), r.title);
    });
  }
});

describe('splitPrefix', () => {
  it('reports the timestamp and caller id', () => {
    const p = splitPrefix('[  110.163498][ T9998] BUG: KASAN: use-after-free in foo+0x1/0x2');
    assert.deepEqual([p.timestamp, p.caller, p.body, p.noise], ['110.163498', 'T9998', 'BUG: KASAN: use-after-free in foo+0x1/0x2', false]);
  });

  it('keeps the frame indentation in the body', () => {
    const p = splitPrefix('[    3.374037]  proc_reg_write+0x56/0xa0');
    assert.equal(p.body, ' proc_reg_write+0x56/0xa0');
    assert.equal(p.bodyStart, 15);
  });

  it('finds a timestamp behind serial-console noise', () => {
    const p = splitPrefix('Segmentation fault[    0.761714] Hardware name: linux,dummy-virt (DT)');
    assert.deepEqual([p.noise, p.timestamp, p.body], [true, '0.761714', 'Hardware name: linux,dummy-virt (DT)']);
  });

  it('leaves a line without any prefix alone', () => {
    const p = splitPrefix(' ? handle_mm_fault+0xdb/0x2d0');
    assert.deepEqual([p.bodyStart, p.body, p.timestamp], [0, ' ? handle_mm_fault+0xdb/0x2d0', undefined]);
  });

  it('does not take a frame address for a timestamp', () => {
    const p = splitPrefix(' [<ffffffff8104e3a0>] warn_slowpath_common+0x80/0xc0');
    assert.deepEqual([p.bodyStart, p.noise], [0, false]);
  });
});
