import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { RspLink } from '../../../src/rsp/link';
import { checksum, decodeData, encodePacket, escapeBinary, fromHex, PacketDecoder, parseRegisterHex, registerHex } from '../../../src/rsp/packet';
import { decodeG, defaultLayout, encodeG, fullGBytes, gPacketOffsets, parseTargetDescription, targetXml } from '../../../src/rsp/registers';
import { qXferSlice, ThreadListPager } from '../../../src/rsp/serve-common';
import { shadowCpu } from '../../../src/rsp/stub';
import { decodeTaskThreadId, formatThreadId, parseThreadId, taskThreadId } from '../../../src/rsp/thread-id';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('packet framing', () => {
  test('checksums and the packets gdb sends, byte for byte', () => {
    assert.equal(checksum(b('qSupported')), '37');
    assert.equal(encodePacket('g').toString('latin1'), '$g#67');
    assert.equal(encodePacket('?').toString('latin1'), '$?#3f');
  });

  test('$ # } * in data travel escaped, and come back', () => {
    const data = b('a$b#c}d*e');
    const escaped = escapeBinary(data);
    assert.equal(escaped.toString('latin1'), 'a}\x04b}\x03c}]d}\x0ae');
    assert.deepEqual(decodeData(escaped), data);
    const [item] = new PacketDecoder().feed(encodePacket(Uint8Array.from([0, 0x23, 0x24, 0x7d, 0x2a, 0xff])));
    assert.deepEqual(item, { kind: 'packet', payload: Buffer.from([0, 0x23, 0x24, 0x7d, 0x2a, 0xff]), ok: true });
  });

  test('run-length encoding in a reply is expanded', () => {
    // "0* " = '0' and 3 more (' ' is 32, 32 - 29 = 3).
    assert.equal(decodeData(b('0* 1')).toString('latin1'), '00001');
    const raw = b('$0*"#');
    const sum = checksum(b('0*"'));
    const [item] = new PacketDecoder().feed(Buffer.concat([raw, b(sum)]));
    assert.equal(item.kind === 'packet' && item.payload.toString('latin1'), '000000');
  });

  test('a stream split anywhere: acks, interrupt, packets, a bad checksum, a notification, noise', () => {
    const stream = b('+$OK#9a-\x03$m0#ff%Stop:T05#ff$OK#9ax');
    const items = [];
    const d = new PacketDecoder();
    for (const byte of stream) items.push(...d.feed(Uint8Array.of(byte)));
    assert.deepEqual(
      items.map((i) => (i.kind === 'packet' || i.kind === 'notification' ? `${i.kind}:${i.payload.toString('latin1')}:${i.ok}` : i.kind === 'ack' ? `ack:${i.ok}` : i.kind)),
      ['ack:true', 'packet:OK:true', 'ack:false', 'interrupt', 'packet:m0:false', 'notification:Stop:T05:false', 'packet:OK:true', 'noise'],
    );
  });

  test('a packet cut off by a new $ restarts', () => {
    const [item] = new PacketDecoder().feed(b('$qSup$g#67'));
    assert.equal(item.kind === 'packet' && item.payload.toString('latin1'), 'g');
  });

  test('hex registers are little-endian; all-x reads as unavailable', () => {
    assert.equal(registerHex(0xffffffff81e3c5a7n, 8), 'a7c5e381ffffffff');
    assert.equal(parseRegisterHex('a7c5e381ffffffff'), 0xffffffff81e3c5a7n);
    assert.equal(parseRegisterHex('xxxxxxxx'), undefined);
    assert.throws(() => fromHex('abc'), /not a hex byte string/);
  });
});

describe('a link', () => {
  function pair() {
    const sent: string[] = [];
    const stream = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, done) {
        sent.push(chunk.toString('latin1'));
        done();
      },
    });
    const link = new RspLink(stream);
    return { link, peer: { write: (s: string) => stream.push(Buffer.from(s, 'latin1')) }, sent };
  }

  test('acks good packets, asks again for bad ones, resends on -', async () => {
    const { link, peer, sent } = pair();
    const got: string[] = [];
    link.on('packet', (p) => got.push(p.toString('latin1')));
    peer.write('$g#67$g#00');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, ['g']);
    assert.deepEqual(sent, ['+', '-']);
    link.send('OK');
    peer.write('-');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(sent.slice(2), ['$OK#9a', '$OK#9a']);
  });

  test('after no-ack mode, nothing is acknowledged', async () => {
    const { link, peer, sent } = pair();
    link.noAck();
    peer.write('$g#67');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(sent, []);
  });
});

