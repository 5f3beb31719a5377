/**
 * Crash-log navigation on a real Oops: test/fixtures/logs/x86_64/kdap_test-oops.log (run.mjs
 * copies it into the workspace as kdap_test-x86_64.oops), symbolized by the language server with
 * the fixture vmlinux, kdap_test.ko and the exact-version source tree from the fixture manifest.
 * Hovers and "Go to Kernel Source" must land where addr2line / scripts/faddr2line say (oracle.ts).
 * Skipped, with the reason printed, when the fixtures are not on this machine.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as vscode from 'vscode';
import { loadFixtures } from '../../support/fixtures';
import { findFrame, moduleChain, vmlinuxChain, type OracleFrame, type OracleInputs, type OraclePosition } from './oracle';
import { workspaceFile } from './util';

const logName = 'kdap_test-x86_64.oops';
const settingKeys = ['vmlinux', 'modulePaths', 'sourceRoot'] as const;
/** The first lookups start llvm-symbolizer on a 560 MB vmlinux; the hover gives up after 1.5 s each time. */
const HOVER_DEADLINE_MS = 90_000;

interface Setup {
  uri: vscode.Uri;
  text: string;
  inputs: OracleInputs;
  ko: string;
}

function unavailable(): string | Setup {
  let fixtures;
  try {
    fixtures = loadFixtures();
  } catch (err) {
    return (err as Error).message;
  }
  const fx = fixtures.arches.x86_64;
  const inputs: OracleInputs = { vmlinux: fx.vmlinux, systemMap: fx.systemMap, sourceRoot: fixtures.sourceRoot, substitutePath: fx.substitutePath };
  const needed = [fx.vmlinux, fx.systemMap, fx.kmod.ko, path.join(fixtures.sourceRoot, 'scripts', 'faddr2line')];
  const absent = needed.filter((f) => !fs.existsSync(f));
  if (absent.length) return `fixture files missing: ${absent.join(', ')}`;
  const uri = workspaceFile(logName);
  if (!fs.existsSync(uri.fsPath)) return `${logName} is not in the workspace (run.mjs copies it from test/fixtures/logs/x86_64)`;
  return { uri, text: fs.readFileSync(uri.fsPath, 'utf8'), inputs, ko: fx.kmod.ko };
}

function hoverText(hovers: vscode.Hover[] | undefined): string {
  return (hovers ?? [])
    .flatMap((h) => h.contents)
    .map((c) => (typeof c === 'string' ? c : c.value))
    .join('\n');
}

/** Where the hover links each position (`[file:line](file:///…#Lline[,column])`), -1 if not. */
function linkOrder(text: string, chain: OraclePosition[]): number[] {
  return chain.map((p) => {
    const link = `(${pathToFileURL(p.file).href}#L${p.line}`;
    const at = [text.indexOf(link + ')'), text.indexOf(link + ',')].filter((i) => i >= 0);
    return at.length ? Math.min(...at) : -1;
  });
}

/** Hovers until the answer links every position of `chain`; the symbolizer may still be starting. */
async function hoverUntilResolved(uri: vscode.Uri, frame: OracleFrame, chain: OraclePosition[]): Promise<string> {
  const at = new vscode.Position(frame.line, frame.character + 1);
  const deadline = Date.now() + HOVER_DEADLINE_MS;
  let last = '';
  for (;;) {
    last = hoverText(await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, at));
    if (linkOrder(last, chain).every((i) => i >= 0)) return last;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`the hover never linked ${chain.map((p) => `${p.file}:${p.line}`).join(' ← ')}; last hover:\n${last}`);
}

async function goToKernelSource(uri: vscode.Uri, frame: OracleFrame): Promise<unknown> {
  const editor = await vscode.window.showTextDocument(uri, { preview: false });
  const at = new vscode.Position(frame.line, frame.character + 1);
  editor.selection = new vscode.Selection(at, at);
  return vscode.commands.executeCommand('kdap.goToKernelSource');
}

