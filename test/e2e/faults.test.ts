/**
 * The session under faults: QEMU or gdb killed with SIGKILL while the target runs or is
 * stopped. Each time the session must end (terminated event) promptly with a message, and
 * leave no process behind. The process table is the oracle.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { KdapClient } from '../support/dap';
import { loadFixtures } from '../support/fixtures';

const fixtures = loadFixtures();

function children(parent: number): Array<{ pid: number; comm: string }> {
  const r = spawnSync('ps', ['-eo', 'pid=,ppid=,comm='], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(\S+)/.exec(l))
    .filter((m): m is RegExpExecArray => !!m && Number(m[2]) === parent)
    .map((m) => ({ pid: Number(m[1]), comm: m[3] }));
}

function alive(pid: number): boolean {
  const r = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' });
  return r.status === 0 && !r.stdout.trim().startsWith('Z');
}

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

for (const arch of ['x86_64', 'arm64'] as const) {
  describe(`faults on ${arch}`, { concurrency: false }, () => {
    test('QEMU killed while the kernel runs: the session ends and gdb is reaped', async (t) => {
      const { dc, adapterPid } = await startSession(arch);
      let said = '';
      dc.on('output', (e: DebugProtocol.OutputEvent) => (said += e.body.output));
      const procs = children(adapterPid);
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
      const procs = children(adapterPid);
      const gdb = procs.find((p) => p.comm.includes('gdb'));
      assert.ok(gdb, `gdb among ${JSON.stringify(procs)}`);
      process.kill(gdb.pid, 'SIGKILL');
      t.diagnostic(`terminated ${await expectEnd(dc, procs.map((p) => p.pid), () => said)} ms after SIGKILL`);
      await dc.close();
    });
  });
}
