/**
 * Crash logs anywhere in VS Code: "Go to Kernel Source" on a frame line of any text editor,
 * "Kernel: Decode Oops" into a new editor, and clickable frames in every terminal (the guest
 * console of a debug session included).
 *
 * All symbolization happens in the language server (`kdap/locate`, `kdap/decode`), which owns
 * the helper processes and reads the `kdap.*` settings; this side only finds the text, asks,
 * and opens what comes back. In an untrusted workspace the server is told so when it starts and
 * ignores the tool settings; granting trust restarts it so that they apply.
 */
import * as vscode from 'vscode';
import { kernelLinkRanges } from '../oops/symbolize/file-refs';
import type { Ctx } from './ctx';
import { kernelLogLanguage } from './language';

/** Mirrors of the server's request shapes (src/server/navigation.ts). */
interface LocatedPosition {
  function: string | null;
  file: string;
  line: number;
  column: number | null;
  inlined: boolean;
  uri: string | null;
}
interface LocateResult {
  what: string | null;
  positions: LocatedPosition[];
  problem: string | null;
}
interface DecodeResult {
  text: string;
  problems: string[];
}

/** Arguments a CodeLens passes: a resolved location, or a report to decode. */
interface OpenArgs {
  uri: string;
  line: number;
  column?: number | null;
}
interface DecodeArgs {
  uri: string;
  reportLine?: number;
}

/** Largest editor text sent to the server for "Go to Kernel Source" (the rest of a log is context only). */
const MAX_TEXT = 8 * 1024 * 1024;

type Cmd = (...args: unknown[]) => unknown;

async function openAt(uri: string, line: number, column?: number | null): Promise<vscode.TextEditor> {
  const pos = new vscode.Position(Math.max(0, line - 1), Math.max(0, (column ?? 1) - 1));
  return vscode.window.showTextDocument(vscode.Uri.parse(uri), { selection: new vscode.Range(pos, pos), preview: false });
}

/** Opens the innermost resolved position that exists here; says why when there is none. */
async function openLocated(result: LocateResult | undefined): Promise<string | undefined> {
  const target = result?.positions.find((p) => p.uri);
  if (!target?.uri) {
    const what = result?.what ? `${result.what}: ` : '';
    void vscode.window.showInformationMessage(`No kernel source location: ${what}${result?.problem ?? 'the kernel-log language server is not running'}.`);
    return undefined;
  }
  await openAt(target.uri, target.line, target.column);
  return `${target.uri}#L${target.line}`;
}

function isOpenArgs(a: unknown): a is OpenArgs {
  return typeof a === 'object' && a !== null && typeof (a as OpenArgs).uri === 'string' && typeof (a as OpenArgs).line === 'number';
}

/**
 * `kdap.goToKernelSource`: from a CodeLens (a resolved location as argument), or the frame or
 * `file.c:123` under the cursor of the active editor, whatever its language.
 */
export function goToKernelSource(ctx: Ctx): Cmd {
  return async (arg) => {
    if (isOpenArgs(arg)) {
      await openAt(arg.uri, arg.line, arg.column);
      return `${arg.uri}#L${arg.line}`;
    }
    const editor = vscode.window.activeTextEditor;
    if (!editor) return undefined;
    const doc = editor.document;
    const pos = editor.selection.active;
    // The server holds kernel-log documents itself; other text goes along with the request,
    // the whole document when it is not huge (its report gives the frame its context).
    const params =
      doc.languageId === kernelLogLanguage
        ? { uri: doc.uri.toString(), line: pos.line, character: pos.character }
        : doc.getText().length <= MAX_TEXT
          ? { text: doc.getText(), line: pos.line, character: pos.character }
          : { text: doc.lineAt(pos.line).text, line: 0, character: pos.character };
    const result = await ctx.language.sendRequest<LocateResult>('kdap/locate', params);
    return openLocated(result);
  };
}

function isDecodeArgs(a: unknown): a is DecodeArgs {
  return typeof a === 'object' && a !== null && typeof (a as DecodeArgs).uri === 'string';
}

/**
 * `kdap.decodeOops`: a decoded copy (source lines, inline chains, disassembled Code:) in a new
 * editor. Of one report (CodeLens), the selection, the active log, or the clipboard.
 */
export function decodeOops(ctx: Ctx): Cmd {
  return async (arg) => {
    let params: { uri?: string; text?: string; reportLine?: number };
    if (isDecodeArgs(arg)) {
      params = { uri: arg.uri, reportLine: arg.reportLine };
      const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === arg.uri);
      if (doc && doc.languageId !== kernelLogLanguage) params = { text: doc.getText(), reportLine: arg.reportLine };
    } else {
      const editor = vscode.window.activeTextEditor;
      if (editor && !editor.selection.isEmpty) params = { text: editor.document.getText(editor.selection) };
      else if (editor?.document.languageId === kernelLogLanguage) params = { uri: editor.document.uri.toString() };
      else if (editor) params = { text: editor.document.getText() };
      else params = { text: await vscode.env.clipboard.readText() };
    }
    if (params.text !== undefined && !params.text.trim()) {
      void vscode.window.showInformationMessage('Select a crash log (or copy one to the clipboard) to decode it.');
      return undefined;
    }
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: 'Decoding crash log' },
      () => ctx.language.sendRequest<DecodeResult>('kdap/decode', params),
    );
    if (!result) {
      void vscode.window.showErrorMessage('Cannot decode: the kernel-log language server is not running (see the Kernel Log output).');
      return undefined;
    }
    const doc = await vscode.workspace.openTextDocument({ language: kernelLogLanguage, content: result.text });
    await vscode.window.showTextDocument(doc, { preview: false });
    if (result.problems.length) ctx.output.warn(`Decode Oops: ${result.problems.join('; ')}`);
    if (result.problems.length) void vscode.window.showWarningMessage(`Some frames were not decoded: ${result.problems[0]}`);
    return doc.uri.toString();
  };
}

interface KernelTerminalLink extends vscode.TerminalLink {
  lineText: string;
}

class KernelTerminalLinks implements vscode.TerminalLinkProvider<KernelTerminalLink> {
  constructor(private readonly ctx: Ctx) {}

  provideTerminalLinks(context: vscode.TerminalLinkContext): KernelTerminalLink[] {
    return kernelLinkRanges(context.line).map((r) => ({ startIndex: r.start, length: r.end - r.start, tooltip: r.kind === 'file' ? 'Open Kernel Source' : 'Go to Kernel Source', lineText: context.line }));
  }

  async handleTerminalLink(link: KernelTerminalLink): Promise<void> {
    const result = await this.ctx.language.sendRequest<LocateResult>('kdap/locate', { text: link.lineText, line: 0, character: link.startIndex });
    await openLocated(result);
  }
}

/** Terminal links, and a language-server restart when the workspace becomes trusted. */
export function registerOops(ctx: Ctx): void {
  ctx.pushExtCleanup(vscode.window.registerTerminalLinkProvider(new KernelTerminalLinks(ctx)));
  ctx.pushExtCleanup(
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      if (ctx.language.running) void ctx.language.restart();
    }),
  );
}
