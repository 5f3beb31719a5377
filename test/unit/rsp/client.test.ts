import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { RspClient } from '../../../src/rsp/client';
import { encodePacket } from '../../../src/rsp/packet';

/** A client over an in-memory stream (no-ack mode unless `ack`); `stub` writes what the stub would send. */
function client(onStop?: (r: string) => void, ack = false) {
  const sent: string[] = [];
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _e, done) {
      sent.push(chunk.toString('latin1'));
      done();
    },
  });
  const c = new RspClient(stream, { onStop, timeoutMs: 500 });
  if (!ack) c.link.noAck();
  return { c, sent, stub: (...packets: string[]) => stream.push(Buffer.concat(packets.map((p) => encodePacket(p)))), stream };
}

describe('the stub client', () => {
  test('a stop reply that comes ahead of a query’s answer is the stub’s news, not the answer', async () => {
    const stops: string[] = [];
    const { c, stub } = client((r) => stops.push(r));
    const answer = c.ask('qSupported');
    // QEMU stops a running VM when a debugger connects and says so first.
    stub('T02thread:01;', 'PacketSize=1000');
    assert.equal(await answer, 'PacketSize=1000');
    assert.deepEqual(stops, ['T02thread:01;']);
  });

  test('the answer to ? is a stop reply', async () => {
    const { c, stub } = client(() => assert.fail('taken as unsolicited'));
    const answer = c.ask('?');
    stub('T05thread:p01.01;');
    assert.equal(await answer, 'T05thread:p01.01;');
  });

  test('requests go one at a time, in order; O output before an answer is output', async () => {
    const { c, stub, sent } = client();
    const a = c.ask('qRcmd,6869', { output: true });
    const b = c.ask('g');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(sent, [encodePacket('qRcmd,6869').toString('latin1')]);
    stub('O6869', 'OK');
    assert.equal(await a, 'OK');
    await new Promise((r) => setImmediate(r));
    assert.equal(sent[1], '$g#67');
    stub('00ff');
    assert.equal(await b, '00ff');
  });

  test('no answer in time: the request fails with what it was, and the link closes', async () => {
    const { c } = client();
    await assert.rejects(c.ask('m0,4'), /did not answer "m0,4" within 500 ms/);
    assert.equal(c.link.open, false);
    await assert.rejects(c.ask('g'), /connection is closed/);
  });
});

describe('requests sent back to back', () => {
  test('every packet goes out before any answer; the answers come back in order', async () => {
    const { c, stub, sent } = client();
    const all = c.requestAll(['m1000,4', 'm2000,4', 'm3000,4']);
    const after = c.ask('g');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(sent, ['m1000,4', 'm2000,4', 'm3000,4'].map((p) => encodePacket(p).toString('latin1')));
    stub('11111111', 'E14', '33333333');
    assert.deepEqual((await all).map((b) => b.toString('latin1')), ['11111111', 'E14', '33333333']);
    // A request after the run waits for all of its answers.
    await new Promise((r) => setImmediate(r));
    assert.equal(sent[3], '$g#67');
    stub('00ff');
    assert.equal(await after, '00ff');
  });

  test('in ack mode they go one at a time', async () => {
    const { c, sent, stream } = client(undefined, true);
    const all = c.requestAll(['m1000,4', 'm2000,4']);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(sent, [encodePacket('m1000,4').toString('latin1')]);
    stream.push(Buffer.concat([Buffer.from('+'), encodePacket('11111111')]));
    await new Promise((r) => setImmediate(r));
    assert.equal(sent.filter((s) => s.startsWith('$')).length, 2);
    stream.push(Buffer.concat([Buffer.from('+'), encodePacket('22222222')]));
    assert.deepEqual((await all).map((b) => b.toString('latin1')), ['11111111', '22222222']);
  });
});
