/**
 * The kgdb proxy against a scripted target that behaves like the measured kernels: a shell that
 * echoes what it is typed while the kernel runs, SysRq-g typed as `echo g > /proc/sysrq-trigger`,
 * kdb's prompt and its escape to gdb mode, and kgdb's gdb mode (ack, answer, `T05` on entry when
 * gdb was connected). gdb is a plain TCP client speaking RSP to the proxy's local port.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import type { KgdbLink, LinkEvents, LinkSpec } from '../../../src/kgdb/link';
import { KgdbProxy } from '../../../src/kgdb/proxy';
import { frame } from '../../../src/kgdb/rsp';

type Mode = 'shell' | 'kdb' | 'gdb';

/** A kernel on the other end of the line. */
class FakeKernel extends EventEmitter<LinkEvents> implements KgdbLink {
  readonly spec: LinkSpec = { kind: 'tcp', host: 'fake', port: 1 };
  readonly canBreak = false;
  readonly open = true;
  /** Everything the proxy wrote, as text. */
  written = '';
  connected = false;
  private input = '';
  private packet: string | undefined;

  constructor(public mode: Mode, private readonly kdb: boolean) {
    super();
  }

  write(data: Uint8Array | string): void {
    const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
    this.written += text;
    for (const ch of text) this.byte(ch);
  }

  async sendBreak(): Promise<void> {
    throw new Error('no break on a fake line');
  }

  async close(): Promise<void> {}

  send(text: string): void {
    setImmediate(() => this.emit('data', Buffer.from(text, 'latin1')));
  }

  private enterDebugger(): void {
    if (this.kdb) {
      this.mode = 'kdb';
      this.input = '';
      this.send('[   7.06] sysrq: DEBUG\r\n\r\nEntering kdb (current=0xffff888000157000, pid 1) on processor 0 due to NonMaskable Interrupt @ 0xffffffff8109cd8d\r\n[0]kdb> ');
      return;
    }
    this.mode = 'gdb';
    this.send('[   7.06] sysrq: DEBUG\r\n[   7.06] KGDB: Entering KGDB\r\n');
    if (this.connected) this.send(frame('T05thread:0000000000000001;').toString('latin1'));
  }

  private byte(ch: string): void {
    if (this.mode === 'shell') {
      if (ch === '\x15') {
        this.input = '';
        this.send('\rguest# ');
        return;
      }
      this.send(ch === '\n' ? '\r\n' : ch);
      if (ch !== '\n') {
        this.input += ch;
        return;
      }
      const line = this.input;
      this.input = '';
      if (line === 'echo g > /proc/sysrq-trigger') this.enterDebugger();
      else this.send('guest# ');
      return;
    }
    if (this.mode === 'kdb') {
      this.input += ch;
      if (this.input.endsWith('$qSupported')) {
        this.mode = 'gdb';
        this.packet = 'qSupported';
      }
      return;
    }
    // gdb mode: get_packet()
    if (this.packet === undefined) {
      if (ch === '$') this.packet = '';
      return;
    }
    if (!this.packet.includes('#')) {
      this.packet += ch;
      return;
    }
    this.packet += ch;
    if (this.packet.length < this.packet.indexOf('#') + 3) return;
    const payload = this.packet.slice(0, this.packet.indexOf('#'));
    this.packet = undefined;
    this.connected = true;
    this.send('+');
    this.answer(payload);
  }

  private answer(payload: string): void {
    if (payload === 'c') {
      this.mode = 'shell';
      this.send('\r\nguest# ');
      return;
    }
    if (payload.startsWith('qRcmd,')) {
      // kdb's output comes as O packets, then the OK.
      this.send(['O4c696e6520310a', 'O4c696e6520320a', 'OK'].map((p) => frame(p).toString('latin1')).join(''));
      return;
    }
    const reply = payload === '?' ? 'S05' : payload === 'qSupported' || payload.startsWith('qSupported:') ? '' : payload === 'g' ? '00'.repeat(16) : 'OK';
    this.send(frame(reply).toString('latin1'));
  }
}

