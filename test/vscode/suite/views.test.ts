import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { FakeAdapter, sampleWalk } from './fakeAdapter';
import { makeKernelTree, stopAll, waitFor, workspaceFolder } from './util';

const tree = makeKernelTree();

/** Starts a kdap session on the fake adapter and waits until VS Code shows it stopped. */
async function startStoppedSession(adapter: FakeAdapter): Promise<void> {
  const started = await vscode.debug.startDebugging(workspaceFolder(), {
    type: 'kdap',
    request: 'attach',
    name: 'fake kernel',
    remote: 'localhost:1234',
    vmlinux: tree.vmlinux,
    debugServer: adapter.port,
  });
  assert.equal(started, true);
  // VS Code asks for the stack only after the adapter's `stopped` event went through the
  // extension host, where kdap's tracker saw it.
  await adapter.waitFor('stackTrace');
}

describe('kernel views and commands', () => {
  let adapter: FakeAdapter | undefined;

  afterEach(async () => {
    await stopAll();
    await adapter?.close();
    adapter = undefined;
  });

  it('without a kdap session, Decode Virtual Address does nothing', async () => {
    assert.equal(vscode.debug.activeDebugSession, undefined);
    assert.equal(await vscode.commands.executeCommand('kdap.decodeVirtualAddress', '0xffff000061020000'), undefined);
  });

  it('Refresh asks again', async () => {
    adapter = await FakeAdapter.start();
    await vscode.commands.executeCommand('kdap.cpus.focus');
    await startStoppedSession(adapter);
    await adapter.waitFor('kdap/cpus');
    const before = adapter.count('kdap/cpus');
    await vscode.commands.executeCommand('kdap.refreshCpus');
    await waitFor('a second kdap/cpus', () => adapter!.count('kdap/cpus') > before);
  });

  // The scripted adapter stops right after configurationDone, often before VS Code reports
  // the session started: the order that once left the views thinking the target ran.
  it('the CPUs and Modules views ask the stopped session with kdap/cpus and kdap/modules', async () => {
    adapter = await FakeAdapter.start();
    // The first time, the Kernel container has to be created before its views can ask.
    await vscode.commands.executeCommand('workbench.view.extension.kdap-kernel');
    await vscode.commands.executeCommand('kdap.cpus.focus');
    await startStoppedSession(adapter);
    await vscode.commands.executeCommand('kdap.modules.focus');
    await adapter.waitFor('kdap/cpus', 30_000);
    await adapter.waitFor('kdap/modules', 30_000);
  });

  it('Decode Virtual Address sends kdap/walk and returns the walk it shows', async () => {
    adapter = await FakeAdapter.start();
    await startStoppedSession(adapter);
    const va = '0xffff000061020000';
    const result = await vscode.commands.executeCommand('kdap.decodeVirtualAddress', va);
    assert.deepEqual((await adapter.waitFor('kdap/walk')).arguments, { va });
    assert.deepEqual(result, sampleWalk(va));
  });

  it('Show dmesg opens the log buffer as a Kernel Log document', async () => {
    adapter = await FakeAdapter.start();
    await startStoppedSession(adapter);
    const uri = await vscode.commands.executeCommand<string>('kdap.showDmesg');
    assert.ok(uri, 'no document opened');
    const doc = vscode.window.activeTextEditor?.document;
    assert.equal(doc?.uri.toString(), uri);
    assert.equal(doc?.languageId, 'kernel-log');
    assert.match(doc?.getText() ?? '', /Booting Linux on physical CPU/);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  it('an adapter that does not know the kdap requests leaves views and commands working', async () => {
    adapter = await FakeAdapter.start({ kdapRequests: false });
    await vscode.commands.executeCommand('kdap.cpus.focus');
    await startStoppedSession(adapter);
    await adapter.waitFor('kdap/cpus');
    // The walk fails; the command reports it in the Page Walk view and returns nothing.
    assert.equal(await vscode.commands.executeCommand('kdap.decodeVirtualAddress', '0x1000'), undefined);
    await adapter.waitFor('kdap/walk');
    assert.ok(vscode.debug.activeDebugSession, 'the session survived');
  });
});
