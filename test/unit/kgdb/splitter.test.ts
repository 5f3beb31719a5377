/**
 * The console splitter and RSP framing: what a kgdb line shared with the kernel console looks
 * like byte by byte, cut at every possible place.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConsoleSplitter, type SplitEvent } from '../../../src/kgdb/splitter';
import { checksum, frame, hostPacketKind, HostScanner, isStopReply, shadowCpuOfThreadId } from '../../../src/kgdb/rsp';
import { TelnetDecoder, telnetEscape, TELNET_BREAK } from '../../../src/kgdb/telnet';
import { parseLinkSpec } from '../../../src/kgdb/link';

/** Feeds `chunks` and returns the events with console text merged, as strings. */
function split(chunks: Array<string | Buffer>, s = new ConsoleSplitter(), expire = false): string[] {
  const events: SplitEvent[] = [];
  for (const c of chunks) events.push(...s.feed(typeof c === 'string' ? Buffer.from(c, 'latin1') : c));
  if (expire) events.push(...s.expire());
  const out: string[] = [];
  for (const e of events) {
    const text =
      e.kind === 'console' ? `text:${e.data.toString('latin1')}`
      : e.kind === 'packet' ? `${e.notification ? 'notify' : 'packet'}:${e.payload}`
      : e.kind === 'bad-packet' ? `bad:${e.payload}`
      : `ack:${e.ok ? '+' : '-'}:${e.owner}`;
    const last = out[out.length - 1];
    if (text.startsWith('text:') && last?.startsWith('text:')) out[out.length - 1] = last + text.slice(5);
    else out.push(text);
  }
  return out;
}

/** Every way to cut `s` into two chunks. */
function cuts(s: string): string[][] {
  return Array.from({ length: s.length + 1 }, (_, i) => [s.slice(0, i), s.slice(i)].filter((x) => x !== ''));
}

describe('RSP framing', () => {
  test('checksum is the byte sum mod 256 in two lower-case hex digits', () => {
    assert.equal(checksum(''), '00');
    assert.equal(checksum('qSupported'), '37');
    assert.equal(checksum('OK'), '9a');
    assert.equal(frame('S05').toString(), '$S05#b8');
    assert.equal(frame('?').toString(), '$?#3f');
  });

  test('stop replies and what gdb packets ask for', () => {
    assert.ok(isStopReply('S05'));
    assert.ok(isStopReply('T05thread:00000000fffffffe;'));
    assert.ok(isStopReply('W00'));
    assert.ok(!isStopReply('OK'));
    assert.ok(!isStopReply(''));
    assert.equal(hostPacketKind('c'), 'resume');
    assert.equal(hostPacketKind('s'), 'resume');
    assert.equal(hostPacketKind('vCont;c'), 'resume');
    assert.equal(hostPacketKind('vCont?'), 'query');
    assert.equal(hostPacketKind('D'), 'detach');
    assert.equal(hostPacketKind('k'), 'kill');
    assert.equal(hostPacketKind('vKill;a410'), 'kill');
    assert.equal(hostPacketKind('g'), 'query');
    assert.equal(hostPacketKind('mffffffff81000000,8'), 'query');
  });

  test('shadow CPU thread ids: -2-cpu in kgdb, 4294967294-cpu in gdb', () => {
    assert.equal(shadowCpuOfThreadId(0xfffffffen), 0);
    assert.equal(shadowCpuOfThreadId(0xfffffffdn), 1);
    assert.equal(shadowCpuOfThreadId(0xfffffffffffffffdn), 1);
    assert.equal(shadowCpuOfThreadId(1n), undefined);
  });

  test('gdb side: packets, acks and the interrupt byte, across chunk boundaries', () => {
    const wire = '+$qSupported:multiprocess+#c6\x03-$m0,1#fa';
    for (const parts of cuts(wire)) {
      const h = new HostScanner();
      const items = parts.flatMap((p) => h.feed(Buffer.from(p, 'latin1')));
      assert.deepEqual(
        items.map((i) => (i.kind === 'packet' ? `p:${i.payload}` : i.kind === 'ack' ? `a:${i.ok}` : i.kind)),
        ['a:true', 'p:qSupported:multiprocess+', 'interrupt', 'a:false', 'p:m0,1'],
      );
    }
  });
});

