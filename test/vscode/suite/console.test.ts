import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { KdapApi } from '../../../src/extension/main';
import { FakeAdapter } from './fakeAdapter';
import { kdapExtension, makeKernelTree, stopAll, waitFor, workspaceFolder } from './util';

const tree = makeKernelTree();

function api(): KdapApi {
  return kdapExtension().exports as KdapApi;
}

function consoleTerminal(name: string): vscode.Terminal | undefined {
  return vscode.window.terminals.find((t) => t.name === `Kernel console (${name})`);
}

describe('guest serial console terminal', () => {
  let adapter: FakeAdapter | undefined;

  afterEach(async () => {
    await stopAll();
    await adapter?.close();
    adapter = undefined;
    for (const t of vscode.window.terminals) if (t.name.startsWith('Kernel console')) t.dispose();
  });

  it('opens with the session, shows what the guest printed before it opened, and types into the guest', async () => {
    adapter = await FakeAdapter.start();
    const started = await vscode.debug.startDebugging(workspaceFolder(), {
      type: 'kdap',
      request: 'launch',
      name: 'console test',
      kernel: tree.image,
      debugServer: adapter.port,
    });
    assert.equal(started, true);
    const launch = (await adapter.waitFor('launch')).arguments ?? {};
    assert.equal(launch.serialTerminal, true, 'the configuration provider asks for console events');
    const session = (await waitFor('the session', () => vscode.debug.activeDebugSession))!;
    const terminal = (await waitFor('the console terminal', () => consoleTerminal('console test')))!;

    // The adapter sent this before the launch response, with bare \n: held, then shown with \r\n.
    const boot = 'Booting Linux on physical CPU 0x0000000000 [0x411fd070]\r\nLinux version 6.1.0-kdap\r\n';
    await waitFor('the boot text in the terminal', () => api().consoleTranscript(session.id)?.startsWith(boot));

    terminal.sendText('uname -r', true);
    await waitFor('kdap/serialInput', () => adapter!.requests.filter((r) => r.command === 'kdap/serialInput').map((r) => r.arguments?.text).join('').startsWith('uname -r'));
    // The guest's echo comes back through kdap/serial.
    await waitFor('the echo', () => api().consoleTranscript(session.id)?.includes('uname -r\r\n'));

    await stopAll();
    await waitFor('the end mark', () => api().consoleTranscript(session.id)?.includes('[session ended'));
    assert.ok(consoleTerminal('console test'), 'the terminal stays for reading after the session');
  });

  it('serialTerminal: false keeps the console in the Debug Console, with no terminal', async () => {
    adapter = await FakeAdapter.start();
    await vscode.debug.startDebugging(workspaceFolder(), {
      type: 'kdap',
      request: 'launch',
      name: 'no console',
      kernel: tree.image,
      serialTerminal: false,
      debugServer: adapter.port,
    });
    const launch = (await adapter.waitFor('launch')).arguments ?? {};
    assert.equal(launch.serialTerminal, false);
    await adapter.waitFor('configurationDone');
    assert.equal(consoleTerminal('no console'), undefined);
  });
});
