import * as vscode from 'vscode';
import type { Ctx } from './ctx';
import { describeRequestError, kdapRequest } from './sessions';
import { stateLetter } from './task-rows';
import { withTimeout } from './views/tree';

/** Asks for the Tasks view's filter: pids, state letters, parts of names. */
export function filterTasks(ctx: Ctx) {
  return async (): Promise<void> => {
    const text = await vscode.window.showInputBox({
      title: 'Filter Tasks',
      prompt: 'Pids, state letters (R S D I T Z W) or parts of names; every word must match. Empty shows every task.',
      value: ctx.tasks.filterText,
    });
    if (text !== undefined) ctx.tasks.setFilter(text);
  };
}

/**
 * Shows a task's stack as a thread (kdap/selectTask): the pid given (a Tasks view row), or one
 * picked from every task of the stop ("Kernel: Find Task…").
 */
export function selectTask(_ctx: Ctx) {
  return async (session: vscode.DebugSession, arg?: unknown): Promise<void> => {
    try {
      let pid = typeof arg === 'number' ? arg : undefined;
      if (pid === undefined) {
        const { tasks } = await withTimeout('kdap/tasks', kdapRequest(session, 'kdap/tasks', {}));
        const pick = await vscode.window.showQuickPick(
          tasks.filter((t) => t.pid > 0).map((t) => ({ label: `${t.pid} ${t.kernelThread ? `[${t.comm}]` : t.comm}`, description: `${stateLetter(t)}${t.cpu === null ? '' : ` · CPU ${t.cpu}`}`, pid: t.pid })),
          { title: 'Find Task', placeHolder: 'pid or name', matchOnDescription: true },
        );
        pid = pick?.pid;
      }
      if (pid === undefined) return;
      await withTimeout('kdap/selectTask', kdapRequest(session, 'kdap/selectTask', { pid }));
    } catch (err) {
      void vscode.window.showErrorMessage(describeRequestError('kdap/selectTask', err));
    }
  };
}
