import * as vscode from 'vscode';
import type { CustomRequestName } from '../../adapter/protocol';
import { describeRequestError, Sessions } from '../sessions';

/** A row of a kdap view and, already computed, the rows under it. */
export interface Node {
  item: vscode.TreeItem;
  children?: Node[];
}

export function node(label: string, opts: Partial<vscode.TreeItem> = {}, children?: Node[]): Node {
  const item = new vscode.TreeItem(
    label,
    children?.length ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None,
  );
  Object.assign(item, opts);
  return children ? { item, children } : { item };
}

/** A plain message row: why the view has nothing better to show. */
export function message(text: string, icon = 'info'): Node {
  return node(text, { iconPath: new vscode.ThemeIcon(icon), tooltip: text, contextValue: 'message' });
}

/** A row that opens `file` at `line` when clicked, if the path is absolute. */
export function sourceCommand(file: string | undefined, line: number | undefined): vscode.Command | undefined {
  if (!file || !file.startsWith('/')) return undefined;
  const at = Math.max((line ?? 1) - 1, 0);
  return {
    title: 'Open Source',
    command: 'vscode.open',
    arguments: [vscode.Uri.file(file), { selection: new vscode.Range(at, 0, at, 0), preview: true }],
  };
}

export function formatSize(bytes: number): string {
  if (bytes >= 1 << 30 && bytes % (1 << 30) === 0) return `${bytes / (1 << 30)} GiB`;
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`;
  if (bytes >= 1 << 10 && bytes % (1 << 10) === 0) return `${bytes / (1 << 10)} KiB`;
  return `${bytes} B`;
}

/** kgdb over a 115200-baud line answers slowly; past this a view gives up and says so. */
const requestTimeoutMs = 60_000;

export function withTimeout<T>(name: CustomRequestName, p: Thenable<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`No answer to ${name} within ${requestTimeoutMs / 1000} s.`)), requestTimeoutMs);
  });
  return Promise.race([Promise.resolve(p), timeout]).finally(() => clearTimeout(timer));
}

/**
 * A view filled by one custom request to the active kdap session while it is stopped. With no
 * kdap session the view is empty, so VS Code shows its welcome text from package.json; while
 * the target runs, or when the request fails, it shows one message row instead.
 */
export abstract class SessionTree implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private roots: Promise<Node[]> | undefined;
  private readonly subscription: vscode.Disposable;

  protected abstract readonly request: CustomRequestName;
  protected abstract readonly noun: string;
  protected abstract load(session: vscode.DebugSession): Promise<Node[]>;

  constructor(protected readonly sessions: Sessions) {
    this.subscription = sessions.onDidChange(() => this.refresh());
  }

  refresh(): void {
    this.roots = undefined;
    this.emitter.fire(undefined);
  }

  getTreeItem(n: Node): vscode.TreeItem {
    return n.item;
  }

  getChildren(n?: Node): Node[] | Promise<Node[]> {
    if (n) return n.children ?? [];
    this.roots ??= this.compute();
    return this.roots;
  }

  private async compute(): Promise<Node[]> {
    const session = this.sessions.active;
    if (!session) return [];
    if (this.sessions.state(session) !== 'stopped') {
      return [message(`The target is running. Pause it to see its ${this.noun}.`, 'debug-pause')];
    }
    try {
      const rows = await this.load(session);
      return rows.length ? rows : [message(`No ${this.noun}.`)];
    } catch (err) {
      return [message(describeRequestError(this.request, err), 'warning')];
    }
  }

  dispose(): void {
    this.subscription.dispose();
    this.emitter.dispose();
  }
}
