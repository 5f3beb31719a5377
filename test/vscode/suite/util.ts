import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';

export const extensionId = 'kdap.kdap';

export function kdapExtension(): vscode.Extension<unknown> {
  const ext = vscode.extensions.getExtension(extensionId);
  assert.ok(ext, `extension ${extensionId} is not installed`);
  return ext;
}

export function workspaceFolder(): vscode.WorkspaceFolder {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the test window has no workspace folder');
  return folder;
}

export function workspaceFile(name: string): vscode.Uri {
  return vscode.Uri.joinPath(workspaceFolder().uri, name);
}

/** Polls `probe` every 50 ms until it returns a truthy value, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A scratch kernel build tree: arch/arm64/boot/Image and vmlinux (contents do not matter). */
export function makeKernelTree(): { root: string; image: string; vmlinux: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-tree-'));
  const image = path.join(root, 'arch', 'arm64', 'boot', 'Image');
  fs.mkdirSync(path.dirname(image), { recursive: true });
  fs.writeFileSync(image, 'not a kernel');
  const vmlinux = path.join(root, 'vmlinux');
  fs.writeFileSync(vmlinux, 'not a vmlinux');
  return { root, image, vmlinux };
}

/** Waits until the session is gone, so the next test starts from no session. */
export async function stopAll(): Promise<void> {
  const s = vscode.debug.activeDebugSession;
  if (!s) return;
  await vscode.debug.stopDebugging();
  await waitFor('the debug session to end', () => vscode.debug.activeDebugSession === undefined);
}