function assertOpenedAt(target: OraclePosition, returned: unknown): void {
  const editor = vscode.window.activeTextEditor;
  assert.ok(editor, 'an editor is active after Go to Kernel Source');
  assert.equal(fs.realpathSync(editor.document.uri.fsPath), fs.realpathSync(target.file));
  // Editor lines count from 0, the tools from 1.
  assert.equal(editor.selection.active.line, target.line - 1, `cursor line (0-based) in ${target.file}`);
  assert.equal(typeof returned === 'string' && returned.endsWith(`#L${target.line}`), true, `command returned ${String(returned)}`);
}

describe('crash-log navigation on a captured kdap_test Oops (fixture kernel)', function () {
  this.timeout(HOVER_DEADLINE_MS + 30_000);
  let setup: Setup;
  let configured = false;

  before(async function () {
    const s = unavailable();
    if (typeof s === 'string') {
      console.log(`  skipped: ${s}`);
      this.skip();
    }
    setup = s as Setup;
    const kdap = vscode.workspace.getConfiguration('kdap');
    configured = true;
    await kdap.update('vmlinux', setup.inputs.vmlinux, vscode.ConfigurationTarget.Workspace);
    await kdap.update('modulePaths', [path.dirname(setup.ko)], vscode.ConfigurationTarget.Workspace);
    await kdap.update('sourceRoot', setup.inputs.sourceRoot, vscode.ConfigurationTarget.Workspace);
    const doc = await vscode.workspace.openTextDocument(setup.uri);
    assert.equal(doc.languageId, 'kernel-log');
  });

  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    if (!configured) return;
    const kdap = vscode.workspace.getConfiguration('kdap');
    for (const key of settingKeys) await kdap.update(key, undefined, vscode.ConfigurationTarget.Workspace);
  });

  // proc_reg_write+0x56 is a return address inside the inlined pde_write: a two-entry chain.
  it('hovering the vmlinux frame proc_reg_write+0x56/0xa0 links addr2line\'s inline chain, innermost first', async () => {
    const frame = findFrame(setup.text, 'proc_reg_write');
    const chain = vmlinuxChain(frame, true, setup.inputs);
    assert.ok(chain.length >= 2, `addr2line chain: ${JSON.stringify(chain)}`);
    const text = await hoverUntilResolved(setup.uri, frame, chain);
    const order = linkOrder(text, chain);
    assert.deepEqual([...order].sort((a, b) => a - b), order, `chain order in the hover:\n${text}`);
    for (const p of chain) assert.ok(text.includes(`\`${p.fn}\``), `${p.fn} is named in the hover`);
  });

  it('Go to Kernel Source on that frame opens the innermost addr2line position', async () => {
    const frame = findFrame(setup.text, 'proc_reg_write');
    const [innermost] = vmlinuxChain(frame, true, setup.inputs);
    assertOpenedAt(innermost, await goToKernelSource(setup.uri, frame));
  });

  it('hovering the module frame kdap_test_write+0x43/0x7e links faddr2line\'s chain in kdap_test.c', async () => {
    const frame = findFrame(setup.text, 'kdap_test_write');
    assert.equal(frame.module, 'kdap_test');
    const chain = moduleChain(frame, true, setup.ko, setup.inputs);
    const text = await hoverUntilResolved(setup.uri, frame, chain);
    const order = linkOrder(text, chain);
    assert.deepEqual([...order].sort((a, b) => a - b), order, `chain order in the hover:\n${text}`);
  });

  it('Go to Kernel Source on the module frame opens kdap_test.c at faddr2line\'s innermost line', async () => {
    const frame = findFrame(setup.text, 'kdap_test_write');
    const [innermost] = moduleChain(frame, true, setup.ko, setup.inputs);
    assertOpenedAt(innermost, await goToKernelSource(setup.uri, frame));
  });

  // The faulting pc is not a return address: no − 1, and the tagged line of the dereference.
  it('Go to Kernel Source on the RIP line opens the faulting line kdap_test.c marks LINE:oops', async () => {
    const frame = findFrame(setup.text, 'kdap_test_oops');
    const [innermost] = moduleChain(frame, false, setup.ko, setup.inputs);
    const fixtures = loadFixtures();
    assert.equal(innermost.line, fixtures.arches.x86_64.kmod.lines.oops, 'faddr2line agrees with the LINE:oops marker');
    assertOpenedAt(innermost, await goToKernelSource(setup.uri, frame));
  });
});
