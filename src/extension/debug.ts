import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AttachArguments, LaunchArguments } from '../adapter/config';
import { minimalInitramfs } from '../engine/initramfs';
import { buildOfImage, elfFileArch, toolchainGdb } from '../engine/kernel-tree';
import { ARCH_NAMES, isArch } from '../kernel/arch/names';
import type { AdapterServer } from './adapter-server';
import { Config } from './config';
import { fileFolders, type KernelBuilds } from './kernel-builds';
import { configForBuild, isLaunchable } from './kernel-configs';
import { PickerCommands } from './pickers';
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

  if (launch && config.core !== undefined) {
    // A crash dump: nothing boots, so no QEMU settings; the dump must be named.
    if (typeof config.core !== 'string' || config.core === '') return { error: '"core" must name the crash dump to open (a vmcore or a QEMU dump-guest-memory file).' };
  } else if (launch) {
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
  if (config.arch !== undefined && !isArch(config.arch)) {
    return { error: `"arch" must be ${ARCH_NAMES.map((a) => `"${a}"`).join(' or ')}, not ${JSON.stringify(config.arch)}.` };
  }
  return { config };
}

/**
 * Where a vmlinux is looked for when neither the configuration nor kdap.vmlinux names one:
 * the kernel build the image sits in (…/arch/ARCH/boot/IMAGE → …/vmlinux), then the workspace
 * folder.
 */
export async function vmlinuxCandidates(config: KdapConfiguration, folder: string | undefined): Promise<string[]> {
  const out: string[] = [];
  const m = typeof config.kernel === 'string' ? /^(.*)\/arch\/[^/]+\/boot\/[^/]+$/.exec(config.kernel) : null;
  if (m?.[1]) out.push((await buildOfImage(config.kernel!)).vmlinux ?? path.join(m[1], 'vmlinux'));
  // A dump is often kept next to its kernel's vmlinux.
  if (typeof config.core === 'string' && config.core) out.push(path.join(path.dirname(config.core), 'vmlinux'));
  if (folder) out.push(path.join(folder, 'vmlinux'));
  return out;
}

