/**
 * The session under faults: QEMU or gdb killed with SIGKILL while the target runs or is
 * stopped, or the gdbstub connection dropped (through a TCP relay the test owns). Each time the
 * session must end (terminated event) promptly with a message, and leave no process behind.
 * The process table is the oracle.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { QemuProcess } from '../../src/engine/qemu';
import { KdapClient } from '../support/dap';
import { alive, childProcesses } from '../support/processes';
import { relay } from '../support/relay';
import { loadFixtures } from '../support/fixtures';

const fixtures = loadFixtures();

async function startSession(arch: 'x86_64' | 'arm64'): Promise<{ dc: KdapClient; adapterPid: number }> {
  const fx = fixtures.arches[arch];
  const dc = new KdapClient();
  await dc.start();
  await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  const stop = dc.stopped('entry');
  await Promise.all([
    dc.launch({ type: 'kdap', request: 'launch', kernel: fx.kernel, vmlinux: fx.vmlinux, initrd: fx.initrd, append: fx.append, stopAt: 'start_kernel' }),
    dc.configurationSequence(),
  ]);
  await stop;
  const adapterPid = (dc as unknown as { _adapterProcess: { pid: number } })._adapterProcess.pid;
  return { dc, adapterPid };
}

async function expectEnd(dc: KdapClient, pids: number[], output: () => string): Promise<number> {
  const t0 = Date.now();
  await dc.waitForEvent('terminated', 10_000);
  const ms = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(pids.filter(alive), [], 'no process left behind');
  assert.match(output(), /exited/i, 'the user is told what happened');
  return ms;
}

/** Adapters of the drop tests, ended after the suite when a failing test left one behind. */
const attached: KdapClient[] = [];

async function attachSession(remote: string, name: string): Promise<{ dc: KdapClient; adapterPid: number }> {
  const dc = new KdapClient();
  attached.push(dc);
  await dc.start();
  await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  const stop = dc.stopped('entry');
  try {
    await Promise.all([dc.attachRequest({ type: 'kdap', request: 'attach', vmlinux: fixtures.arches.x86_64.vmlinux, remote, trace: true } as never), dc.waitForEvent('initialized').then(() => dc.configurationDoneRequest())]);
    await stop;
  } catch (err) {
    stop.catch(() => undefined);
    dc.saveLogs(name);
    throw err;
  }
  return { dc, adapterPid: (dc as unknown as { _adapterProcess: { pid: number } })._adapterProcess.pid };
}

const only = process.env.KDAP_E2E_ARCH;

describe('gdbstub connection dropped (x86_64, attach)', { concurrency: false, skip: only !== undefined && only !== 'x86_64' }, () => {
  let qemu: QemuProcess;
  const fx = fixtures.arches.x86_64;

  before(async () => {
    // Held at reset (-S): attaching and running it costs no boot wait.
    qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch: 'x86_64', gdb: true, startPaused: true });
  });

  after(async () => {
    for (const dc of attached) await dc.close();
    await qemu?.kill();
  });

  for (const when of ['running', 'stopped'] as const) {
    test(`dropped while ${when}: the session ends saying so, gdb is reaped, a new attach works`, async (t) => {
      const link = await relay(qemu.gdbPort!);
      const { dc, adapterPid } = await attachSession(`127.0.0.1:${link.port}`, `faults-drop-${when}`);
      let said = '';
      dc.on('output', (e: DebugProtocol.OutputEvent) => (said += e.body.output));
      const procs = childProcesses(adapterPid);
      assert.ok(procs.some((p) => p.comm.includes('gdb')), `gdb among ${JSON.stringify(procs)}`);
      if (when === 'running') await dc.continueRequest({ threadId: 1 });
      const t0 = Date.now();
      link.cut();
      await dc.waitForEvent('terminated', 10_000).catch((err: Error) => {
        dc.saveLogs(`faults-drop-${when}`);
        throw err;
      });
      t.diagnostic(`terminated ${Date.now() - t0} ms after the cut`);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(procs.map((p) => p.pid).filter(alive), [], 'no process left behind');
      assert.match(said, /connection/i, 'the user is told what happened');
      assert.ok(qemu.running, 'the VM itself is untouched');
      await dc.close();
      // The stub is free again at once: a new session attaches directly and detaches.
      const next = await attachSession(qemu.gdbAddress!, `faults-drop-${when}-after`);
      await next.dc.disconnectRequest({});
      await next.dc.close();
    });
  }
});

for (const arch of (['x86_64', 'arm64'] as const).filter((a) => !only || a === only)) {
  describe(`faults on ${arch}`, { concurrency: false }, () => {
    test('QEMU killed while the kernel runs: the session ends and gdb is reaped', async (t) => {
      const { dc, adapterPid } = await startSession(arch);
      let said = '';
      dc.on('output', (e: DebugProtocol.OutputEvent) => (said += e.body.output));
      const procs = childProcesses(adapterPid);
      const qemu = procs.find((p) => p.comm.startsWith('qemu-system'));
      assert.ok(qemu, `QEMU among ${JSON.stringify(procs)}`);
      await dc.continueRequest({ threadId: 1 });
      process.kill(qemu.pid, 'SIGKILL');
      const ms = await expectEnd(dc, procs.map((p) => p.pid), () => said);
      t.diagnostic(`terminated ${ms} ms after SIGKILL`);
      await dc.close();
    });

    test('gdb killed while stopped: the session ends and QEMU is reaped', async (t) => {
      const { dc, adapterPid } = await startSession(arch);
      let said = '';
      dc.on('output', (e: DebugProtocol.OutputEvent) => (said += e.body.output));
      const procs = childProcesses(adapterPid);
      const gdb = procs.find((p) => p.comm.includes('gdb'));
      assert.ok(gdb, `gdb among ${JSON.stringify(procs)}`);
      process.kill(gdb.pid, 'SIGKILL');
      t.diagnostic(`terminated ${await expectEnd(dc, procs.map((p) => p.pid), () => said)} ms after SIGKILL`);
      await dc.close();
    });
  });
}
