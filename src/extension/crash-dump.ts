/**
 * Kernel: Open Crash Dump… — a file picker for the dump, then a launch of it as a stopped,
 * read-only session. The vmlinux is found as for any launch (the kdap.vmlinux setting, a
 * vmlinux next to the dump or in the workspace folder), else picked. An untrusted workspace is
 * refused before anything is asked, with the message a launch gets.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Config } from './config';
import type { Ctx } from './ctx';
import { resolveKdapConfiguration, vmlinuxCandidates, type KdapConfiguration } from './debug';
import { fileFolders } from './kernel-builds';
import { PickerCommands } from './pickers';
import { debugType } from './sessions';

export const openCrashDumpCommand = 'kdap.openCrashDump';

/** The launch configuration for a dump, with the vmlinux found or left to the picker. */
export async function crashDumpConfiguration(core: string, settingsVmlinux: string, folder: string | undefined): Promise<KdapConfiguration> {
  const config: KdapConfiguration = { type: debugType, request: 'launch', name: `Crash dump: ${path.basename(core)}`, core };
  if (!settingsVmlinux) {
    const found = (await vmlinuxCandidates(config, folder)).find((f) => fs.existsSync(f));
    config.vmlinux = found ?? `\${command:${PickerCommands.vmlinux}}`;
  }
  return config;
}

async function openCrashDump(): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
  const settings = new Config(folder?.uri);
  // The same check a launch makes: in Restricted Mode nothing is picked and nothing starts.
  const trust = resolveKdapConfiguration({ type: debugType, request: 'launch', name: 'trust', core: '-' }, { vmlinux: '', gdbPath: settings.gdbPath, qemuPath: '', gdbIndexCache: true, workspaceFolders: fileFolders() }, vscode.workspace.isTrusted);
  if ('error' in trust && trust.untrusted) {
    const manage = 'Manage Workspace Trust';
    if ((await vscode.window.showErrorMessage(trust.error, manage)) === manage) await vscode.commands.executeCommand('workbench.trust.manage');
    return;
  }
  const picked = await vscode.window.showOpenDialog({
    canSelectFiles: true,
    canSelectFolders: false,
    canSelectMany: false,
    title: 'Open Crash Dump (kdump vmcore, makedumpfile or QEMU dump-guest-memory)',
    openLabel: 'Open Dump',
  });
  const core = picked?.[0]?.fsPath;
  if (!core) return;
  const config = await crashDumpConfiguration(core, settings.vmlinux, folder?.uri.fsPath);
  await vscode.debug.startDebugging(folder, config);
}

export function registerCrashDump(ctx: Ctx): void {
  ctx.pushExtCleanup(vscode.commands.registerCommand(openCrashDumpCommand, () => openCrashDump()));
}
