import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { kdapExtension, waitFor, workspaceFile } from './util';

async function languageOf(name: string): Promise<string> {
  const doc = await vscode.workspace.openTextDocument(workspaceFile(name));
  return doc.languageId;
}

describe('kernel-log language', () => {
  it('.oops files are Kernel Log', async () => {
    assert.equal(await languageOf('crash.oops'), 'kernel-log');
  });

  it('.dmesg files are Kernel Log', async () => {
    assert.equal(await languageOf('boot.dmesg'), 'kernel-log');
  });

  it('a file without extension whose first line is a kernel log line is Kernel Log', async () => {
    assert.equal(await languageOf('console-capture'), 'kernel-log');
  });

  it('a file without extension and an ordinary first line is not', async () => {
    assert.notEqual(await languageOf('notes'), 'kernel-log');
  });

  it('is named "Kernel Log" in the language picker', async () => {
    const languages = vscode.extensions.getExtension('kdap.kdap')?.packageJSON.contributes.languages as {
      id: string;
      aliases: string[];
    }[];
    assert.equal(languages.find((l) => l.id === 'kernel-log')?.aliases[0], 'Kernel Log');
    assert.ok((await vscode.languages.getLanguages()).includes('kernel-log'));
  });

  // The detector in the running extension (activation.test.ts has activated it): files VS Code
  // opens as Plain Text or Log by their extension, and text pasted into an untitled editor.
  describe('kernel logs VS Code opens as Plain Text or Log', () => {
    const crash = () => fs.readFileSync(workspaceFile('crash.oops').fsPath, 'utf8');
    const languageNow = (uri: vscode.Uri) => vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString())?.languageId;

    before(() => assert.equal(kdapExtension().isActive, true));

    for (const name of ['report.txt', 'serial.log']) {
      it(`a kernel log saved as ${name} becomes Kernel Log`, async () => {
        const uri = workspaceFile(name);
        fs.writeFileSync(uri.fsPath, crash());
        const doc = await vscode.workspace.openTextDocument(uri);
        assert.equal(doc.languageId, name.endsWith('.txt') ? 'plaintext' : 'log', 'VS Code picks the language by the extension first');
        await waitFor(`${name} to become kernel-log`, () => languageNow(uri) === 'kernel-log');
      });
    }

    it('a .txt file that is not a kernel log stays Plain Text', async () => {
      const uri = workspaceFile('todo.txt');
      fs.writeFileSync(uri.fsPath, fs.readFileSync(workspaceFile('notes').fsPath, 'utf8'));
      const doc = await vscode.workspace.openTextDocument(uri);
      await vscode.window.showTextDocument(doc);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(languageNow(uri), 'plaintext');
    });

    it('a kernel log pasted into an untitled editor becomes Kernel Log', async () => {
      const doc = await vscode.workspace.openTextDocument({ content: '' });
      assert.equal(doc.languageId, 'plaintext');
      const editor = await vscode.window.showTextDocument(doc);
      assert.ok(await editor.edit((b) => b.insert(new vscode.Position(0, 0), crash())));
      await waitFor('the untitled editor to become kernel-log', () => languageNow(doc.uri) === 'kernel-log');
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    });
  });
});
