import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { workspaceFile } from './util';

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
});
