import * as vscode from 'vscode';
import type { CpuInfo } from '../../adapter/protocol';
import { kdapRequest } from '../sessions';
import { Node, node, SessionTree, sourceCommand, withTimeout } from './tree';

const stateIcons: Record<CpuInfo['state'], string> = {
  running: 'pulse',
  idle: 'circle-outline',
  halted: 'debug-pause',
  offline: 'circle-slash',
  unknown: 'question',
};

/** The CPUs view: one row per CPU (kdap/cpus), its current task and where it is. */
export class CpusTree extends SessionTree {
  protected readonly request = 'kdap/cpus' as const;
  protected readonly noun = 'CPUs';

  protected async load(session: vscode.DebugSession): Promise<Node[]> {
    const { cpus } = await withTimeout(this.request, kdapRequest(session, this.request, {}));
    return cpus.map(cpuNode);
  }
}

export function cpuNode(c: CpuInfo): Node {
  const where = c.function ?? c.pc ?? '';
  const task = c.task ? `${c.task.comm}[${c.task.pid}]` : '';
  const rows: Node[] = [];
  if (c.pc) {
    const at = c.file ? ` (${c.file}${c.line ? `:${c.line}` : ''})` : '';
    rows.push(node('pc', { description: `${c.pc} ${c.function ?? ''}${at}`, command: sourceCommand(c.file, c.line) }));
  }
  if (c.task) rows.push(node('current', { description: `${task} task_struct ${c.task.address}` }));
  rows.push(node('state', { description: `${c.state}, ${c.mode} mode` }));
  if (c.preemptCount !== undefined) rows.push(node('preempt_count', { description: `0x${c.preemptCount.toString(16)}` }));
  if (c.irqsDisabled !== undefined) rows.push(node('irqs', { description: c.irqsDisabled ? 'disabled' : 'enabled' }));
  if (c.nrRunning !== undefined) rows.push(node('nr_running', { description: String(c.nrRunning) }));
  if (c.perCpuOffset) rows.push(node('__per_cpu_offset', { description: c.perCpuOffset }));
  rows.push(node('thread', { description: String(c.threadId) }));
  return node(
    `CPU ${c.cpu}`,
    {
      description: [task, where].filter(Boolean).join('  '),
      iconPath: new vscode.ThemeIcon(stateIcons[c.state] ?? 'question'),
      tooltip: `CPU ${c.cpu}: ${c.state}, ${c.mode} mode${task ? `, running ${task}` : ''}${where ? ` at ${where}` : ''}`,
      contextValue: 'cpu',
    },
    rows,
  );
}
