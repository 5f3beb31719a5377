/**
 * Every task and any task's stack as JSON: the bodies of `kdap ps --json`, `kdap bt --json`
 * and the `kdap/tasks` request, for a live kernel as for a frozen one.
 *
 * The rows come from the task list (kernel/tasks.ts) over any Target. The stacks come from gdb
 * itself: whatever serves gdb (the task overlay in front of QEMU or kgdb, the RSP server of a
 * dump) shows tasks as threads whose registers are their switch frames, so gdb's DWARF unwinder
 * gives each task its real frames. gdb's Python API tells the kinds of frames MI does not:
 * inlined frames, and the tail-call frames gdb makes up from DWARF call-site data.
 */
import * as path from 'node:path';
import type { GdbBackend } from '../gdb/backend';
import type { HexString } from '../kernel/arch/arch';
import { listTasks, TaskListError, type TaskEntry, type TaskWalkOptions } from '../kernel/tasks';
import type { Arch, Target } from '../kernel/target';
import type { TaskThreads } from '../rsp/task-threads';
import { taskThreadId } from '../rsp/thread-id';
import { SourceMapper, type PathMap } from './sources';
import { trimKernelStack } from './stack';

/** One task as `ps` shows it. */
export interface PsRow {
  pid: number;
  tgid: number;
  ppid: number;
  comm: string;
  /** The letter of /proc/<pid>/stat (R S D T t X Z P I). */
  state: string;
  /** Where it runs or last ran; null when the kernel does not record it. */
  cpu: number | null;
  onCpu: boolean;
  kernelThread: boolean;
  /** The `struct task_struct *`. */
  task: HexString;
}

export interface PsReport {
  tasks: PsRow[];
  /** Present when the walk stopped early (a looping or broken list): `tasks` are those read before. */
  error?: string;
}

export interface StackFrameRow {
  function: string | null;
  /** Relative to the source tree when the file is found in it; else as the debug info names it. */
  file: string | null;
  line: number | null;
  pc: HexString;
  /** A function inlined into the frame below: it shares that frame's registers. */
  inlined: boolean;
  /** gdb made the frame up from DWARF call-site data: a tail call left no return address. */
  tailCall?: true;
}

export interface TaskStack {
  pid: number;
  frames: StackFrameRow[];
  /** Why the stack is missing or cut short (a task gone, a stack page that cannot be read). */
  error?: string;
}

export interface StacksReport {
  stacks: TaskStack[];
}

const hex = (v: bigint): HexString => `0x${v.toString(16)}`;

export function psRow(t: TaskEntry): PsRow {
  return { pid: t.pid, tgid: t.tgid, ppid: t.ppid, comm: t.comm, state: t.state, cpu: t.cpu ?? null, onCpu: t.onCpu, kernelThread: t.kernelThread, task: hex(t.task) };
}

/** The task list of this stop as ps rows; a broken list gives the rows before the break and why. */
export async function psRows(target: Target, options: TaskWalkOptions = {}): Promise<PsReport> {
  return psReport(() => listTasks(target, options));
}

/** ps rows from any source of the task list (TaskThreads.tasks() keeps its read per stop). */
export async function psReport(list: () => Promise<TaskEntry[]>): Promise<PsReport> {
  try {
    return { tasks: (await list()).map(psRow) };
  } catch (e) {
    if (e instanceof TaskListError) return { tasks: e.tasks.map(psRow), error: e.message };
    throw e;
  }
}

/**
 * A gdb whose stub shows tasks as threads. `threadsOf` makes the tasks with these pids gdb
 * threads, if the stub shows only some, and answers the RSP thread id of each (absent: no
 * such task now); `pids` lists every pid there is, for `--all`.
 */
export interface TaskThreadSource {
  readonly gdb: GdbBackend;
  threadsOf(pids: readonly number[]): Promise<ReadonlyMap<number, number>>;
  pids(): Promise<number[]>;
}