/** After variable substitution: finds a vmlinux if none is named; the files named must exist. */
export async function checkFiles(config: KdapConfiguration, folder?: string): Promise<string | undefined> {
  if (!config.vmlinux) {
    const candidates = await vmlinuxCandidates(config, folder);
    const found = candidates.find((f) => fs.existsSync(f));
    if (!found) {
      const looked = candidates.length ? ` (looked for ${candidates.join(', ')})` : '';
      return `No "vmlinux"${looked}: set it in the configuration or the kdap.vmlinux setting to the ELF kernel with debug info.`;
    }
    config.vmlinux = found;
  }
  const files: [string, string | undefined][] = [
    ['vmlinux', config.vmlinux],
    ...(config.request === 'launch' && config.core !== undefined ? ([['core', config.core]] as [string, string | undefined][]) : []),
    ...(config.request === 'launch' && config.core === undefined
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

/** What a new launch.json starts with when no kernel build is found: the pickers ask. */
export const pickerConfiguration = {
  type: debugType,
  request: 'launch',
  name: 'QEMU: pick the kernel',
  kernel: `\${command:${PickerCommands.kernelImage}}`,
  vmlinux: `\${command:${PickerCommands.vmlinux}}`,
  ...launchDefaults,
};

export class KdapConfigurationProvider implements vscode.DebugConfigurationProvider {
  constructor(
    private readonly builds: KernelBuilds,
    private readonly adapter?: AdapterServer,
  ) {}

  /** A new launch.json: one configuration per kernel build in the folder, else the pickers. */
  async provideDebugConfigurations(folder: vscode.WorkspaceFolder | undefined): Promise<vscode.DebugConfiguration[]> {
    const root = folder?.uri.scheme === 'file' ? folder.uri.fsPath : undefined;
    const found = (await this.builds.discover(root ? [root] : fileFolders())).builds.filter(isLaunchable);
    if (found.length === 0) return [pickerConfiguration];
    return found.map((b) => configForBuild(b, { folder: root, gdbPath: toolchainGdb(b) }) as vscode.DebugConfiguration);
  }

  async resolveDebugConfiguration(
    folder: vscode.WorkspaceFolder | undefined,
    debugConfiguration: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | null | undefined> {
    // The adapter process comes up while the configuration is checked (and a build picked).
    if (vscode.workspace.isTrusted && typeof debugConfiguration.debugServer !== 'number') this.adapter?.warm();
    if (!debugConfiguration.request && !debugConfiguration.name) {
      // F5 without a launch.json: the kernel build of this folder, picked once if several.
      const build = await this.builds.chooseBuild(folder);
      if (build === undefined) return undefined;
      if ('none' in build) {
        void vscode.window.showInformationMessage(`${build.none} Opening launch.json to set "kernel" and "vmlinux".`);
        return null; // VS Code opens launch.json with the initial configurations
      }
      // Whatever else came along (noDebug, debugServer) stays.
      const { type: _type, request: _request, name: _name, ...rest } = debugConfiguration;
      debugConfiguration = { ...configForBuild(build, { folders: fileFolders(), gdbPath: toolchainGdb(build) }), ...rest } as vscode.DebugConfiguration;
    }
    const config = new Config(folder?.uri);
    const settings: DebugSettings = {
      vmlinux: config.vmlinux,
      gdbPath: config.gdbPath,
      qemuPath: config.qemuPath,
      gdbIndexCache: config.gdbIndexCache,
      modulePaths: config.modulePaths,
      workspaceFolders: fileFolders(),
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
    const config = debugConfiguration as KdapConfiguration;
    const error = await checkFiles(config, root);
    if (error) return refuse(error);
    if (!config.sourceRoot && config.vmlinux) {
      const tree = await this.builds.sourceTreeFor(config.vmlinux);
      if (tree) config.sourceRoot = tree;
    }
    if (config.request === 'launch' && config.core === undefined && !config.initrd) await withMinimalInitrd(config);
    return config;
  }
}

/**
 * A launch without "initrd" gets kdap's minimal busybox initramfs, or a warning that the kernel
 * will stop at "No working init found" (it still stops at start_kernel first).
 */
async function withMinimalInitrd(config: KdapConfiguration): Promise<void> {
  const arch = config.arch ?? (config.vmlinux ? await elfFileArch(config.vmlinux) : undefined);
  if (!arch) return;
  const r = await minimalInitramfs(arch).catch((err: Error) => ({ missing: `No "initrd", and making one failed: ${err.message}` }));
  if ('path' in r) config.initrd = r.path;
  else void vscode.window.showWarningMessage(r.missing);
}

/**
 * Offers launch configurations for the kernel builds in and around the workspace folders
 * (in-tree and make O= builds, engine/kernel-tree.ts).
 */
export class KdapDynamicConfigurations implements vscode.DebugConfigurationProvider {
  constructor(private readonly builds: KernelBuilds) {}

  async provideDebugConfigurations(folder: vscode.WorkspaceFolder | undefined): Promise<vscode.DebugConfiguration[]> {
    if (!folder || folder.uri.scheme !== 'file') return [];
    const root = folder.uri.fsPath;
    const found = (await this.builds.discover([root])).builds.filter(isLaunchable);
    return found.map((b) => configForBuild(b, { folder: root, gdbPath: toolchainGdb(b) }) as vscode.DebugConfiguration);
  }
}

/**
 * Sessions talk to this window's adapter process (adapter-server.ts: dist/adapter.js on the
 * extension host's Node, Electron's binary acting as Node on the desktop, serving every session
 * on a private socket). Where that cannot start, a session runs dist/adapter.js as a process of
 * its own. A `debugServer` port in the configuration connects to an adapter that is already
 * running instead (adapter development, tests).
 */
export class KdapAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  constructor(
    private readonly adapterJs: string,
    private readonly server?: AdapterServer,
  ) {}

  async createDebugAdapterDescriptor(session: vscode.DebugSession): Promise<vscode.DebugAdapterDescriptor> {
    const port = (session.configuration as KdapConfiguration).debugServer;
    if (typeof port === 'number') return new vscode.DebugAdapterServer(port, '127.0.0.1');
    const running = await this.server?.ensure();
    if (running) return new vscode.DebugAdapterNamedPipeServer(running.socket);
    return this.ownProcess();
  }

  /** dist/adapter.js as the session's own process, on stdin and stdout. */
  ownProcess(): vscode.DebugAdapterExecutable {
    return new vscode.DebugAdapterExecutable(process.execPath, [this.adapterJs], {
      env: { ELECTRON_RUN_AS_NODE: '1' },
    });
  }
}