/** A gdb stand-in: connects to the proxy, sends packets, collects what comes back. */
class FakeGdb {
  received = '';
  private readonly socket: net.Socket;
  readonly ready: Promise<void>;

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.ready = new Promise((resolve) => this.socket.once('connect', () => resolve()));
    this.socket.on('data', (d) => {
      this.received += d.toString('latin1');
      // gdb acknowledges every packet it gets.
      for (const m of d.toString('latin1').matchAll(/\$[^#]*#[0-9a-f]{2}/g)) if (m) this.socket.write('+');
    });
  }

  send(text: string): void {
    this.socket.write(text);
  }

  async waitFor(re: RegExp, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!re.test(this.received)) {
      if (Date.now() > deadline) throw new Error(`gdb never got ${re}; got ${JSON.stringify(this.received)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

function setup(mode: Mode, kdb: boolean): { kernel: FakeKernel; proxy: KgdbProxy; console: () => string } {
  const kernel = new FakeKernel(mode, kdb);
  const proxy = new KgdbProxy({ link: kernel, shareConsole: true, breakIn: 'sysrq-trigger', idleMs: 50 });
  let text = '';
  proxy.on('console', (b) => (text += b.toString('latin1')));
  return { kernel, proxy, console: () => text };
}

describe('kgdb proxy', () => {
  test('a kernel waiting in kgdb (kgdbwait) answers the probe: no break-in', async () => {
    const { kernel, proxy } = setup('gdb', false);
    assert.equal(await proxy.acquire(5000), 'stopped');
    assert.equal(proxy.state, 'stopped');
    assert.ok(!kernel.written.includes('sysrq'));
    await proxy.close();
  });

  test('a running kernel with a shell on the line: the probe echo stays console text, SysRq-g stops it', async () => {
    const { kernel, proxy, console } = setup('shell', false);
    const t = Date.now();
    assert.equal(await proxy.acquire(20_000), 'broke-in');
    assert.ok(Date.now() - t < 15_000);
    assert.equal(kernel.mode, 'gdb');
    assert.match(kernel.written, /\x15echo g > \/proc\/sysrq-trigger\n/);
    // The shell's echo of the probe was shown, not taken for kgdb's answer.
    assert.match(console(), /\$qSupported#37/);
    assert.match(console(), /KGDB: Entering KGDB/);
    await proxy.close();
  });

  test('kdb first: its prompt is answered with the escape to gdb mode', async () => {
    const { kernel, proxy, console } = setup('shell', true);
    assert.equal(await proxy.acquire(20_000), 'broke-in');
    assert.equal(kernel.mode, 'gdb');
    assert.match(console(), /\[0\]kdb> /);
    await proxy.close();
  });

  test('gdb through the local port: packets pass, c runs, 0x03 becomes SysRq-g and the T05 comes back', async () => {
    const { kernel, proxy } = setup('gdb', false);
    await proxy.acquire(5000);
    const gdb = new FakeGdb(await proxy.listen());
    await gdb.ready;
    gdb.send(`+${frame('?').toString()}`);
    await gdb.waitFor(/\+\$S05#b8/);
    gdb.send(frame('c').toString());
    await gdb.waitFor(/\$S05#b8\+/);
    await waitState(proxy, 'running');
    // Typing goes to the shell while the kernel runs.
    assert.ok(proxy.typeConsole('ls\n'));
    gdb.send('\x03');
    await gdb.waitFor(/\$T05thread:0000000000000001;#[0-9a-f]{2}$/, 15_000);
    assert.ok(!kernel.written.includes('\x03'), 'the interrupt byte reached the line');
    assert.equal(proxy.state, 'stopped');
    // Now the line is kgdb's: console input would corrupt it, so it waits for the next run.
    const sentBefore = kernel.written.length;
    assert.equal(proxy.typeConsole('pwd\n'), false);
    assert.ok(!kernel.written.slice(sentBefore).includes('pwd'), 'typed into a stopped kgdb line');
    gdb.send(frame('c').toString());
    await waitState(proxy, 'running');
    assert.ok(kernel.written.slice(sentBefore).includes('pwd\n'), 'held input was not sent on resume');
    gdb.close();
    await proxy.close();
  });

  test('Pause with kdb: the proxy switches kdb to gdb mode and gives gdb a stop reply itself', async () => {
    const { proxy } = setup('gdb', true);
    await proxy.acquire(5000);
    const gdb = new FakeGdb(await proxy.listen());
    await gdb.ready;
    gdb.send(frame('c').toString());
    await waitState(proxy, 'running');
    gdb.send('\x03');
    await gdb.waitFor(/\$S05#b8$/, 15_000);
    // kgdb's answer to the proxy's own qSupported never reaches gdb.
    assert.ok(!/\$#00/.test(gdb.received), gdb.received);
    gdb.close();
    await proxy.close();
  });

  test('monitor output (O packets) reaches gdb, and so does the OK after it', async () => {
    const { proxy } = setup('gdb', false);
    await proxy.acquire(5000);
    const gdb = new FakeGdb(await proxy.listen());
    try {
      await gdb.ready;
      gdb.send(frame('qRcmd,627470203430').toString());
      await gdb.waitFor(/\$O4c696e6520310a#[0-9a-f]{2}\$O4c696e6520320a#[0-9a-f]{2}\$OK#9a/);
      gdb.send(frame('g').toString());
      await gdb.waitFor(/\$0{32}#/);
    } finally {
      gdb.close();
      await proxy.close();
    }
  });

  test('a reply nobody in gdb asked for is acknowledged and dropped', async () => {
    const { kernel, proxy } = setup('gdb', false);
    await proxy.acquire(5000);
    const gdb = new FakeGdb(await proxy.listen());
    await gdb.ready;
    kernel.send(frame('OK').toString('latin1'));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(gdb.received, '');
    gdb.send(frame('g').toString());
    await gdb.waitFor(/\$0{32}#/);
    assert.ok(!gdb.received.includes('$OK'));
    gdb.close();
    await proxy.close();
  });
});

async function waitState(proxy: KgdbProxy, state: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (proxy.state !== state) {
    if (Date.now() > deadline) throw new Error(`proxy stayed ${proxy.state}, not ${state}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
