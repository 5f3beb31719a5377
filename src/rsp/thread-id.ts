/**
 * RSP thread ids: hex numbers, `-1` for all threads, `0` for any, other negative ones for ids
 * with the top bit set (gdb's own spelling of them); with the multiprocess
 * extension `p<pid>.<tid>` (QEMU: `p1.2` is the second vCPU of the first cluster).
 *
 * Kernel tasks shown as extra threads get ids gdb can print and users can read: 10,000,000 +
 * pid (`Thread 1.10000095` is pid 95), and 20,000,000 + cpu for the idle tasks, which all have
 * pid 0. PID_MAX_LIMIT is 4,194,304, so neither range can collide with the other or with the
 * stub's own small CPU thread ids. Ids stay below 2^31: gdb writes negative ones as `-<hex>`.
 */

export interface ThreadId {
  /** The process part of a multiprocess id; undefined without the extension. */
  pid?: number;
  /** -1 = all threads, 0 = any thread. */
  tid: number;
}

export function parseThreadId(text: string): ThreadId {
  // gdb writes ids with the top bit set as negative hex: kgdb's shadow CPU 0xfffffffe is `-2`.
  const m = /^(?:p(-1|[0-9a-fA-F]+)\.)?(-?[0-9a-fA-F]+)$/.exec(text);
  if (!m) throw new SyntaxError(`not a thread id: ${text}`);
  const num = (s: string) => (s.startsWith('-') ? -parseInt(s.slice(1), 16) : parseInt(s, 16));
  return m[1] === undefined ? { tid: num(m[2]) } : { pid: num(m[1]), tid: num(m[2]) };
}

export function formatThreadId(id: ThreadId): string {
  const hex = (n: number) => (n < 0 ? `-${(-n).toString(16)}` : n.toString(16));
  return id.pid === undefined ? hex(id.tid) : `p${hex(id.pid)}.${hex(id.tid)}`;
}

const TASK_BASE = 10_000_000;
const IDLE_BASE = 20_000_000;
const CPUS_MAX = 8192;

/** The thread id of a task: from its pid, or for an idle task (pid 0) from its CPU. */
export function taskThreadId(pid: number, cpu: number | undefined): number {
  if (pid > 0) return TASK_BASE + pid;
  return IDLE_BASE + (cpu ?? 0);
}

/** What a task thread id stands for; undefined for any other id. */
export function decodeTaskThreadId(tid: number): { pid: number } | { idleCpu: number } | undefined {
  if (tid > TASK_BASE && tid < IDLE_BASE) return { pid: tid - TASK_BASE };
  if (tid >= IDLE_BASE && tid < IDLE_BASE + CPUS_MAX) return { idleCpu: tid - IDLE_BASE };
  return undefined;
}
