/**
 * The task overlay answers a kernel memory read gdb repeats while the kernel stays stopped
 * without asking the stub again, and asks again after anything that could change memory or its
 * translation. The stub is a socket speaking RSP that answers reads with bytes that change on
 * every read it serves, so an answer the overlay kept is told from a fresh one; the e2e stop
 * bench and tests run the same overlay against QEMU.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { DebugInfoSnapshot } from '../../../src/kernel/debug-info-snapshot';
import { RspLink } from '../../../src/rsp/link';
import { overlayProbes, TaskOverlay } from '../../../src/rsp/overlay';
import { keepsMemory, StopReadCache } from '../../../src/rsp/read-cache';
import { frozenKernel } from './frozen-kernel';

interface Rig {
  /** Sends a packet as gdb and resolves with the overlay's answer. */
  ask(p: string): Promise<string>;
  /** The packets the stub received. */
  stubGot: string[];
}

async function withOverlay(body: (rig: Rig) => Promise<void>): Promise<void> {
  const stubGot: string[] = [];
  let served = 0;
  const stub = net.createServer((socket) => {
    socket.on('error', () => undefined);
    const link = new RspLink(socket);
    link.on('packet', (payload) => {
      const p = payload.toString('latin1');
      stubGot.push(p);
      const read = /^m([0-9a-f]+),([0-9a-f]+)$/.exec(p);
      if (read) {
        served++;
        link.send(Buffer.alloc(parseInt(read[2], 16), served).toString('hex'));
      } else if (p.startsWith('vCont;') || p === '?') link.send('T05thread:01;');
      else if (/^[MXHZz]/.test(p) || p.startsWith('Qqemu.PhyMemMode')) link.send('OK');
      else link.send('');
    });
  });
  await new Promise<void>((resolve) => stub.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const socket = net.connect({ host: '127.0.0.1', port: (stub.address() as net.AddressInfo).port });
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const overlay = new TaskOverlay({ arch: 'x86_64', flavour: 'qemu', stub: socket, debugInfo: await DebugInfoSnapshot.record(frozenKernel('x86_64').image, ...overlayProbes), trace: process.env.TRACE ? (a, b, c) => console.log(a, b, c.slice(0, 50)) : undefined });
  const port = await overlay.listen();
  const gdbSocket = net.connect({ host: '127.0.0.1', port });
  await new Promise((resolve, reject) => gdbSocket.once('connect', resolve).once('error', reject));
  gdbSocket.on('error', () => undefined);
  const gdb = new RspLink(gdbSocket);
  const answers: string[] = [];
  const waiting: Array<(a: string) => void> = [];
  gdb.on('packet', (payload) => {
    const a = payload.toString('latin1');
    if (a.startsWith('O') && a !== 'OK') return; // console output
    const w = waiting.shift();
    if (w) w(a);
    else answers.push(a);
  });
  const ask = (p: string): Promise<string> =>
    new Promise((resolve) => {
      waiting.push(resolve);
      gdb.send(p);
    });
  try {
    await ask('?');
    await body({ ask, stubGot });
  } finally {
    gdbSocket.destroy();
    await overlay.close();
    await new Promise<void>((resolve) => stub.close(() => resolve()));
  }
}

const kernelRead = 'mffffffff81000000,4';
const reads = (got: string[], p: string) => got.filter((x) => x === p).length;

test('a kernel read repeated at one stop reaches the stub once and gets the same answer', async () => {
  await withOverlay(async ({ ask, stubGot }) => {
    const first = await ask(kernelRead);
    const again = await ask(kernelRead);
    assert.equal(again, first);
    assert.equal(reads(stubGot, kernelRead), 1);
    // Another length is another read.
    await ask('mffffffff81000000,8');
    assert.equal(reads(stubGot, 'mffffffff81000000,8'), 1);
  });
});

for (const [what, packet] of [
  ['a memory write', 'Mffffffff81000000,1:90'],
  ['a binary write', 'Xffffffff81000000,0:'],
  ['a breakpoint', 'Z0,ffffffff81000000,1'],
  ['a register write', 'P10=0000000000000000'],
  ['a continue and its stop', 'vCont;c'],
  ['a monitor command', 'qRcmd,696e666f'],
] as const) {
  test(`after ${what} the read goes to the stub again and gets its new answer`, async () => {
    await withOverlay(async ({ ask, stubGot }) => {
      const before = await ask(kernelRead);
      await ask(packet);
      const after = await ask(kernelRead);
      assert.equal(reads(stubGot, kernelRead), 2);
      assert.notEqual(after, before);
    });
  });
}

test('user-half reads, reads in physical mode and reads on another thread are not shared', async () => {
  await withOverlay(async ({ ask, stubGot }) => {
    await ask('m400000,4');
    await ask('m400000,4');
    assert.equal(reads(stubGot, 'm400000,4'), 2, 'user space differs by process');
    await ask(kernelRead);
    await ask('Hgp01.02');
    await ask(kernelRead);
    assert.equal(reads(stubGot, kernelRead), 2, 'each CPU reads through its own page tables');
    await ask('Qqemu.PhyMemMode:1');
    await ask(kernelRead);
    await ask(kernelRead);
    assert.equal(reads(stubGot, kernelRead), 4, 'physical reads are not kept');
  });
});

test('keepsMemory: reads, queries and thread selection keep; everything else drops', () => {
  for (const p of ['m1,2', 'g', 'p10', 'Hg1', 'Hc-1', 'T1', 'qfThreadInfo', 'qXfer:features:read:target.xml:0,ffb', '?', 'vCont?']) assert.ok(keepsMemory(p), p);
  for (const p of ['M1,1:00', 'X1,0:', 'Z0,1,1', 'z0,1,1', 'G00', 'P1=00', 'c', 's', 'vCont;c', 'qRcmd,00', 'Qqemu.PhyMemMode:1', 'D', 'k']) assert.ok(!keepsMemory(p), p);
  assert.equal(StopReadCache.keyOf('1', 'm7fffffff0000,8'), undefined);
  assert.equal(StopReadCache.keyOf('1', 'mFFFF800000000000,8'), '1:ffff800000000000,8');
  const cache = new StopReadCache();
  cache.put('k', Buffer.from('E14'));
  assert.equal(cache.get('k')?.toString(), 'E14', 'an unmapped page stays unmapped at this stop');
  cache.put('empty', Buffer.alloc(0));
  assert.equal(cache.get('empty'), undefined);
});
