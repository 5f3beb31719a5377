import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { kdapExtension, waitFor, workspaceFile } from './util';

// Runs first (index.ts orders it): the window has not touched anything kernel-related yet.
// VS Code fires onLanguage:plaintext in every window at startup, with no plain-text editor
// open (microsoft/vscode#80268), so kdap must not list it: it would activate everywhere.
describe('activation', () => {
  it('is lazy: kdap is installed but not active before a trigger', () => {
    const open = vscode.workspace.textDocuments.map((d) => `${d.languageId} ${d.uri.toString()}`);
    assert.equal(kdapExtension().isActive, false, `kdap is active; open documents: ${JSON.stringify(open)}`);
    const events = kdapExtension().packageJSON.activationEvents as string[];
    assert.deepEqual(
      events.filter((e) => e === 'onLanguage:plaintext' || e === '*' || e === 'onStartupFinished'),
      [],
    );
  });

  it('activates when a kernel log opens', async () => {
    const doc = await vscode.workspace.openTextDocument(workspaceFile('crash.oops'));
    await vscode.window.showTextDocument(doc);
    assert.equal(doc.languageId, 'kernel-log');
    await waitFor('kdap to activate', () => kdapExtension().isActive);
  });

  it('registers every command package.json contributes', async () => {
    const contributed = (kdapExtension().packageJSON.contributes.commands as { command: string }[]).map((c) => c.command);
    const registered = new Set(await vscode.commands.getCommands(true));
    assert.deepEqual(
      contributed.filter((c) => !registered.has(c)),
      [],
    );
    assert.ok(contributed.includes('kdap.decodeVirtualAddress'));
  });
});