describe('console splitter', () => {
  test('a packet between console lines, cut at every byte', () => {
    const wire = 'sysrq: DEBUG\r\n$T05thread:00000000fffffffe;#63guest# ';
    // The checksum of that payload, so the frame is valid whatever we typed above.
    const payload = 'T05thread:00000000fffffffe;';
    const fixed = wire.replace('#63', `#${checksum(payload)}`);
    for (const parts of cuts(fixed)) {
      assert.deepEqual(split(parts), ['text:sysrq: DEBUG\r\n', `packet:${payload}`, 'text:guest# '], JSON.stringify(parts));
    }
  });

  test('a bad checksum is reported as such, not dropped', () => {
    assert.deepEqual(split(['$OK#00']), ['bad:OK']);
  });

  test('+ and - are acks only while one is owed, and go to who sent the packet', () => {
    const s = new ConsoleSplitter();
    assert.deepEqual(split(['a+b-c'], s), ['text:a+b-c']);
    s.owe('gdb');
    s.owe('proxy');
    assert.deepEqual(split(['+', '-'], s), ['ack:+:gdb', 'ack:-:proxy']);
    assert.equal(s.owedAcks, 0);
    assert.deepEqual(split(['+'], s), ['text:+']);
  });

  test('text where an ack was owed means nobody reads packets: the debt is dropped', () => {
    const s = new ConsoleSplitter();
    s.owe('proxy');
    // A shell echoed the probe and printed its prompt: the later '+' is console text.
    assert.deepEqual(split([`${frame('qSupported').toString()}`, 'guest# 1+1'], s), ['packet:qSupported', 'text:guest# 1+1']);
    assert.equal(s.owedAcks, 0);
  });

  test('a $ in console text falls back to text at a line end or a control byte', () => {
    assert.deepEqual(split(['echo $HOME\r\n/root\r\n']), ['text:echo $HOME\r\n/root\r\n']);
    assert.deepEqual(split(['price: $5\x1b[0m ok']), ['text:price: $5\x1b[0m ok']);
    assert.deepEqual(split(['$PATH#zz tail']), ['text:$PATH#zz tail']);
  });

  test('a prompt ending in $ waits for more bytes, then expire() makes it text', () => {
    const s = new ConsoleSplitter();
    assert.deepEqual(split(['user@board:~$ '], s), ['text:user@board:~']);
    assert.ok(s.pending);
    assert.deepEqual(split([], s, true), ['text:$ ']);
    assert.ok(!s.pending);
  });

  test('a $ inside a candidate restarts it: text before, the real packet after', () => {
    assert.deepEqual(split(['cost $3 $OK#9a']), ['text:cost $3 ', 'packet:OK']);
  });

  test('an over-long candidate is text', () => {
    const s = new ConsoleSplitter({ maxPacket: 8 });
    assert.deepEqual(split(['$0123456789#00 and more'], s), ['text:$0123456789#00 and more']);
  });

  test('% notifications are framed like packets', () => {
    assert.deepEqual(split([`x${'%Stop:T05'}#${checksum('Stop:T05')}y`]), ['text:x', 'notify:Stop:T05', 'text:y']);
  });

  test('garbage: random bytes never throw, and every byte comes out once', () => {
    let seed = 12345;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const alphabet = '$#+-%0123456789abcdefOKT\r\n \x03\x1b';
    for (let round = 0; round < 200; round++) {
      const s = new ConsoleSplitter({ maxPacket: 32 });
      const bytes = Buffer.from(Array.from({ length: 200 }, () => alphabet.charCodeAt(Math.floor(rand() * alphabet.length))));
      let total = 0;
      for (let i = 0; i < bytes.length; ) {
        const n = 1 + Math.floor(rand() * 17);
        for (const e of s.feed(bytes.subarray(i, i + n))) total += e.kind === 'console' ? e.data.length : e.kind === 'ack' ? 1 : e.raw.length;
        i += n;
      }
      for (const e of s.expire()) total += e.kind === 'console' ? e.data.length : 0;
      assert.equal(total, bytes.length, `round ${round}`);
    }
  });

  test('kdb output and the switch to gdb mode, as measured on x86', () => {
    const s = new ConsoleSplitter();
    const kdb = '\r\nEntering kdb (current=0xffff888000157000, pid 1) on processor 1 due to NonMaskable Interrupt @ 0xffffffff8109cd8d\r\n[1]kdb> ';
    assert.deepEqual(split([kdb], s), [`text:${kdb}`]);
    s.owe('proxy');
    assert.deepEqual(split(['+$#00'], s), ['ack:+:proxy', 'packet:']);
  });
});

describe('telnet and line specs', () => {
  test('IAC commands are stripped, IAC IAC is a data 0xff, across chunk cuts', () => {
    const wire = Buffer.from([0xff, 0xfb, 0x01, 0x41, 0xff, 0xff, 0x42, 0xff, 0xfa, 0x18, 0x01, 0xff, 0xf0, 0x43, 0xff, 0xf1, 0x44]);
    for (let cut = 0; cut <= wire.length; cut++) {
      const d = new TelnetDecoder();
      const out = Buffer.concat([d.feed(wire.subarray(0, cut)), d.feed(wire.subarray(cut))]);
      assert.deepEqual([...out], [0x41, 0xff, 0x42, 0x43, 0x44]);
    }
    assert.deepEqual([...telnetEscape(Buffer.from([1, 0xff, 2]))], [1, 0xff, 0xff, 2]);
    assert.deepEqual([...TELNET_BREAK], [0xff, 0xf3]);
  });

  test('port strings: tcp, telnet, host:port, devices', () => {
    assert.deepEqual(parseLinkSpec('tcp:localhost:5551'), { kind: 'tcp', host: 'localhost', port: 5551 });
    assert.deepEqual(parseLinkSpec('telnet:127.0.0.1:2000'), { kind: 'telnet', host: '127.0.0.1', port: 2000 });
    assert.deepEqual(parseLinkSpec(':5551'), { kind: 'tcp', host: '127.0.0.1', port: 5551 });
    assert.deepEqual(parseLinkSpec('/dev/ttyUSB0', 921600), { kind: 'serial', path: '/dev/ttyUSB0', baud: 921600 });
    assert.throws(() => parseLinkSpec('ttyUSB0'), /neither a serial device/);
    assert.throws(() => parseLinkSpec('tcp:host:99999'), /bad TCP port/);
  });
});
