import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { kdapExtension } from './util';

interface Debugger {
  type: string;
  configurationAttributes: Record<string, { properties: Record<string, unknown>; required?: string[] }>;
  configurationSnippets: { label: string; body: { name: string; request: string } }[];
}

function kdapDebugger(): Debugger {
  const debuggers = kdapExtension().packageJSON.contributes.debuggers as Debugger[];
  const d = debuggers.find((x) => x.type === 'kdap');
  assert.ok(d, 'no debugger of type kdap');
  return d;
}

describe('contributions', () => {
  it('contributes debugger type kdap with launch and attach attributes', () => {
    const attrs = kdapDebugger().configurationAttributes;
    assert.deepEqual(Object.keys(attrs).sort(), ['attach', 'launch']);
    for (const key of ['kernel', 'vmlinux', 'smp', 'memory', 'stopAt', 'gdbPath', 'qemuPath']) {
      assert.ok(key in attrs.launch!.properties, `launch has no "${key}"`);
    }
    // A launch boots a kernel image or opens a crash dump: one of the two is required.
    const anyOf = (attrs.launch as { anyOf?: Array<{ required?: string[] }> }).anyOf ?? [];
    assert.deepEqual(anyOf.map((a) => a.required), [['kernel'], ['core']], `anyOf: ${JSON.stringify(anyOf)}`);
    assert.ok('core' in attrs.launch!.properties, 'launch has no "core"');
    for (const key of ['remote', 'kgdb', 'vmlinux']) assert.ok(key in attrs.attach!.properties, `attach has no "${key}"`);
  });

  it('offers the configuration snippets: a build picked from the workspace, each arch, attach', () => {
    const names = kdapDebugger().configurationSnippets.map((s) => s.body.name);
    assert.deepEqual(names, ['QEMU', 'QEMU x86_64', 'QEMU arm64', 'Attach to QEMU gdbstub', 'Attach to kgdb']);
    const requests = kdapDebugger().configurationSnippets.map((s) => s.body.request);
    assert.deepEqual(requests, ['launch', 'launch', 'launch', 'attach', 'attach']);
  });

  for (const view of ['kdap.cpus', 'kdap.modules', 'kdap.pageWalk']) {
    it(`view ${view} can be focused`, async () => {
      await vscode.commands.executeCommand(`${view}.focus`);
    });
  }
});
