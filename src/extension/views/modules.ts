import * as vscode from 'vscode';
import type { ModuleInfo } from '../../adapter/protocol';
import { kdapRequest } from '../sessions';
import { formatSize, Node, node, SessionTree, withTimeout } from './tree';

/** The Modules view: loaded modules (kdap/modules), their sections and symbol files. */
export class ModulesTree extends SessionTree {
  protected readonly request = 'kdap/modules' as const;
  protected readonly noun = 'modules';

  protected async load(session: vscode.DebugSession): Promise<Node[]> {
    const { modules } = await withTimeout(this.request, kdapRequest(session, this.request, {}));
    return [...modules].sort((a, b) => a.name.localeCompare(b.name)).map(moduleNode);
  }
}

/** A module's row: commands run from its menu get this node, and read the module from it. */
export interface ModuleNode extends Node {
  module: ModuleInfo;
}

export function moduleOf(arg: unknown): ModuleInfo | undefined {
  const m = (arg as Partial<ModuleNode> | undefined)?.module;
  return m && typeof m.name === 'string' ? m : undefined;
}

export function moduleNode(m: ModuleInfo): ModuleNode {
  const sections = Object.entries(m.sections).map(([name, addr]) => node(name, { description: addr }));
  const symbols = m.symbolFile
    ? node('symbols', { description: m.symbolFile, tooltip: m.symbolFile })
    : node('symbols', {
        description: 'no .ko with debug info found',
        tooltip: 'Pick Symbol File… on the module, or add the folder holding it to kdap.modulePaths or the launch configuration\'s modulePaths.',
        iconPath: new vscode.ThemeIcon('warning'),
      });
  const state = m.state === 'live' ? '' : ` (${m.state})`;
  const row = node(
    m.name,
    {
      description: `${m.base}  ${formatSize(m.size)}${state}`,
      iconPath: new vscode.ThemeIcon(m.symbolFile ? 'package' : 'warning'),
      tooltip: `${m.name} at ${m.base}, ${formatSize(m.size)}${state}\n${m.symbolFile ?? 'no symbols loaded'}`,
      // module.missing: no symbols, so the view offers Pick Symbol File… (package.json menus).
      contextValue: m.symbolFile ? 'module' : 'module.missing',
    },
    [symbols, ...sections],
  );
  return { ...row, module: m };
}
