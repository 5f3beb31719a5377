import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CustomRequests } from '../../../src/adapter/protocol';
import { moduleNode } from '../../../src/extension/views/modules';
import { FakeAdapter, sampleModules, sampleWalk } from './fakeAdapter';
import { kdapExtension, makeKernelTree, stopAll, waitFor, workspaceFolder } from './util';

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
    // The Kernel views exist while a kdap session does (package.json "when").
    await startStoppedSession(adapter);
    await vscode.commands.executeCommand('kdap.cpus.focus');
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

  it('Pick Symbol File… is on modules without symbols and sends kdap/loadModuleSymbols with the picked file', async () => {
    type MenuItem = { command: string; when?: string; group?: string };
    const menus = (kdapExtension().packageJSON as { contributes: { menus: Record<string, MenuItem[]> } }).contributes.menus['view/item/context'];
    const picks = menus.filter((m) => m.command === 'kdap.pickModuleSymbols');
    assert.ok(picks.some((m) => m.group === 'inline'), 'no inline action');
    assert.ok(picks.some((m) => m.group !== 'inline'), 'no context-menu item');
    for (const m of picks) assert.equal(m.when, 'view == kdap.modules && viewItem == module.missing');
    const [found, missing] = sampleModules.modules.map(moduleNode);
    assert.equal(missing.module.symbolFile, null);
    assert.equal(missing.item.contextValue, 'module.missing');
    assert.equal(found.item.contextValue, 'module');

    adapter = await FakeAdapter.start();
    await startStoppedSession(adapter);
    await vscode.commands.executeCommand('kdap.modules.focus');
    await adapter.waitFor('kdap/modules', 30_000);
    const file = path.join(tree.root, 'hello.ko');
    fs.writeFileSync(file, '');
    const window = vscode.window as { showOpenDialog: typeof vscode.window.showOpenDialog };
    const original = window.showOpenDialog;
    let asked: vscode.OpenDialogOptions | undefined;
    window.showOpenDialog = async (options) => {
      asked = options;
      return [vscode.Uri.file(file)];
    };
    try {
      const listed = adapter.count('kdap/modules');
      const result = await vscode.commands.executeCommand<CustomRequests['kdap/loadModuleSymbols']['result']>('kdap.pickModuleSymbols', missing);
      assert.deepEqual((await adapter.waitFor('kdap/loadModuleSymbols')).arguments, { name: 'hello', file });
      assert.equal(result?.module.symbolFile, file);
      assert.match(result?.warnings[0] ?? '', /srcversion/);
      assert.deepEqual(Object.values(asked?.filters ?? {}).flat().sort(), ['*', 'debug', 'ko', 'xz', 'zst']);
      assert.equal(asked?.canSelectMany, false);
      // The view asks again, to show the module with its file.
      await waitFor('kdap/modules after the pick', () => adapter!.count('kdap/modules') > listed, 30_000);
    } finally {
      window.showOpenDialog = original;
    }
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
    await startStoppedSession(adapter);
    await vscode.commands.executeCommand('kdap.cpus.focus');
    await adapter.waitFor('kdap/cpus');
    // The walk fails; the command reports it in the Page Walk view and returns nothing.
    assert.equal(await vscode.commands.executeCommand('kdap.decodeVirtualAddress', '0x1000'), undefined);
    await adapter.waitFor('kdap/walk');
    assert.ok(vscode.debug.activeDebugSession, 'the session survived');
  });
});

describe('page-table hovers in C', () => {
  let adapter: FakeAdapter | undefined;

  afterEach(async () => {
    await stopAll();
    await adapter?.close();
    adapter = undefined;
  });

  async function hoversAt(doc: vscode.TextDocument, text: string): Promise<vscode.Hover[]> {
    const offset = doc.getText().indexOf(text);
    assert.ok(offset >= 0, text);
    return vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, doc.positionAt(offset + text.length - 1));
  }

  const markdown = (hovers: vscode.Hover[]) =>
    hovers.flatMap((h) => h.contents).map((c) => (typeof c === 'string' ? c : 'value' in c ? c.value : '')).join('\n');

  it('a pointer’s hover links to its page walk; the link opens the walk of that address', async () => {
    adapter = await FakeAdapter.start();
    // A file on disk: an untitled editor would make startDebugging wait on a Save As dialog.
    const file = path.join(tree.root, 'hover.c');
    fs.writeFileSync(file, 'pgd_t *pgd = init_mm.pgd;\npte_t entry = pte;\n');
    const doc = await vscode.workspace.openTextDocument(file);
    assert.equal(doc.languageId, 'c');
    await vscode.window.showTextDocument(doc);
    assert.equal(markdown(await hoversAt(doc, 'init_mm.pgd')).includes('command:kdap.decodeVirtualAddress'), false, 'no link without a session');
    await startStoppedSession(adapter);

    const hovers = await hoversAt(doc, 'init_mm.pgd');
    const text = markdown(hovers);
    const hover = adapter.requests.find((r) => r.command === 'evaluate' && r.arguments?.context === 'hover');
    assert.equal(hover?.arguments?.expression, 'init_mm.pgd', 'the member chain under the mouse');
    assert.match(text, /→ phys 0x41ad0000, 4 KiB page/);
    const link = /\(command:kdap\.decodeVirtualAddress\?([^ )]+)/.exec(text);
    assert.ok(link, text);
    const args = JSON.parse(decodeURIComponent(link[1])) as unknown[];
    assert.deepEqual(args, ['0xffff800081ad0000']);
    // What clicking the link runs.
    const walk = await vscode.commands.executeCommand('kdap.decodeVirtualAddress', ...args);
    assert.deepEqual((await adapter.waitFor('kdap/walk')).arguments, { va: '0xffff800081ad0000' });
    assert.deepEqual(walk, sampleWalk('0xffff800081ad0000'));

    // An entry: its decode, and no link (there is no address to walk).
    const entry = markdown(await hoversAt(doc, 'pte;'));
    assert.match(entry, /pte = \{pte = 0x68000061020713\}  ·  L3\/PTE page → phys 0x61020000/);
    assert.equal(entry.includes('command:'), false);
    // A value the adapter did not decorate gets no editor hover from kdap.
    assert.equal(markdown(await hoversAt(doc, 'entry')), '');
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  it('Decode Virtual Address from the Variables view walks the variable’s pointer value', async () => {
    adapter = await FakeAdapter.start();
    await startStoppedSession(adapter);
    const variable = { name: 'pgd', value: '0xffff800081ad0000 <swapper_pg_dir>', memoryReference: '0xffff800081ad0000', evaluateName: 'pgd' };
    await vscode.commands.executeCommand('kdap.decodeVirtualAddress', { container: { name: 'Locals' }, variable });
    assert.deepEqual((await adapter.waitFor('kdap/walk')).arguments, { va: '0xffff800081ad0000' });
  });
});
