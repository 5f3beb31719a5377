import * as vscode from 'vscode';
import type { CustomRequests, WalkResult } from '../adapter/protocol';
import type { Ctx } from './ctx';
import { viewIds } from './ctx';
import { kernelLogLanguage } from './language';
import { decodeOops, goToKernelSource } from './oops';
import { describeRequestError, kdapRequest } from './sessions';
import { moduleOf } from './views/modules';
import { filterTasks, selectTask } from './task-commands';
import { withTimeout } from './views/tree';

/** Command ids, as package.json contributes them. */
export const Commands = {
  decodeVirtualAddress: 'kdap.decodeVirtualAddress',
  decodeOops: 'kdap.decodeOops',
  showDmesg: 'kdap.showDmesg',
  goToKernelSource: 'kdap.goToKernelSource',
  refreshCpus: 'kdap.refreshCpus',
  refreshModules: 'kdap.refreshModules',
  pickModuleSymbols: 'kdap.pickModuleSymbols',
  refreshTasks: 'kdap.refreshTasks',
  filterTasks: 'kdap.filterTasks',
  selectTask: 'kdap.selectTask',
} as const;

type Cmd = (...args: unknown[]) => unknown;
type SessionCmd = (session: vscode.DebugSession, ...args: unknown[]) => unknown;

/**
 * How a command is made from the context. `stopped` commands talk to the active kdap session
 * and need it paused; without one they say so instead of running.
 */
type CommandFactory = { kind: 'plain'; make: (ctx: Ctx) => Cmd } | { kind: 'stopped'; make: (ctx: Ctx) => SessionCmd };

export function createCommands(): Record<string, CommandFactory> {
  return {
    [Commands.decodeVirtualAddress]: { kind: 'stopped', make: decodeVirtualAddress },
    [Commands.showDmesg]: { kind: 'stopped', make: showDmesg },
    [Commands.decodeOops]: { kind: 'plain', make: decodeOops },
    [Commands.goToKernelSource]: { kind: 'plain', make: goToKernelSource },
    [Commands.refreshCpus]: { kind: 'plain', make: (ctx) => () => ctx.cpus.refresh() },
    [Commands.refreshModules]: { kind: 'plain', make: (ctx) => () => ctx.modules.refresh() },
    [Commands.pickModuleSymbols]: { kind: 'stopped', make: pickModuleSymbols },
    [Commands.refreshTasks]: { kind: 'plain', make: (ctx) => () => ctx.tasks.refresh() },
    [Commands.filterTasks]: { kind: 'plain', make: filterTasks },
    [Commands.selectTask]: { kind: 'stopped', make: selectTask },
  };
}

export function registerCommands(ctx: Ctx): void {
  for (const [id, factory] of Object.entries(createCommands())) {
    const handler: Cmd = factory.kind === 'plain' ? factory.make(ctx) : withStoppedSession(ctx, factory.make(ctx));
    ctx.pushExtCleanup(vscode.commands.registerCommand(id, handler));
  }
}

function withStoppedSession(ctx: Ctx, cmd: SessionCmd): Cmd {
  return async (...args) => {
    const session = ctx.sessions.active;
    if (!session) {
      void vscode.window.showInformationMessage('No kernel debug session: start one with a kdap launch or attach configuration.');
      return undefined;
    }
    if (ctx.sessions.state(session) !== 'stopped') {
      void vscode.window.showInformationMessage('The kernel is running: pause it first.');
      return undefined;
    }
    return cmd(session, ...args);
  };
}

/** An address typed as hex, decimal, or a gdb expression the adapter evaluates. */
function validateAddress(text: string): string | undefined {
  return text.trim() ? undefined : 'Type an address (0xffff888000000000) or an expression (&init_task).';
}