export interface TaskThreadsOptions {
  /**
   * How the stub numbers a task's thread: kdap's task ids (taskThreadId(): the overlay in front
   * of QEMU, the RSP server of a frozen kernel), which show only the exposed tasks; or the pid
   * itself (kgdb, which shows every task).
   */
  ids: 'task-ids' | 'pids';
  /** Runs reads of the kernel where the stub allows them (TaskOverlay.whileStopped). */
  whileStopped?: <T>(fn: () => Promise<T>) => Promise<T>;
}

/** The TaskThreadSource of a kdap RSP layer (TaskOverlay, RspServer) and the gdb it serves. */
export function taskThreadSource(gdb: GdbBackend, tasks: TaskThreads, options: TaskThreadsOptions): TaskThreadSource {
  const run = options.whileStopped ?? (<T>(fn: () => Promise<T>) => fn());
  return {
    gdb,
    pids: () => run(async () => (await tasks.tasks()).map((t) => t.pid).filter((pid) => pid > 0)),
    threadsOf: (pids) =>
      run(async () => {
        const out = new Map<number, number>();
        if (options.ids === 'pids') {
          for (const pid of pids) if (pid > 0 && (await tasks.byPid(pid))) out.set(pid, pid);
          return out;
        }
        const wanted = new Set(pids.filter((pid) => pid > 0));
        // An exited task is no thread (TaskThreads.threads): it has no stack left.
        for (const t of await tasks.tasks()) if (wanted.has(t.pid) && t.exitState === 0) out.set(t.pid, taskThreadId(t.pid, t.cpu));
        const shown = tasks.exposure;
        if (shown !== 'all') tasks.exposure = new Set([...(shown === 'none' ? [] : shown), ...out.keys()]);
        return out;
      }),
  };
}

export interface StackOptions {
  arch: Arch;
  /** The kernel source tree, and gdb's path maps, for `file`. */
  sourceRoot?: string;
  substitutePath?: readonly PathMap[];
  /** Frames per task at most (default 64). */
  limit?: number;
}

/** The stacks of the tasks with these pids, in that order. */
export async function taskStacks(source: TaskThreadSource, pids: readonly number[], options: StackOptions): Promise<StacksReport> {
  const rspIds = await source.threadsOf(pids);
  // A cheap refresh of gdb's thread list from the stub (qfThreadInfo, no frames): the tasks
  // just shown appear. -thread-info would fetch every thread's registers as well.
  await source.gdb.send('-thread-list-ids', [], 60_000);
  const tids = [...new Set(rspIds.values())];
  const raw = tids.length ? await gdbFrames(source.gdb, tids, options.limit ?? 64) : {};
  const files = new FileNames(options.sourceRoot, options.substitutePath);
  return {
    stacks: pids.map((pid) => {
      const tid = rspIds.get(pid);
      if (tid === undefined) return { pid, frames: [], error: `no task with pid ${pid}` };
      const got = raw[tid] ?? { frames: [], error: `gdb does not list the thread of pid ${pid}` };
      const frames = trim(options.arch, got.frames.map((f) => frameRow(f, files)));
      return got.error && frames.length === 0 ? { pid, frames, error: got.error } : { pid, frames };
    }),
  };
}

/**
 * What gdb's frames of the thread with this RSP id are, newest first: inlined, a tail call gdb
 * made up, or an ordinary frame. MI's frame lists do not say.
 */
export async function frameKinds(gdb: GdbBackend, tid: number, limit: number): Promise<Array<'inline' | 'tailcall' | 'normal'>> {
  const raw = (await gdbFrames(gdb, [tid], limit))[tid];
  return (raw?.frames ?? []).map(([, kind]) => kind || 'normal');
}

/** [name, kind, pc, filename, fullname, line] as the Python below writes them. */
type RawFrame = [string | null, '' | 'inline' | 'tailcall', string, string | null, string | null, number];

interface RawStack {
  frames: RawFrame[];
  error?: string;
}

