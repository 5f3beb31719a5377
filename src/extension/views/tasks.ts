import * as vscode from 'vscode';
import type { PsRow } from '../../adapter/protocol';
import { kdapRequest } from '../sessions';
import { groupTasks, stateLetter, taskFilter } from '../task-rows';
import { message, node, SessionTree, withTimeout, type Node } from './tree';

const stateIcons: Record<string, string> = {
  W: 'pulse',
  R: 'debug-start',
  S: 'watch',
  D: 'lock',
  I: 'circle-outline',
  T: 'debug-pause',
  t: 'debug-pause',
  Z: 'trash',
  X: 'close',
  P: 'debug-pause',
};

/** The Tasks view: every task of the stop (kdap/tasks), threads under their process; a click shows its stack. */
export class TasksTree extends SessionTree {
  protected readonly request = 'kdap/tasks' as const;
  protected readonly noun = 'tasks';
  private filter = '';

  /** Sets the filter (empty: every task) and reloads. */
  setFilter(text: string): void {
    this.filter = text.trim();
    void vscode.commands.executeCommand('setContext', 'kdap.tasksFiltered', this.filter !== '');
    this.refresh();
  }

  get filterText(): string {
    return this.filter;
  }

  protected async load(session: vscode.DebugSession): Promise<Node[]> {
    const { tasks, error } = await withTimeout(this.request, kdapRequest(session, this.request, {}));
    const shown = this.filter ? tasks.filter(taskFilter(this.filter)) : tasks;
    const rows = groupTasks(shown).map((g) => taskNode(g.task, g.threads.map((t) => taskNode(t))));
    const head: Node[] = [];
    if (this.filter) head.push(message(`Filter “${this.filter}”: ${shown.length} of ${tasks.length} tasks`, 'filter'));
    if (error) head.push(message(`The task list broke off: ${error}`, 'warning'));
    return [...head, ...rows];
  }
}

function taskNode(t: PsRow, threads?: Node[]): Node {
  const name = t.kernelThread ? `[${t.comm}]` : t.comm;
  const letter = stateLetter(t);
  const cpu = t.cpu === null ? '' : ` · CPU ${t.cpu}`;
  return node(
    `${t.pid} ${name}`,
    {
      description: `${letter}${cpu}${threads?.length ? ` · ${threads.length + 1} threads` : ''}`,
      iconPath: new vscode.ThemeIcon(stateIcons[letter] ?? 'question'),
      tooltip: `${name}: pid ${t.pid}, tgid ${t.tgid}, parent ${t.ppid}, state ${letter}${t.onCpu ? ` (running on CPU ${t.cpu})` : cpu}, task_struct ${t.task}`,
      contextValue: 'task',
      command: { title: 'Show Task Stack', command: 'kdap.selectTask', arguments: [t.pid] },
    },
    threads,
  );
}
