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
import type { UiThread } from './threads';

/** Whatever serves gdb the kernel's tasks as threads: the task overlay, or a dump's RSP server. */
export type TaskServer = Pick<TaskOverlay, 'tasks' | 'target' | 'taskList' | 'whileStopped'>;

/** A connection whose stub shows tasks as threads (TaskOverlayConnection, DumpConnection). */
export interface TaskServing {
  /** The stub lists every task itself, by pid (kgdb), or kdap numbers the exposed ones (taskThreadId()). */
  readonly flavour: 'qemu' | 'kgdb';
  /** Once the connection serves gdb. */
  readonly taskServer: Promise<TaskServer>;
}

export function isTaskServing(connection: object): connection is TaskServing {
  return 'taskServer' in connection && 'flavour' in connection;
}

export class TaskSelection {
  /** Picked pids, oldest first. */
  private readonly picked: number[] = [];
  private shown: Promise<UiThread[]> | undefined;

  constructor(
    private readonly connection: TaskServing,
    private readonly gdb: GdbBackend,
    private readonly keep = 8,
  ) {}

  /** The kernel ran: the task list and the threads' names are stale. */
  invalidate(): void {
    this.shown = undefined;
  }

  /** Every task of this stop as ps rows (read once per stop). */
  async rows(): Promise<PsReport> {
    const server = await this.connection.taskServer;
    return psReport(() => server.taskList());
  }

  /** Makes the task a thread (if it is not one) and answers that thread. */
  async select(pid: number): Promise<UiThread> {
    if (!Number.isInteger(pid) || pid <= 0) throw new UserError(`Not a task's pid: ${pid}.`);
    const server = await this.connection.taskServer;
    const rsp = (await this.source(server).threadsOf([pid])).get(pid);
    if (rsp === undefined) throw new UserError(`No task with pid ${pid} at this stop: it has exited.`);
    const at = this.picked.indexOf(pid);
    if (at >= 0) this.picked.splice(at, 1);
    this.picked.push(pid);
    while (this.picked.length > this.keep) this.forget(server, this.picked.shift()!);
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
    const server = await this.connection.taskServer;
    const ids = await this.source(server).threadsOf(this.picked);
    const names = await server.whileStopped(() => this.names(server, [...ids.keys()]));
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
  private async names(server: TaskServer, pids: readonly number[]): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    if (this.connection.flavour === 'qemu') {
      for (const t of await server.tasks.tasks()) if (pids.includes(t.pid)) out.set(t.pid, TaskThreads.describe(t));
      return out;
    }
    const target = server.target;
    const plan = await taskWalkPlan(target);
    for (const pid of pids) {
      const found = await server.tasks.byPid(pid);
      if (!found) continue;
      const v = await readMembers(target, found.task, plan.layout, ['pid', 'comm', plan.stateMember, 'exit_state'], 64);
      const letter = taskStateLetter(Number(BigInt.asUintN(32, v.unsigned(plan.stateMember))), Number(v.unsigned('exit_state')));
      out.set(pid, `${v.string('comm')} [${pid}] ${letter}${found.onCpu ? ' · on a CPU' : ''}`);
    }
    return out;
  }

  /** What `taskStacks()` unwinds the tasks of this stop through. */
  async stackSource(): Promise<TaskThreadSource> {
    return this.source(await this.connection.taskServer);
  }

  private source(server: TaskServer): TaskThreadSource {
    return taskThreadSource(this.gdb, server.tasks, { ids: this.connection.flavour === 'kgdb' ? 'pids' : 'task-ids', whileStopped: (fn) => server.whileStopped(fn) });
  }

  private forget(server: TaskServer, pid: number): void {
    const shown = server.tasks.exposure;
    if (typeof shown !== 'string') server.tasks.exposure = new Set([...shown].filter((p) => p !== pid));
  }
}

const targetIdOf = (rsp: number) => `Thread ${rsp}`;
