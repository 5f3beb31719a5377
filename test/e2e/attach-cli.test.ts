/**
 * `kdap dap` (the CLI's stdio adapter) attaching to a QEMU that is already running, as a
 * non-VS Code DAP client would: attach halts it, shows where each vCPU is, and disconnect
 * detaches and leaves the kernel running.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { ProtocolClient } from '@vscode/debugadapter-testsupport/lib/protocolClient';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { QemuProcess } from '../../src/adapter/qemu';
import { loadFixtures } from '../support/fixtures';
import { repoRoot } from '../support/dap';

class StdioClient extends ProtocolClient {
  readonly proc: ChildProcess;
  constructor(args: string[]) {
    super();
    this.proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.connect(this.proc.stdout!, this.proc.stdin!);
  }
  waitFor(event: string, ms = 120_000): Promise<DebugProtocol.Event> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no '${event}' event in ${ms} ms`)), ms);
      this.once(event, (e: DebugProtocol.Event) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
  }
}

const fixtures = loadFixtures();
const fx = fixtures.arches.x86_64;

describe('kdap dap: attach to a running QEMU gdbstub', { concurrency: false }, () => {
  let qemu: QemuProcess;
  let client: StdioClient;

  before(async () => {
    qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch: 'x86_64', gdb: true, startPaused: false });
    const deadline = Date.now() + 120_000;
    while (!qemu.consoleText.includes(fixtures.guest.prompt)) {
      if (Date.now() > deadline) throw new Error(`guest did not boot: ${qemu.consoleText.slice(-500)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    client = new StdioClient([path.join(repoRoot, 'dist', 'cli.js'), 'dap']);
  });

  after(async () => {
    client?.proc.kill('SIGKILL');
    await qemu?.kill();
  });

  test('initialize advertises the kernel exception filters and data breakpoints', async () => {
    const r = (await client.send('initialize', { adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' })) as DebugProtocol.InitializeResponse;
    assert.equal(r.body?.supportsDataBreakpoints, true);
    assert.deepEqual(r.body?.exceptionBreakpointFilters?.map((f) => f.filter), ['panic', 'oops', 'warn', 'bug', 'kasan']);
  });

  test('attach halts the running kernel and reports where each vCPU is', async () => {
    const initialized = client.waitFor('initialized');
    const stopped = client.waitFor('stopped');
    const attach = client.send('attach', { vmlinux: fx.vmlinux, remote: qemu.gdbAddress, sourceRoot: fixtures.sourceRoot, substitutePath: fx.substitutePath });
    await initialized;
    await client.send('configurationDone', {});
    await attach;
    const e = (await stopped) as DebugProtocol.StoppedEvent;
    assert.equal(e.body.reason, 'entry');
    const threads = (await client.send('threads', {})) as DebugProtocol.ThreadsResponse;
    assert.equal(threads.body.threads.length, 2);
    const st = (await client.send('stackTrace', { threadId: threads.body.threads[0].id, levels: 10 })) as DebugProtocol.StackTraceResponse;
    // An idle booted kernel sits in the idle loop: a kernel function with kernel source.
    assert.ok(st.body.stackFrames.length > 0);
    assert.match(st.body.stackFrames.map((f) => f.name).join(' '), /idle|halt|cpu_startup_entry|do_idle/);
  });

  test('disconnect detaches: gdb exits, the guest keeps running and answers', async () => {
    await client.send('disconnect', {});
    await new Promise<void>((resolve) => (client.proc.exitCode !== null ? resolve() : client.proc.once('exit', () => resolve())));
    assert.ok(qemu.running, 'QEMU still runs');
    const before = qemu.consoleText.length;
    qemu.write('echo attach-$((40+2))\n');
    const deadline = Date.now() + 30_000;
    while (!qemu.consoleText.slice(before).includes('attach-42')) {
      if (Date.now() > deadline) throw new Error('the guest did not answer after detach');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});