describe('thread ids', () => {
  test('plain and multiprocess, all and any', () => {
    assert.deepEqual(parseThreadId('p1.2'), { pid: 1, tid: 2 });
    assert.deepEqual(parseThreadId('p1.-1'), { pid: 1, tid: -1 });
    assert.deepEqual(parseThreadId('-1'), { tid: -1 });
    // kgdb's shadow CPU 0 (0xfffffffe), as gdb writes it.
    assert.deepEqual(parseThreadId('-2'), { tid: -2 });
    assert.deepEqual([shadowCpu('-2'), shadowCpu('fffffffe'), shadowCpu('-3'), shadowCpu('5f')], [0, 0, 1, undefined]);
    assert.deepEqual(parseThreadId('98968f'), { tid: 10000015 });
    assert.equal(formatThreadId({ pid: 1, tid: 10000095 }), 'p1.9896df');
    assert.equal(formatThreadId({ tid: -1 }), '-1');
    assert.throws(() => parseThreadId('q1'), /not a thread id/);
  });

  test('tasks: 10,000,000 + pid; idle tasks 20,000,000 + cpu; CPU ids are not tasks', () => {
    assert.equal(taskThreadId(95, 0), 10000095);
    assert.equal(taskThreadId(0, 1), 20000001);
    assert.deepEqual(decodeTaskThreadId(10000095), { pid: 95 });
    assert.deepEqual(decodeTaskThreadId(20000001), { idleCpu: 1 });
    assert.equal(decodeTaskThreadId(2), undefined);
    assert.equal(decodeTaskThreadId(10_000_000 + 4_194_304) !== undefined, true);
  });
});

describe('register layouts', () => {
  test('kdap’s own target description parses back to the built-in layout', () => {
    for (const arch of ['x86_64', 'arm64'] as const) {
      const parsed = parseTargetDescription(new Map([['target.xml', targetXml(arch)]]));
      assert.deepEqual(parsed.registers.map((r) => [r.name, r.bits, r.regnum]), defaultLayout(arch).registers.map((r) => [r.name, r.bits, r.regnum]));
    }
    assert.equal(fullGBytes(defaultLayout('x86_64')), 16 * 8 + 8 + 4 + 6 * 4 + 8 * 10 + 8 * 4 + 16 * 16 + 4);
  });

  test('a stub’s description: includes in place, regnum setting the count', () => {
    const docs = new Map([
      ['target.xml', '<target><architecture>aarch64</architecture><xi:include href="core.xml"/><xi:include href="sys.xml"/></target>'],
      ['core.xml', '<feature name="org.gnu.gdb.aarch64.core"><reg name="x0" bitsize="64"/><reg name="x1" bitsize="64"/><!-- <reg name="zz" bitsize="8"/> --><reg name="cpsr" bitsize="32"/></feature>'],
      ['sys.xml', "<feature name='sys'><reg name='TTBR1_EL1' bitsize='64' regnum='100'/><reg name='SCTLR' bitsize='64'/></feature>"],
    ]);
    const l = parseTargetDescription(docs);
    assert.deepEqual(l.registers.map((r) => `${r.name}:${r.regnum}:${r.feature}`), ['x0:0:org.gnu.gdb.aarch64.core', 'x1:1:org.gnu.gdb.aarch64.core', 'cpsr:2:org.gnu.gdb.aarch64.core', 'TTBR1_EL1:100:sys', 'SCTLR:101:sys']);
    assert.throws(() => parseTargetDescription(new Map([['target.xml', '<xi:include href="gone.xml"/>']])), /includes gone.xml, which the stub did not send/);
  });

  test('a g packet as long as the stub’s, known registers in place, the rest unavailable', () => {
    const layout = defaultLayout('x86_64');
    // kgdb's x86_64 g: 17 64-bit registers and 5 32-bit ones.
    const kgdbBytes = 17 * 8 + 5 * 4;
    const offsets = gPacketOffsets(layout, kgdbBytes);
    assert.deepEqual(offsets.get('rip'), { offset: 128, bytes: 8 });
    assert.deepEqual(offsets.get('es'), { offset: 152, bytes: 4 });
    assert.equal(offsets.has('fs'), false);
    const g = encodeG(layout, kgdbBytes, new Map([['rip', 0xffffffff81e3c5a7n], ['rsp', 0xffffc90000013e38n], ['fs', 1n]]));
    assert.equal(g.length, kgdbBytes * 2);
    assert.deepEqual(decodeG(layout, g), new Map([['rsp', 0xffffc90000013e38n], ['rip', 0xffffffff81e3c5a7n]]));
    assert.equal(g.slice(0, 16), 'xxxxxxxxxxxxxxxx');
  });
});

describe('answers shared by the server and the overlay', () => {
  test('thread lists page to fit a packet', () => {
    const p = new ThreadListPager();
    const ids = Array.from({ length: 10 }, (_, i) => (10000000 + i).toString(16));
    const pages = [p.first(ids, 40)];
    for (let page = p.next(40); page !== 'l'; page = p.next(40)) pages.push(page);
    assert.ok(pages.every((x) => x.length <= 40 - 8));
    assert.deepEqual(pages.flatMap((x) => x.slice(1).split(',')), ids);
  });

  test('qXfer slices: m while more follows, l for the last, binary-escaped', () => {
    const doc = b('<target>#</target>');
    assert.equal(qXferSlice(doc, 0, 8), 'm<target>');
    assert.equal(qXferSlice(doc, 8, 100), 'l}\x03</target>');
  });
});
