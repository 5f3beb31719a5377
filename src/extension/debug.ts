import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AttachArguments, LaunchArguments } from '../adapter/config';
import { Config } from './config';
import { debugType } from './sessions';

export type KdapConfiguration = vscode.DebugConfiguration &
  Partial<LaunchArguments> &
  Partial<AttachArguments> & { debugServer?: number };

/** The settings a debug configuration falls back on. */
export interface DebugSettings {
  vmlinux: string;
  gdbPath: string;
  qemuPath: string;
  gdbIndexCache: boolean;
  /** `kdap.modulePaths`. */
  modulePaths?: string[];
  /** The workspace's folders on disk: out-of-tree module builds live there. */
  workspaceFolders?: string[];
}

export type Resolution = { config: KdapConfiguration } | { error: string; untrusted?: true };

export const launchDefaults = { smp: 2, memory: '512M', stopAt: 'start_kernel' } as const;

/**
 * Fills a kdap configuration's defaults from the settings and checks what can be checked
 * before variables are substituted. Pure (no VS Code state) so it can be tested alone.
 * `arch` stays unset unless given: the adapter reads it from the vmlinux ELF header.
 */
export function resolveKdapConfiguration(
  input: KdapConfiguration,
  settings: DebugSettings,
  trusted: boolean,
): Resolution {
  const config: KdapConfiguration = { ...input };
  if (config.request !== 'launch' && config.request !== 'attach') {
    return { error: `"request" must be "launch" or "attach", not ${JSON.stringify(config.request)}.` };
  }
  const launch = config.request === 'launch';

  if (!trusted) {
    // gdb, QEMU and the symbolizers are programs a workspace could name (launch.json,
    // .vscode/settings.json). Restricted Mode must not run them.
    const named: string[] = [];
    if (config.gdbPath) named.push(`gdbPath "${config.gdbPath}" from the configuration`);
    else if (settings.gdbPath) named.push(`kdap.gdbPath "${settings.gdbPath}" from the settings`);
    if (launch && config.qemuPath) named.push(`qemuPath "${config.qemuPath}" from the configuration`);
    else if (launch && settings.qemuPath) named.push(`kdap.qemuPath "${settings.qemuPath}" from the settings`);
    const what = named.length ? ` It would run ${named.join(' and ')}.` : '';
    return {
      error:
        `kdap does not start gdb or QEMU in an untrusted workspace: its launch.json and settings could name any program to run.${what} ` +
        'Trust the workspace to debug the kernel.',
      untrusted: true,
    };
  }

  if (!config.vmlinux && settings.vmlinux) config.vmlinux = settings.vmlinux;
  if (!config.gdbPath && settings.gdbPath) config.gdbPath = settings.gdbPath;
  if (!settings.gdbIndexCache && config.indexCacheDir === undefined) config.indexCacheDir = '';
  if (config.modulePaths === undefined) {
    const roots = [...new Set([...(settings.modulePaths ?? []), ...(settings.workspaceFolders ?? [])])];
    if (roots.length > 0) config.modulePaths = roots;
  }
  // The guest console gets a terminal of its own (console.ts) rather than the Debug Console.
  config.serialTerminal ??= true;

  if (launch) {
    if (!config.qemuPath && settings.qemuPath) config.qemuPath = settings.qemuPath;
    config.smp ??= launchDefaults.smp;
    config.memory ??= launchDefaults.memory;
    config.stopAt ??= launchDefaults.stopAt;
    if (typeof config.kernel !== 'string' || config.kernel === '') {
      return { error: 'The launch configuration has no "kernel": set it to the bzImage (x86_64) or Image (arm64) QEMU should boot.' };
    }
    if (!Number.isInteger(config.smp) || config.smp < 1 || config.smp > 64) {
      return { error: `"smp" must be a whole number from 1 to 64, not ${JSON.stringify(config.smp)}.` };
    }
    if (typeof config.memory !== 'string' || !/^\d+[KMGT]?$/i.test(config.memory)) {
      return { error: `"memory" must look like "512M" or "2G", not ${JSON.stringify(config.memory)}.` };
    }
  } else {
    const kgdbPort = config.kgdb?.port;
    if (!config.remote && !kgdbPort) {
      return { error: 'The attach configuration needs "remote" (host:port of a QEMU gdbstub) or "kgdb": { "port": … }.' };
    }
    if (config.remote && kgdbPort) return { error: 'Set either "remote" or "kgdb", not both.' };
    if (config.remote && !/^[^\s:]*:\d+$/.test(config.remote)) {
      return { error: `"remote" must be host:port, e.g. "localhost:1234", not ${JSON.stringify(config.remote)}.` };
    }
  }
  if (config.arch !== undefined && config.arch !== 'x86_64' && config.arch !== 'arm64') {
    return { error: `"arch" must be "x86_64" or "arm64", not ${JSON.stringify(config.arch)}.` };
  }
  return { config };
}

/**
 * Where a vmlinux is looked for when neither the configuration nor kdap.vmlinux names one:
 * the kernel build tree the image came from (…/arch/ARCH/boot/IMAGE → …/vmlinux), then the
 * workspace folder.
 */
