import * as vscode from 'vscode';

/** Settings the language server reads when it starts: changing one means a server restart. */
export const serverRestartSettings = [
  'kdap.vmlinux',
  'kdap.modulePaths',
  'kdap.sourceRoot',
  'kdap.toolchainPrefix',
  'kdap.llvmPath',
] as const;

/**
 * The `kdap.*` settings, one getter per setting. Each getter reads the configuration again,
 * so a value is never stale. In an untrusted workspace VS Code itself hides workspace values of
 * the settings package.json lists under `restrictedConfigurations` (gdbPath, qemuPath,
 * toolchainPrefix, llvmPath): their getters then return only what the user set.
 */
export class Config {
  constructor(private readonly scope?: vscode.ConfigurationScope) {}

  private get<T>(key: string, fallback: T): T {
    return vscode.workspace.getConfiguration('kdap', this.scope).get<T>(key) ?? fallback;
  }

  /** `kdap.vmlinux`: default vmlinux for crash logs and debug sessions ('' = none). */
  get vmlinux(): string {
    return this.get('vmlinux', '');
  }
  get modulePaths(): string[] {
    return this.get<string[]>('modulePaths', []);
  }
  get sourceRoot(): string {
    return this.get('sourceRoot', '');
  }
  get toolchainPrefix(): string {
    return this.get('toolchainPrefix', '');
  }
  get llvmPath(): string {
    return this.get('llvmPath', '');
  }
  get gdbPath(): string {
    return this.get('gdbPath', '');
  }
  get qemuPath(): string {
    return this.get('qemuPath', '');
  }
  get gdbIndexCache(): boolean {
    return this.get('gdbIndexCache', true);
  }

  /** Where a setting's value comes from, for messages that tell the user what to change. */
  origin(key: string): 'user' | 'workspace' | 'folder' | 'default' {
    const i = vscode.workspace.getConfiguration('kdap', this.scope).inspect(key);
    if (i?.workspaceFolderValue !== undefined) return 'folder';
    if (i?.workspaceValue !== undefined) return 'workspace';
    if (i?.globalValue !== undefined) return 'user';
    return 'default';
  }
}
