/** `kdap ps --remote HOST:PORT --vmlinux V [--json]`: every task of a live kernel, as ps shows them. */
import type { PsReport, PsRow } from '../engine/task-report';
import { parseArgs, UsageError } from './args';
import { attachHelp, attachOptions, withKernel } from './attach';
import { register } from './registry';

const usage = 'usage: kdap ps [--remote HOST:PORT] --vmlinux VMLINUX [--gdb GDB] [--json]';

const help = `${usage}

Every task of a live kernel, read from its memory as /proc would show it: pid, thread group,
parent, state letter (R S D T t Z X P I), the CPU it runs or last ran on (* when it runs there
now), and its task_struct. Kernel threads are shown [in brackets]. The kernel is halted while
kdap reads and runs again afterwards.

${attachHelp}
  --json               JSON output: {"tasks":[{"pid","tgid","ppid","comm","state","cpu",
                       "onCpu","kernelThread","task"}]} (task as a "0x…" string)`;

export function psTable(rows: readonly PsRow[]): string {
  const cells = rows.map((r) => [String(r.pid), String(r.tgid), String(r.ppid), r.state, `${r.cpu ?? '-'}${r.onCpu ? '*' : ''}`, r.task, r.kernelThread ? `[${r.comm}]` : r.comm]);
  const head = ['PID', 'TGID', 'PPID', 'S', 'CPU', 'TASK', 'COMMAND'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const right = new Set([0, 1, 2, 4]);
  return [head, ...cells].map((r) => r.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

/** Prints the rows (and, on stderr, why the list is incomplete); the exit status. */
export function printPs(report: PsReport, json: boolean): number {
  if (report.error) process.stderr.write(`kdap: the task list is incomplete: ${report.error}\n`);
  process.stdout.write((json ? JSON.stringify(report, null, 2) : psTable(report.tasks)) + '\n');
  return report.error ? 1 : 0;
}

register('ps', {
  summary: 'every task of a live kernel, as ps shows them',
  help,
  run: async (argv) => {
    const args = parseArgs(argv, ['remote', 'vmlinux', 'gdb']);
    for (const flag of args.flags) if (flag !== 'json') throw new UsageError(`unknown option --${flag}\n${usage}`);
    if (args.positional.length > 0) throw new UsageError(usage);
    const report = await withKernel({ ...attachOptions(args, usage), tasks: true }, (_views, _engine, kernel) => kernel.tasks!.rows());
    return printPs(report, args.flags.has('json'));
  },
});
