import * as vscode from 'vscode';
import { hoverSeparator } from '../adapter/hover';
import { Commands } from './commands';
import { expressionAt, walkedPointer } from './expression';
import type { Ctx } from './ctx';
import type { Sessions } from './sessions';

export function registerPointerHover(ctx: Ctx): void {
  ctx.pushExtCleanup(vscode.languages.registerHoverProvider({ language: 'c' }, new PointerWalkHover(ctx.sessions)));
}

/**
 * Page-table hovers in C editors while a kdap session is stopped, with a link from a pointer to
 * its full walk. The decode is the adapter's (evaluate with context "hover"). VS Code shows its
 * debug hover, plain text, only in the current frame's file, and editor hovers there with Alt
 * held; in other files this is the only page-table hover.
 */
export class PointerWalkHover implements vscode.HoverProvider {
  constructor(private readonly sessions: Sessions) {}

  async provideHover(doc: vscode.TextDocument, pos: vscode.Position, token: vscode.CancellationToken): Promise<vscode.Hover | undefined> {
    const session = this.sessions.active;
    if (!session || this.sessions.state(session) !== 'stopped') return undefined;
    const expression = expressionAt(doc.lineAt(pos.line).text, pos.character);
    if (!expression) return undefined;
    const item = vscode.debug.activeStackItem;
    const frameId = item instanceof vscode.DebugStackFrame && item.session.id === session.id ? item.frameId : undefined;
    let result: string;
    try {
      result = ((await session.customRequest('evaluate', { expression, frameId, context: 'hover' })) as { result: string }).result;
    } catch {
      return undefined;
    }
    // Only what the adapter decorated: plain values are the debug hover's business.
    if (!result.includes(hoverSeparator) || token.isCancellationRequested) return undefined;
    const md = new vscode.MarkdownString(undefined, true);
    md.appendCodeblock(`${expression} = ${result}`, 'text');
    const address = walkedPointer(result);
    if (address) {
      md.isTrusted = { enabledCommands: [Commands.decodeVirtualAddress] };
      const args = encodeURIComponent(JSON.stringify([address]));
      md.appendMarkdown(`[$(list-tree) Open in Page Walk](command:${Commands.decodeVirtualAddress}?${args} "Every level of the walk of ${address}")`);
    }
    return new vscode.Hover(md, doc.getWordRangeAtPosition(pos));
  }
}
