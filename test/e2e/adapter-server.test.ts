/**
 * `dist/adapter.js --listen PATH`: the one adapter process the extension keeps per window,
 * serving each debug session over its own socket connection. Against a running QEMU and a dump:
 * sessions one after another and at once, a client that vanishes without `disconnect`, the
 * process ending when its stdin closes or after its idle time. The oracles are the process
 * table (gdb children of the server) and the guest's own shell answering once detached.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { QemuProcess } from '../../src/engine/qemu';
import { EventClient, guestAnswers } from '../support/protocol-client';
import { startAdapterServer, type AdapterServer } from '../support/adapter-server';
import { loadFixtures } from '../support/fixtures';
import { alive, childProcesses } from '../support/processes';
import { dumpFixture } from './dump-support';

const fixtures = loadFixtures();
const fx = fixtures.arches.x86_64;

class SocketClient extends EventClient {
  readonly socket: net.Socket;
  private constructor(socket: net.Socket) {
    super();
    this.socket = socket;
    this.connect(socket, socket);
  }

  static open(socketPath: string): Promise<SocketClient> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(socketPath, () => resolve(new SocketClient(s)));
      s.once('error', reject);
    });
  }


  /** initialize, then `request` with `args`, configurationDone on `initialized`; resolves on the first stop. */
  async begin(request: 'attach' | 'launch', args: Record<string, unknown>): Promise<DebugProtocol.StoppedEvent> {
    await this.send('initialize', { adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
    const initialized = this.waitFor('initialized');
    const stopped = this.waitFor('stopped');
    const answered = this.send(request, args);
    await initialized;
    await this.send('configurationDone', {});
    await answered;
    return (await stopped) as DebugProtocol.StoppedEvent;
  }

  async frames(threadId: number): Promise<string[]> {
    const st = (await this.send('stackTrace', { threadId, startFrame: 0, levels: 20 })) as DebugProtocol.StackTraceResponse;
    return st.body.stackFrames.map((f) => f.name);
  }
}

function exited(proc: ChildProcess, ms: number): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server still runs after ${ms} ms`)), ms);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

const gdbChildren = (pid: number): number[] => childProcesses(pid).filter((c) => !c.zombie && /gdb/.test(c.comm)).map((c) => c.pid);

/** Waits until the server has no gdb child left; returns those still alive after `ms`. */
async function gdbsGone(pid: number, ms = 10_000): Promise<number[]> {
  const deadline = Date.now() + ms;
  let left = gdbChildren(pid);
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = gdbChildren(pid).filter(alive);
  }
  return left;
}


describe('the adapter serving a window\'s sessions on a socket (adapter.js --listen)', { concurrency: false }, () => {
  let qemu: QemuProcess;
  let server: AdapterServer;
  const attachArgs = (): Record<string, unknown> => ({ vmlinux: fx.vmlinux, remote: qemu.gdbAddress, sourceRoot: fixtures.sourceRoot, substitutePath: fx.substitutePath });

  before(async () => {
    qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch: 'x86_64', gdb: true, startPaused: false });
    const deadline = Date.now() + 180_000;
    while (!qemu.consoleText.includes(fixtures.guest.prompt)) {
      if (Date.now() > deadline) throw new Error(`guest did not boot: ${qemu.consoleText.slice(-500)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    server = await startAdapterServer();
  });

  after(async () => {
    if (server && server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill('SIGKILL');
    if (server) fs.rmSync(server.dir, { recursive: true, force: true });
    await qemu?.kill();
  });

  test('sessions one after another: each stops with a thread per CPU, and its disconnect ends its gdb while the server lives on', async () => {
    for (const round of [1, 2]) {
      const c = await SocketClient.open(server.socket);
      const stop = await c.begin('attach', attachArgs());
      assert.equal(stop.body.reason, 'entry');
      const threads = (await c.send('threads', {})) as DebugProtocol.ThreadsResponse;
      assert.equal(threads.body.threads.length, 2, `round ${round}: a thread per vCPU`);
      assert.match((await c.frames(stop.body.threadId!)).join(' '), /idle|halt|do_idle/);
      assert.equal(gdbChildren(server.proc.pid!).length, 1, `round ${round}: the session's gdb runs under the server`);
      await c.send('disconnect', {});
      c.socket.end();
      assert.deepEqual(await gdbsGone(server.proc.pid!), [], `round ${round}: no gdb left after disconnect`);
      assert.ok(alive(server.proc.pid!), 'the server lives on');
      await guestAnswers(qemu, `round${round}`);
    }
  });

  const dump = dumpFixture('x86_64', 'qemu');
  test('a live session and a dump session at once, each answering its own', { skip: 'missing' in dump ? dump.missing : false }, async () => {
    const core = 'missing' in dump ? '' : dump.files['elf'];
    const live = await SocketClient.open(server.socket);
    const post = await SocketClient.open(server.socket);
    const [liveStop, dumpStop] = await Promise.all([
      live.begin('attach', attachArgs()),
      post.begin('launch', { core, vmlinux: fx.vmlinux, sourceRoot: fixtures.sourceRoot, substitutePath: fx.substitutePath }),
    ]);
    assert.equal(gdbChildren(server.proc.pid!).length, 2, 'two gdb, one per session');
    const [liveFrames, dumpFrames] = await Promise.all([live.frames(liveStop.body.threadId!), post.frames(dumpStop.body.threadId!)]);
    assert.match(liveFrames.join(' '), /idle|halt|do_idle/);
    assert.ok(dumpFrames.length > 0, 'the dump shows a stack');
    await post.send('disconnect', {});
    post.socket.end();
    const after = await live.frames(liveStop.body.threadId!);
    assert.deepEqual(after, liveFrames, 'the live session answers as before the dump session ended');
    await live.send('disconnect', {});
    live.socket.end();
    assert.deepEqual(await gdbsGone(server.proc.pid!), [], 'no gdb left');
    await guestAnswers(qemu, 'both');
  });

  test('a client that goes away without disconnect: its gdb ends and the kernel runs on', async () => {
    const c = await SocketClient.open(server.socket);
    await c.begin('attach', attachArgs());
    assert.equal(gdbChildren(server.proc.pid!).length, 1);
    c.socket.destroy();
    assert.deepEqual(await gdbsGone(server.proc.pid!), [], 'no gdb left');
    assert.ok(alive(server.proc.pid!), 'the server lives on');
    await guestAnswers(qemu, 'vanished');
  });

  test('stdin closed (the extension host gone): the server ends its sessions, removes its socket and exits', async () => {
    const c = await SocketClient.open(server.socket);
    await c.begin('attach', attachArgs());
    const gdbs = gdbChildren(server.proc.pid!);
    assert.equal(gdbs.length, 1);
    server.proc.stdin!.end();
    assert.equal(await exited(server.proc, 15_000), 0, server.stderr);
    assert.deepEqual(gdbs.filter(alive), [], 'the session\'s gdb ended with it');
    assert.equal(fs.existsSync(server.socket), false, 'the socket is gone');
    await guestAnswers(qemu, 'hostgone');
  });

  test('with no session for its idle time, the server exits by itself', async () => {
    const idle = await startAdapterServer({ KDAP_ADAPTER_IDLE_MS: '300' });
    try {
      assert.equal(await exited(idle.proc, 10_000), 0, idle.stderr);
      assert.match(idle.stderr, /idle/);
      assert.equal(fs.existsSync(idle.socket), false);
    } finally {
      fs.rmSync(idle.dir, { recursive: true, force: true });
    }
  });
});
