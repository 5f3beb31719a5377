/**
 * Entry point of dist/extension.js. The extension is a thin client: it resolves debug
 * configurations, starts the adapter (dist/adapter.js) and the kernel-log language server
 * (dist/server.js), and shows what they answer. It never talks to gdb itself.
 */
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { Ctx } from './ctx';
import { registerPointerHover } from './hover';
import { registerPickers } from './pickers';
import { registerOops } from './oops';
import { registerCrashDump } from './crash-dump';

let ctx: Ctx | undefined;

/** What `vscode.extensions.getExtension('kdap.kdap').exports` offers other extensions and tests. */
export interface KdapApi {
  /** The text the guest console terminal of a debug session showed (the last 64 KiB). */
  consoleTranscript(sessionId: string): string | undefined;
}

export function activate(extCtx: vscode.ExtensionContext): KdapApi {
  try {
    ctx = new Ctx(extCtx);
    ctx.registerProviders();
    registerCommands(ctx);
    registerPickers(ctx, ctx.builds);
    registerOops(ctx);
    registerCrashDump(ctx);
    registerPointerHover(ctx);
    ctx.startLanguageClientOnDemand();
    ctx.watchSettings();
    const consoles = ctx.consoles;
    return { consoleTranscript: (id) => consoles.transcript(id) };
  } catch (err) {
    void vscode.window.showErrorMessage(`Cannot activate kdap: ${err instanceof Error ? err.message : String(err)}`);
    throw err;
  }
}

export async function deactivate(): Promise<void> {
  await ctx?.language.stop();
  ctx = undefined;
}
