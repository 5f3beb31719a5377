/**
 * The tasks a front end shows as threads of their own, next to the CPUs: the user picks a task
 * (from a Tasks view, by pid) and its stack, locals and registers become a thread's.
 *
 * Only picked tasks are threads. A front end lists every thread with its top frame at each
 * stop, so exposing all tasks would cost a register fetch and an unwind per task per stop (and
 * over kgdb a serial round trip each); the picked few cost nothing until asked for. The last
 * `keep` picks stay threads across stops, while their tasks live.
 */
import type { GdbBackend } from '../gdb/backend';
import { taskStateLetter } from '../kernel/task-state';
import { readMembers, taskWalkPlan } from '../kernel/tasks';
import type { TaskOverlay } from '../rsp/overlay';
import { TaskThreads } from '../rsp/task-threads';
import { UserError } from './errors';
import { psReport, taskThreadSource, type PsReport, type TaskThreadSource } from './task-report';
import type { TaskOverlayConnection } from './task-overlay-connection';
import type { UiThread } from './threads';

export class TaskSelection {
  /** Picked pids, oldest first. */
  private readonly picked: number[] = [];
  private shown: Promise<UiThread[]> | undefined;

  constructor(
    private readonly connection: TaskOverlayConnection,
    private readonly gdb: GdbBackend,
    private readonly keep = 8,
  ) {}

  /** The kernel ran: the task list and the threads' names are stale. */
  invalidate(): void {
    this.shown = undefined;
  }

  /** Every task of this stop as ps rows (read once per stop). */
  async rows(): Promise<PsReport> {
    const overlay = await this.connection.overlay;
    return psReport(() => overlay.taskList());
  }

  /** Makes the task a thread (if it is not one) and answers that thread. */
  async select(pid: number): Promise<UiThread> {
    if (!Number.isInteger(pid) || pid <= 0) throw new UserError(`Not a task's pid: ${pid}.`);
    const overlay = await this.connection.overlay;
    const rsp = (await this.source(overlay).threadsOf([pid])).get(pid);
    if (rsp === undefined) throw new UserError(`No task with pid ${pid} at this stop: it has exited.`);
    const at = this.picked.indexOf(pid);
    if (at >= 0) this.picked.splice(at, 1);
    this.picked.push(pid);
    while (this.picked.length > this.keep) this.forget(overlay, this.picked.shift()!);
    this.shown = undefined;
    const thread = (await this.threads()).find((t) => t.info.targetId === targetIdOf(rsp));
    if (!thread) throw new UserError(`gdb does not list the thread of pid ${pid}.`);
    return thread;
  }

  /** The picked tasks that live at this stop, as threads after the CPUs. */
  threads(): Promise<UiThread[]> {
    if (!this.picked.length) return Promise.resolve([]);
    this.shown ??= this.read();
    this.shown.catch(() => (this.shown = undefined));
    return this.shown;
  }

  private async read(): Promise<UiThread[]> {
    const overlay = await this.connection.overlay;
    const ids = await this.source(overlay).threadsOf(this.picked);
    const names = await overlay.whileStopped(() => this.names(overlay, [...ids.keys()]));
    // A cheap refresh of gdb's list (no registers), then gdb's numbers by RSP id, from gdb itself.
    await this.gdb.send('-thread-list-ids', [], 60_000);
    const text = await this.gdb.console('python import json; print("KDAP-THREADS " + json.dumps([[t.ptid[1], t.num] for t in gdb.selected_inferior().threads()]))');
    const m = /^KDAP-THREADS (.*)$/m.exec(text);
    const byRsp = new Map<number, number>(m ? (JSON.parse(m[1]) as Array<[number, number]>) : []);
    const out: UiThread[] = [];
    for (const pid of this.picked) {
      const rsp = ids.get(pid);
      const num = rsp === undefined ? undefined : byRsp.get(rsp);
      const name = names.get(pid);
      if (num === undefined || rsp === undefined || name === undefined) continue;
      out.push({ id: num, cpu: -1, name: `Task ${name}`, info: { id: num, targetId: targetIdOf(rsp), state: 'stopped' } });
    }
    return out;
  }

  /** The RSP thread id of a picked task's thread (gdb's number `id`) at this stop, or undefined. */
  async rspOf(id: number): Promise<number | undefined> {
    if (!this.picked.length) return undefined;
    const thread = (await this.threads()).find((t) => t.id === id);
    return thread && Number(/^Thread (\d+)$/.exec(thread.info.targetId)?.[1]);
  }

  /**
   * How the picked tasks are named (`kdap_dsleep [95] D`): from the task list where it is read
   * anyway (QEMU), else from each task's own few members, so that a picked task over a serial
   * line does not cost a walk of every task at every stop (kgdb).
   */
  private async names(overlay: TaskOverlay, pids: readonly number[]): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    if (this.connection.flavour === 'qemu') {
      for (const t of await overlay.tasks.tasks()) if (pids.includes(t.pid)) out.set(t.pid, TaskThreads.describe(t));
      return out;
    }
    const target = overlay.target;
    const plan = await taskWalkPlan(target);
    for (const pid of pids) {
      const found = await overlay.tasks.byPid(pid);
      if (!found) continue;
      const v = await readMembers(target, found.task, plan.layout, ['pid', 'comm', plan.stateMember, 'exit_state'], 64);
      const letter = taskStateLetter(Number(BigInt.asUintN(32, v.unsigned(plan.stateMember))), Number(v.unsigned('exit_state')));
      out.set(pid, `${v.string('comm')} [${pid}] ${letter}${found.onCpu ? ' · on a CPU' : ''}`);
    }
    return out;
  }

  private source(overlay: TaskOverlay): TaskThreadSource {
    return taskThreadSource(this.gdb, overlay.tasks, { ids: this.connection.flavour === 'kgdb' ? 'pids' : 'task-ids', whileStopped: (fn) => overlay.whileStopped(fn) });
  }

  private forget(overlay: TaskOverlay, pid: number): void {
    const shown = overlay.tasks.exposure;
    if (typeof shown !== 'string') overlay.tasks.exposure = new Set([...shown].filter((p) => p !== pid));
  }
}

const targetIdOf = (rsp: number) => `Thread ${rsp}`;
