import * as vscode from 'vscode';
import type { WalkLevel, WalkResult } from '../../adapter/protocol';
import { formatSize, message, Node, node } from './tree';

/**
 * The Page Walk view: the last page-table walk kdap.decodeVirtualAddress asked for, one row per
 * level with the raw entry and its decoded flags. It keeps the walk until the session ends.
 */
export class PageWalkTree implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private shown: { result?: WalkResult; error?: string; va: string; sessionId: string } | undefined;
  private readonly subscription: vscode.Disposable;

  constructor() {
    this.subscription = vscode.debug.onDidTerminateDebugSession((s) => {
      if (s.id === this.shown?.sessionId) this.show(undefined);
    });
  }

  show(walk: { result?: WalkResult; error?: string; va: string; sessionId: string } | undefined): void {
    this.shown = walk;
    this.emitter.fire(undefined);
  }

  get current(): WalkResult | undefined {
    return this.shown?.result;
  }

  getTreeItem(n: Node): vscode.TreeItem {
    return n.item;
  }

  getChildren(n?: Node): Node[] {
    if (n) return n.children ?? [];
    const w = this.shown;
    if (!w) return [];
    if (w.error !== undefined) return [message(`${w.va}: ${w.error}`, 'warning')];
    return w.result ? walkNodes(w.result) : [];
  }

  dispose(): void {
    this.subscription.dispose();
    this.emitter.dispose();
  }
}

export function walkNodes(r: WalkResult): Node[] {
  const levels = r.levels.map(levelNode);
  const target = r.phys ? `→ ${r.phys}` : `→ ${r.fault ?? 'not mapped'}`;
  const root = node(
    `${r.va} ${target}`,
    {
      description: r.pageSize ? `${formatSize(r.pageSize)} page` : '',
      iconPath: new vscode.ThemeIcon(r.phys ? 'symbol-reference' : 'error'),
      tooltip: r.summary ?? `${r.va} ${target}`,
      contextValue: 'walk',
    },
    levels,
  );
  root.item.collapsibleState = vscode.TreeItemCollapsibleState.Expanded;
  const rows = [root];
  if (r.summary) rows.push(message(r.summary));
  return rows;
}

function levelNode(l: WalkLevel): Node {
  const details = [`entry at ${l.entryAddress}`];
  if (l.entryPhysical) details.push(`(phys ${l.entryPhysical})`);
  if (l.next) details.push(`next ${l.next}`);
  return node(`${l.level}[${l.index}]`, {
    description: `${l.raw}  ${l.flags.join(' ')}`,
    tooltip: `${l.level} index ${l.index}: ${l.raw}\n${details.join(' ')}\n${l.flags.join(' ')}`,
    iconPath: new vscode.ThemeIcon(l.leaf ? 'target' : 'arrow-small-right'),
    contextValue: 'walkLevel',
  });
}