/** Asks for an address (or takes one as argument), walks it with kdap/walk, shows the Page Walk view. */
function decodeVirtualAddress(ctx: Ctx): SessionCmd {
  return async (session, arg) => {
    const editor = vscode.window.activeTextEditor;
    const selected = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection).trim() : '';
    const given = typeof arg === 'string' ? arg.trim() : variableAddress(arg);
    const va =
      given ||
      (await vscode.window.showInputBox({
        title: 'Decode Virtual Address',
        prompt: 'Virtual address or expression; walked through the kernel page tables of the stopped CPU',
        placeHolder: '0xffff888000000000 or &init_task',
        value: selected || ctx.pageWalk.current?.va || '',
        validateInput: validateAddress,
      }));
    if (!va) return undefined;
    let result: WalkResult | undefined;
    try {
      result = await withTimeout('kdap/walk', kdapRequest(session, 'kdap/walk', { va }));
      ctx.pageWalk.show({ result, va, sessionId: session.id });
    } catch (err) {
      ctx.pageWalk.show({ error: describeRequestError('kdap/walk', err), va, sessionId: session.id });
    }
    await vscode.commands.executeCommand(`${viewIds.pageWalk}.focus`);
    return result;
  };
}

/**
 * The address of a variable the Variables or Watch view passes to its context menu commands
 * (`{ variable: { memoryReference, evaluateName } }`): a pointer's value, else the expression.
 */
function variableAddress(arg: unknown): string | undefined {
  const v = (arg as { variable?: { memoryReference?: unknown; evaluateName?: unknown } } | undefined)?.variable;
  if (typeof v?.memoryReference === 'string' && v.memoryReference) return v.memoryReference;
  return typeof v?.evaluateName === 'string' && v.evaluateName ? `&(${v.evaluateName})` : undefined;
}

/** Reads the kernel log buffer of the stopped kernel (kdap/dmesg) into a Kernel Log editor. */
function showDmesg(_ctx: Ctx): SessionCmd {
  return async (session) => {
    try {
      const { text } = await withTimeout('kdap/dmesg', kdapRequest(session, 'kdap/dmesg', {}));
      const doc = await vscode.workspace.openTextDocument({ language: kernelLogLanguage, content: text });
      await vscode.window.showTextDocument(doc, { preview: false });
      return doc.uri.toString();
    } catch (err) {
      void vscode.window.showErrorMessage(`Could not read dmesg: ${describeRequestError('kdap/dmesg', err)}`);
      return undefined;
    }
  };
}

/**
 * Modules view, a module without symbols: asks for its .ko and has the adapter load it
 * (kdap/loadModuleSymbols), then shows the module again. The argument is the view's row, or a
 * module name (from another extension or a keybinding).
 */
function pickModuleSymbols(ctx: Ctx): SessionCmd {
  return async (session, arg) => {
    const name = typeof arg === 'string' ? arg : moduleOf(arg)?.name;
    if (!name) {
      void vscode.window.showInformationMessage('Pick Symbol File… works on a module of the Modules view.');
      return undefined;
    }
    const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
    const picked = await vscode.window.showOpenDialog({
      title: `Symbol file for module ${name}`,
      openLabel: 'Load Symbols',
      canSelectFiles: true,
      canSelectFolders: false,
      canSelectMany: false,
      ...(folder ? { defaultUri: folder.uri } : {}),
      // Dialogs match the last extension only (VS Code's own dialog compares extname), so
      // name.ko.xz is found through "xz", not "ko.xz".
      filters: { 'Kernel modules (.ko, .ko.debug, .ko.xz, .ko.zst)': ['ko', 'debug', 'xz', 'zst'], 'All files': ['*'] },
    });
    const file = picked?.[0];
    if (!file) return undefined;
    if (file.scheme !== 'file') {
      void vscode.window.showErrorMessage(`The symbol file must be on this machine's disk, not ${file.toString()}.`);
      return undefined;
    }
    let result: CustomRequests['kdap/loadModuleSymbols']['result'];
    try {
      result = await withTimeout('kdap/loadModuleSymbols', kdapRequest(session, 'kdap/loadModuleSymbols', { name, file: file.fsPath }));
    } catch (err) {
      void vscode.window.showErrorMessage(`Could not load symbols for ${name}: ${describeRequestError('kdap/loadModuleSymbols', err)}`);
      return undefined;
    } finally {
      ctx.modules.refresh();
    }
    if (result.warnings.length > 0) {
      void vscode.window.showWarningMessage(`Loaded ${file.fsPath} for ${name}, but: ${result.warnings.join('; ')}.`);
    }
    return result;
  };
}
