/** The Tasks view's rows without VS Code: the state letter, the filter, grouping by process. */
import type { PsRow } from '../adapter/protocol';

/** The letter ps shows: the /proc state, or W for a task a CPU runs right now. */
export function stateLetter(t: PsRow): string {
  return t.onCpu ? 'W' : t.state;
}

/**
 * A filter as the user types it: words that must all match; a number matches the pid or tgid,
 * a single capital letter (or W) the state, anything else a part of the name.
 */
export function taskFilter(text: string): (t: PsRow) => boolean {
  const words = text.trim().split(/\s+/).filter(Boolean);
  return (t) =>
    words.every((w) => {
      if (/^\d+$/.test(w)) return t.pid === Number(w) || t.tgid === Number(w);
      if (/^[RSDTtZXPIW]$/.test(w)) return stateLetter(t) === w;
      return t.comm.toLowerCase().includes(w.toLowerCase());
    });
}

/**
 * Rows grouped as ps -H would by thread group: a process, with its other threads under it.
 * A thread whose leader is filtered out (or gone) is a row of its own.
 */
export function groupTasks(tasks: readonly PsRow[]): Array<{ task: PsRow; threads: PsRow[] }> {
  const leaders = new Map<number, { task: PsRow; threads: PsRow[] }>();
  const out: Array<{ task: PsRow; threads: PsRow[] }> = [];
  for (const t of tasks) {
    if (t.pid === t.tgid || t.pid === 0) {
      const g = { task: t, threads: [] as PsRow[] };
      if (t.pid !== 0) leaders.set(t.pid, g);
      out.push(g);
    }
  }
  for (const t of tasks) {
    if (t.pid === t.tgid || t.pid === 0) continue;
    const leader = leaders.get(t.tgid);
    if (leader) leader.threads.push(t);
    else out.push({ task: t, threads: [] });
  }
  return out;
}
