import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { kdapExtension, waitFor, workspaceFile } from './util';

// Runs first (index.ts orders it): the window has not touched anything kernel-related yet.
describe('activation', () => {
  it('is lazy: kdap is installed but not active before a trigger', () => {
    assert.equal(kdapExtension().isActive, false);
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
