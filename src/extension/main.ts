/**
 * Entry point of dist/extension.js. The extension is a thin client: it resolves debug
 * configurations, starts the adapter (dist/adapter.js) and the kernel-log language server
 * (dist/server.js), and shows what they answer. It never talks to gdb itself.
 */
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { Ctx } from './ctx';
import { registerOops } from './oops';

let ctx: Ctx | undefined;

export function activate(extCtx: vscode.ExtensionContext): void {
  try {
    ctx = new Ctx(extCtx);
    ctx.registerProviders();
    registerCommands(ctx);
    registerOops(ctx);
    ctx.startLanguageClientOnDemand();
    ctx.watchSettings();
  } catch (err) {
    void vscode.window.showErrorMessage(`Cannot activate kdap: ${err instanceof Error ? err.message : String(err)}`);
    throw err;
  }
}

export async function deactivate(): Promise<void> {
  await ctx?.language.stop();
  ctx = undefined;
}