export function vmlinuxCandidates(config: KdapConfiguration, folder: string | undefined): string[] {
  const out: string[] = [];
  const m = typeof config.kernel === 'string' ? /^(.*)\/arch\/[^/]+\/boot\/[^/]+$/.exec(config.kernel) : null;
  if (m?.[1]) out.push(path.join(m[1], 'vmlinux'));
  if (folder) out.push(path.join(folder, 'vmlinux'));
  return out;
}

/** After variable substitution: finds a vmlinux if none is named; the files named must exist. */
export function checkFiles(config: KdapConfiguration, folder?: string): string | undefined {
  if (!config.vmlinux) {
    const candidates = vmlinuxCandidates(config, folder);
    const found = candidates.find((f) => fs.existsSync(f));
    if (!found) {
      const looked = candidates.length ? ` (looked for ${candidates.join(', ')})` : '';
      return `No "vmlinux"${looked}: set it in the configuration or the kdap.vmlinux setting to the ELF kernel with debug info.`;
    }
    config.vmlinux = found;
  }
  const files: [string, string | undefined][] = [
    ['vmlinux', config.vmlinux],
    ...(config.request === 'launch'
      ? ([
          ['kernel', config.kernel],
          ['initrd', config.initrd],
        ] as [string, string | undefined][])
      : []),
  ];
  for (const [key, file] of files) {
    if (!file) continue;
    if (!path.isAbsolute(file)) return `"${key}" must be an absolute path (use \${workspaceFolder}/…), not "${file}".`;
    if (!fs.existsSync(file)) return `"${key}": ${file} does not exist.`;
  }
  return undefined;
}

/** Shows why a configuration was refused (not awaited: a toast can stay up indefinitely). */
function refuse(error: string, untrusted?: boolean): undefined {
  const manage = 'Manage Workspace Trust';
  void vscode.window.showErrorMessage(error, ...(untrusted ? [manage] : [])).then((pick) => {
    if (pick === manage) void vscode.commands.executeCommand('workbench.trust.manage');
  });
  return undefined;
}

export class KdapConfigurationProvider implements vscode.DebugConfigurationProvider {
  async resolveDebugConfiguration(
    folder: vscode.WorkspaceFolder | undefined,
    debugConfiguration: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | null | undefined> {
    // F5 without a launch.json: null makes VS Code open one with the initial configurations.
    if (!debugConfiguration.type && !debugConfiguration.request && !debugConfiguration.name) return null;
    const config = new Config(folder?.uri);
    const settings: DebugSettings = {
      vmlinux: config.vmlinux,
      gdbPath: config.gdbPath,
      qemuPath: config.qemuPath,
      gdbIndexCache: config.gdbIndexCache,
      modulePaths: config.modulePaths,
      workspaceFolders: (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath),
    };
    const r = resolveKdapConfiguration(debugConfiguration as KdapConfiguration, settings, vscode.workspace.isTrusted);
    if ('error' in r) return refuse(r.error, r.untrusted);
    return r.config;
  }

  async resolveDebugConfigurationWithSubstitutedVariables(
    folder: vscode.WorkspaceFolder | undefined,
    debugConfiguration: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | undefined> {
    const root = folder?.uri.scheme === 'file' ? folder.uri.fsPath : undefined;
    const error = checkFiles(debugConfiguration as KdapConfiguration, root);
    return error ? refuse(error) : debugConfiguration;
  }
}

/**
 * Offers launch configurations for the kernel build trees among the workspace folders
 * (a vmlinux next to arch/x86/boot/bzImage or arch/arm64/boot/Image).
 */
export class KdapDynamicConfigurations implements vscode.DebugConfigurationProvider {
  provideDebugConfigurations(folder: vscode.WorkspaceFolder | undefined): vscode.DebugConfiguration[] {
    if (!folder || folder.uri.scheme !== 'file') return [];
    const root = folder.uri.fsPath;
    if (!fs.existsSync(path.join(root, 'vmlinux'))) return [];
    const found: vscode.DebugConfiguration[] = [];
    const image = (arch: string, file: string) => fs.existsSync(path.join(root, 'arch', arch, 'boot', file));
    const base = { type: debugType, request: 'launch', vmlinux: '${workspaceFolder}/vmlinux', ...launchDefaults };
    if (image('x86', 'bzImage')) {
      found.push({ ...base, name: 'QEMU x86_64 (this tree)', kernel: '${workspaceFolder}/arch/x86/boot/bzImage', append: 'console=ttyS0 nokaslr' });
    }
    if (image('arm64', 'Image')) {
      found.push({ ...base, name: 'QEMU arm64 (this tree)', kernel: '${workspaceFolder}/arch/arm64/boot/Image', append: 'console=ttyAMA0 nokaslr' });
    }
    return found;
  }
}

/**
 * Runs dist/adapter.js as its own process on the extension host's Node (Electron's binary acting
 * as Node on the desktop). A `debugServer` port in the configuration connects to an adapter
 * that is already running instead (adapter development, tests).
 */
export class KdapAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  constructor(private readonly adapterJs: string) {}

  createDebugAdapterDescriptor(session: vscode.DebugSession): vscode.DebugAdapterDescriptor {
    const port = (session.configuration as KdapConfiguration).debugServer;
    if (typeof port === 'number') return new vscode.DebugAdapterServer(port, '127.0.0.1');
    return new vscode.DebugAdapterExecutable(process.execPath, [this.adapterJs], {
      env: { ELECTRON_RUN_AS_NODE: '1' },
    });
  }
}
