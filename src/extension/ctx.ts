import * as vscode from 'vscode';
import { AdapterServer } from './adapter-server';
import { Config, serverRestartSettings } from './config';
import { SerialConsoles } from './console';
import { KdapAdapterFactory, KdapConfigurationProvider, KdapDynamicConfigurations } from './debug';
import { KernelBuilds } from './kernel-builds';
import { KernelLogClient, KernelLogDetector, kernelLogLanguage } from './language';
import { debugType, Sessions } from './sessions';
import { CpusTree } from './views/cpus';
import { ModulesTree } from './views/modules';
import { PageWalkTree } from './views/pageWalk';
import { TasksTree } from './views/tasks';

export const viewIds = { cpus: 'kdap.cpus', tasks: 'kdap.tasks', modules: 'kdap.modules', pageWalk: 'kdap.pageWalk' } as const;

/**
 * Everything the extension holds and how long it lives. Extension lifetime: views, providers,
 * commands, the session tracker (`pushExtCleanup`, disposed on deactivate). The language client
 * lives from the first kernel-log document until deactivation or a settings-driven restart.
 */
export class Ctx {
  readonly config = new Config();
  readonly output: vscode.LogOutputChannel;
  readonly sessions: Sessions;
  readonly cpus: CpusTree;
  readonly modules: ModulesTree;
  readonly tasks: TasksTree;
  readonly pageWalk: PageWalkTree;
  readonly language: KernelLogClient;
  readonly consoles: SerialConsoles;
  readonly builds: KernelBuilds;
  readonly adapter: AdapterServer;

  constructor(readonly extCtx: vscode.ExtensionContext) {
    this.output = this.pushExtCleanup(vscode.window.createOutputChannel('Kernel Log', { log: true }));
    this.sessions = this.pushExtCleanup(new Sessions());
    this.cpus = this.pushExtCleanup(new CpusTree(this.sessions));
    this.modules = this.pushExtCleanup(new ModulesTree(this.sessions));
    this.tasks = this.pushExtCleanup(new TasksTree(this.sessions));
    this.pageWalk = this.pushExtCleanup(new PageWalkTree());
    this.consoles = this.pushExtCleanup(new SerialConsoles());
    this.builds = new KernelBuilds(extCtx);
    this.adapter = this.pushExtCleanup(new AdapterServer(this.asAbsolute('dist/adapter.js'), (line) => this.output.info(line)));
    this.language = this.pushExtCleanup(new KernelLogClient(this.asAbsolute('dist/server.js'), this.output));
    this.pushExtCleanup(new KernelLogDetector());
  }

  pushExtCleanup<T extends vscode.Disposable>(d: T): T {
    this.extCtx.subscriptions.push(d);
    return d;
  }

  asAbsolute(relative: string): string {
    return vscode.Uri.joinPath(this.extCtx.extensionUri, relative).fsPath;
  }

  /** Registers the views and the debugger side; called once from activate. */
  registerProviders(): void {
    const views: [string, vscode.TreeDataProvider<unknown>][] = [
      [viewIds.cpus, this.cpus],
      [viewIds.tasks, this.tasks],
      [viewIds.modules, this.modules],
      [viewIds.pageWalk, this.pageWalk],
    ];
    for (const [id, provider] of views) {
      this.pushExtCleanup(vscode.window.createTreeView(id, { treeDataProvider: provider, showCollapseAll: id !== viewIds.pageWalk }));
    }
    this.pushExtCleanup(vscode.debug.registerDebugConfigurationProvider(debugType, new KdapConfigurationProvider(this.builds, this.adapter)));
    this.pushExtCleanup(
      vscode.debug.registerDebugConfigurationProvider(
        debugType,
        new KdapDynamicConfigurations(this.builds),
        vscode.DebugConfigurationProviderTriggerKind.Dynamic,
      ),
    );
    this.pushExtCleanup(
      vscode.debug.registerDebugAdapterDescriptorFactory(debugType, new KdapAdapterFactory(this.asAbsolute('dist/adapter.js'), this.adapter)),
    );
  }

  /** Starts the language client with the first kernel-log document, not before. */
  startLanguageClientOnDemand(): void {
    const isLog = (d: vscode.TextDocument) => d.languageId === kernelLogLanguage;
    if (vscode.workspace.textDocuments.some(isLog)) {
      void this.language.start();
      return;
    }
    const sub = this.pushExtCleanup(
      vscode.workspace.onDidOpenTextDocument((d) => {
        if (!isLog(d)) return;
        sub.dispose();
        void this.language.start();
      }),
    );
  }

  /** Offers a language-server restart when a setting it reads at start changes. */
  watchSettings(): void {
    this.pushExtCleanup(
      vscode.workspace.onDidChangeConfiguration(async (e) => {
        if (!this.language.running || !serverRestartSettings.some((s) => e.affectsConfiguration(s))) return;
        const restart = 'Restart';
        const pick = await vscode.window.showInformationMessage(
          'Crash-log symbolization settings changed. Restart the kernel-log language server to use them?',
          restart,
        );
        if (pick === restart) await this.language.restart();
      }),
    );
  }
}
