/**
 * Why a dumped kernel stopped, as the kernel itself said it: the last fatal report of its log
 * (a panic, and the Oops or BUG that led to it) and the CPU that panicked (`panic_cpu`, set by
 * panic() and crash_kexec()), else the CPU the report names. A dump of a healthy kernel (QEMU's
 * dump-guest-memory of a running guest) has none.
 */
import { parseLog } from '../oops/parse';
import type { Report, ReportKind } from '../oops/types';
import { formatRecords, printkRecords } from '../kernel/printk';
import type { Target } from '../kernel/target';

export interface CrashReport {
  /** `panic`, `oops`, `null-deref`, `bug`, … (src/oops's report kinds). */
  readonly kind: ReportKind;
  /** The report's headline: `Kernel panic - not syncing: sysrq triggered crash`. */
  readonly title: string;
  /** What led to a panic, when the log shows it: `BUG: kernel NULL pointer dereference, address: 0`. */
  readonly cause?: string;
  /** The CPU that crashed, when known. */
  readonly cpu: number | undefined;
  readonly pid: number | undefined;
  readonly comm: string | undefined;
}

/** Kinds that end a kernel (or, with panic_on_oops/kdump, lead to the dump); warnings do not. */
const FATAL: ReadonlySet<ReportKind> = new Set(['panic', 'oops', 'null-deref', 'bug', 'kasan', 'kfence', 'hard-lockup', 'soft-lockup', 'hung-task', 'rcu-stall']);

/** The last fatal report in `logText` and the one before it that led there, if any. */
export function crashOfLog(logText: string): { report: Report; cause: Report | undefined } | undefined {
  const reports = parseLog(logText).reports.filter((r) => FATAL.has(r.kind));
  const last = reports[reports.length - 1];
  if (!last) return undefined;
  const before = reports[reports.length - 2];
  return { report: last, cause: last.kind === 'panic' && before && before.kind !== 'panic' ? before : undefined };
}

/** `panic_cpu` when a CPU panicked (it is PANIC_CPU_INVALID, -1, otherwise). */
export async function panicCpu(target: Target, cpus: number): Promise<number | undefined> {
  const at = await target.symbol('panic_cpu');
  if (at === undefined) return undefined;
  const b = await target.readVirtual(at, 4);
  const cpu = new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
  return cpu >= 0 && cpu < cpus ? cpu : undefined;
}

/** The crash the kernel's log reports, with its CPU; undefined for a kernel that did not crash. */
export async function crashReport(target: Target, cpus: number): Promise<CrashReport | undefined> {
  const log = await printkRecords(target);
  const crash = crashOfLog(formatRecords(log.records));
  const cpu = await panicCpu(target, cpus).catch(() => undefined);
  if (!crash) return undefined;
  const { report, cause } = crash;
  const who = cause ?? report;
  return {
    kind: report.kind,
    title: report.title,
    ...(cause ? { cause: cause.title } : {}),
    cpu: cpu ?? report.cpu ?? cause?.cpu,
    pid: report.pid ?? who.pid,
    comm: report.comm ?? who.comm,
  };
}
