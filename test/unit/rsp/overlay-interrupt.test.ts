/**
 * The task overlay passes gdb's interrupt byte on even when it comes in the same read as the
 * resume it interrupts, before the overlay has forwarded that resume: it must reach the stub
 * after the resume, never before it and never not at all. The stub here is a socket that
 * records what it receives and answers the interrupt with a stop, as QEMU's gdbstub does; the
 * e2e test (test/e2e/tasks-interrupt.test.ts) has a real gdb and QEMU.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { DebugInfoSnapshot } from '../../../src/kernel/debug-info-snapshot';
import { overlayProbes, TaskOverlay } from '../../../src/rsp/overlay';
import { encodePacket } from '../../../src/rsp/packet';
import { frozenKernel } from './frozen-kernel';

async function withOverlay(body: (gdb: net.Socket, stubBytes: () => string, gdbBytes: () => string) => Promise<void>): Promise<void> {
  let stubGot = '';
  const stub = net.createServer((socket) => {
    // The overlay closes its side when the test ends; what is still on its way is dropped.
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      stubGot += chunk.toString('latin1');
      for (const byte of chunk) {
        if (byte === 0x2b) continue;
        if (byte === 0x03) socket.write(encodePacket('T02thread:01;'));
      }
      if (chunk.includes(0x24)) socket.write('+');
      if (chunk.toString('latin1').includes('$D')) socket.write(encodePacket('OK'));
    });
  });
  await new Promise<void>((resolve) => stub.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const stubPort = (stub.address() as net.AddressInfo).port;
  const socket = net.connect({ host: '127.0.0.1', port: stubPort });
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const f = frozenKernel('x86_64');
  const overlay = new TaskOverlay({ arch: 'x86_64', flavour: 'qemu', stub: socket, debugInfo: await DebugInfoSnapshot.record(f.image, ...overlayProbes) });
  const port = await overlay.listen();
  const gdb = net.connect({ host: '127.0.0.1', port });
  await new Promise((resolve, reject) => gdb.once('connect', resolve).once('error', reject));
  gdb.on('error', () => undefined);
  let gdbGot = '';
  gdb.on('data', (chunk: Buffer) => (gdbGot += chunk.toString('latin1')));
  try {
    await body(gdb, () => stubGot, () => gdbGot);
  } finally {
    gdb.destroy();
    await overlay.close();
    await new Promise<void>((resolve) => stub.close(() => resolve()));
  }
}

async function until(what: () => string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), what());
}

for (const resume of ['vCont;c', 'c']) {
  test(`an interrupt in the same read as "${resume}" reaches the stub right behind it, and gdb gets the stop`, async () => {
    await withOverlay(async (gdb, stubBytes, gdbBytes) => {
      gdb.write(Buffer.concat([encodePacket(resume), Buffer.from([0x03])]));
      await until(() => `the stop reply reaches gdb (the stub got ${JSON.stringify(stubBytes())})`, () => gdbBytes().includes('$T02thread:01;'));
      const got = stubBytes();
      const sentResume = got.indexOf(encodePacket(resume).toString('latin1'));
      assert.ok(sentResume >= 0, `the stub got the resume: ${JSON.stringify(got)}`);
      assert.ok(got.indexOf('\x03') > sentResume, `the interrupt after the resume: ${JSON.stringify(got)}`);
    });
  });
}

test('an interrupt while the kernel is stopped and no resume waits is not passed on', async () => {
  await withOverlay(async (gdb, stubBytes) => {
    gdb.write(Buffer.from([0x03]));
    gdb.write(encodePacket('vCont;c'));
    await until(() => 'the resume reaches the stub', () => stubBytes().includes('$vCont;c'));
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(!stubBytes().includes('\x03'), `no interrupt for a stopped kernel: ${JSON.stringify(stubBytes())}`);
  });
});