function frameRow([name, kind, pc, filename, fullname, line]: RawFrame, files: FileNames): StackFrameRow {
  const row: StackFrameRow = { function: name, file: files.name(filename, fullname), line: line > 0 ? line : null, pc: pc as HexString, inlined: kind === 'inline' };
  if (kind === 'tailcall') row.tailCall = true;
  return row;
}

/** Cut at the entry stub as every kdap stack is: past it gdb unwinds into garbage. */
function trim(arch: Arch, frames: StackFrameRow[]): StackFrameRow[] {
  const kept = trimKernelStack(arch, frames.map((f, level) => ({ level, address: BigInt(f.pc), func: f.function ?? undefined }))).frames;
  return frames.slice(0, kept.length);
}

class FileNames {
  private readonly mapper: SourceMapper | undefined;

  constructor(private readonly sourceRoot: string | undefined, maps: readonly PathMap[] = []) {
    this.mapper = sourceRoot || maps.length ? new SourceMapper(sourceRoot, maps) : undefined;
  }

  name(filename: string | null, fullname: string | null): string | null {
    if (filename === null) return null;
    const found = this.mapper?.resolve(filename) ?? this.mapper?.resolve(fullname ?? undefined);
    if (found && this.sourceRoot) {
      const relative = path.relative(this.sourceRoot, found);
      if (!relative.startsWith('..') && !path.isAbsolute(relative)) return relative;
    }
    return filename.replace(/^(\.\/)+/, '');
  }
}

/**
 * Defined once per gdb: walks the frames of the threads with these RSP thread ids (ptid[1] of a
 * remote thread) and prints them as JSON on one line, then selects again the thread and frame that were selected. pcs are hex strings:
 * JSON numbers lose the low bits of kernel addresses.
 */
const FRAMES_PY = `
import gdb, json
def _kdap_task_frames(tids, limit):
    kinds = {gdb.INLINE_FRAME: 'inline', gdb.TAILCALL_FRAME: 'tailcall'}
    selected = gdb.selected_thread()
    try:
        level = gdb.selected_frame().level()
    except gdb.error:
        level = None
    out = {}
    want = set(tids)
    for t in gdb.selected_inferior().threads():
        if t.ptid[1] not in want:
            continue
        frames = []
        error = None
        try:
            t.switch()
            f = gdb.newest_frame()
            while f is not None and len(frames) < limit:
                sal = f.find_sal()
                s = sal.symtab
                frames.append([f.name(), kinds.get(f.type(), ''), hex(f.pc()), s.filename if s else None, s.fullname() if s else None, sal.line])
                f = f.older()
        except gdb.error as e:
            error = str(e)
        out[t.ptid[1]] = {'frames': frames, 'error': error}
    if selected is not None and selected.is_valid():
        selected.switch()
        if level is not None:
            try:
                gdb.execute('frame %d' % level, to_string=True)
            except gdb.error:
                pass
    print('KDAP-FRAMES ' + json.dumps(out))
`;

const defined = new WeakSet<GdbBackend>();

async function gdbFrames(gdb: GdbBackend, tids: readonly number[], limit: number): Promise<Record<number, RawStack>> {
  if (!defined.has(gdb)) {
    try {
      await gdb.console(`python exec(${JSON.stringify(FRAMES_PY)})`);
    } catch (e) {
      throw new Error(`task stacks need gdb with Python (to tell inlined and tail-call frames): ${(e as Error).message}`);
    }
    defined.add(gdb);
  }
  const text = await gdb.console(`python _kdap_task_frames([${tids.join(',')}], ${limit})`, 60_000 + tids.length * 2000);
  const line = /^KDAP-FRAMES (.*)$/m.exec(text);
  if (!line) throw new Error(`gdb's frame listing printed no result: ${text.slice(0, 200)}`);
  const parsed = JSON.parse(line[1]) as Record<string, { frames: RawFrame[]; error: string | null }>;
  const out: Record<number, RawStack> = {};
  for (const [tid, s] of Object.entries(parsed)) out[Number(tid)] = s.error === null ? { frames: s.frames } : { frames: s.frames, error: s.error };
  return out;
}
