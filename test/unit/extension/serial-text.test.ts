import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CrlfTranslator, expectsConsole, PendingOutput } from '../../../src/extension/serial-text';

describe('guest console line endings', () => {
  test('a lone \\n becomes \\r\\n; \\r\\n and a lone \\r stay', () => {
    const t = new CrlfTranslator();
    assert.equal(t.translate('Linux version 6.1\n'), 'Linux version 6.1\r\n');
    assert.equal(t.translate('a\r\nb\n\nc\rd'), 'a\r\nb\r\n\r\nc\rd');
    assert.equal(t.translate(''), '');
  });

  test('a \\r\\n split between two chunks is not doubled', () => {
    const t = new CrlfTranslator();
    assert.equal(t.translate('~ # ls\r'), '~ # ls\r');
    assert.equal(t.translate('\nbin\n'), '\nbin\r\n');
    // The state is the last character only: a chunk ending in \n does not swallow the next \n.
    assert.equal(t.translate('\n'), '\r\n');
  });

  test('the same text in any chunking gives the same screen', () => {
    const text = 'a\nb\r\nc\r\r\nd\n\re\n';
    const whole = new CrlfTranslator().translate(text);
    for (let cut = 0; cut <= text.length; cut++) {
      const t = new CrlfTranslator();
      assert.equal(t.translate(text.slice(0, cut)) + t.translate(text.slice(cut)), whole, `cut at ${cut}`);
    }
    assert.equal(whole, 'a\r\nb\r\nc\r\r\nd\r\n\re\r\n');
  });
});

describe('console output held until the terminal opens', () => {
  test('comes out in order, once', () => {
    const p = new PendingOutput();
    p.push('[    0.000000] Linux version\r\n');
    p.push('[    0.000000] Command line: console=ttyS0\r\n');
    assert.equal(p.drain(), '[    0.000000] Linux version\r\n[    0.000000] Command line: console=ttyS0\r\n');
    assert.equal(p.drain(), '');
  });

  test('beyond the limit the oldest characters go, and the terminal is told how many', () => {
    const p = new PendingOutput(10);
    p.push('0123456');
    p.push('789ab');
    p.push('cd');
    // 14 characters held at most 10: the first 4 dropped, from inside the first chunk.
    assert.equal(p.drain(), '[… 4 earlier characters not shown]\r\n456789abcd');
    p.push('x'.repeat(25));
    assert.equal(p.drain(), `[… 15 earlier characters not shown]\r\n${'x'.repeat(10)}`);
  });
});

describe('which sessions open a console terminal', () => {
  test('launches unless the serial console is off; kgdb attaches sharing the console line', () => {
    const base = { type: 'kdap', name: 'k', serialTerminal: true };
    assert.equal(expectsConsole({ ...base, request: 'launch' }), true);
    assert.equal(expectsConsole({ ...base, request: 'launch', serialConsole: false }), false);
    assert.equal(expectsConsole({ ...base, request: 'launch', serialTerminal: false }), false);
    assert.equal(expectsConsole({ ...base, request: 'launch', serialTerminal: undefined }), false);
    assert.equal(expectsConsole({ ...base, request: 'attach', remote: 'localhost:1234' }), false);
    assert.equal(expectsConsole({ ...base, request: 'attach', kgdb: { port: 'tcp:localhost:4444' } }), true);
    assert.equal(expectsConsole({ ...base, request: 'attach', kgdb: { port: '/dev/ttyUSB0', shareConsole: false } }), false);
  });
});
