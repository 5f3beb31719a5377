/** `kdap cpus --remote HOST:PORT --vmlinux V [--json]`: what each CPU of a live kernel runs. */
import type { CpuInfo } from '../engine/json';
import { parseArgs, UsageError } from './args';
import { attachHelp, attachOptions, withKernel } from './attach';
import { register } from './registry';

const usage = 'usage: kdap cpus [--remote HOST:PORT] --vmlinux VMLINUX [--gdb GDB] [--json]';

const help = `${usage}

What each CPU of a live kernel is doing: state, kernel or user mode, current task, runqueue
length, pc and function. The kernel is halted while kdap reads and runs again afterwards.

${attachHelp}
  --json               JSON output (addresses are "0x…" strings)`;

function table(cpus: readonly CpuInfo[]): string {
  const rows = cpus.map((c) => [
    String(c.cpu),
    c.state,
    c.mode,
    c.task ? String(c.task.pid) : '-',
    c.task?.comm ?? '-',
    c.nrRunning === undefined ? '-' : String(c.nrRunning),
    c.pc ?? '-',
    c.function ?? '',
  ]);
  const head = ['CPU', 'STATE', 'MODE', 'PID', 'COMM', 'RUNNABLE', 'PC', 'FUNCTION'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

register('cpus', {
  summary: 'per-CPU state and current task of a live kernel',
  help,
  run: async (argv) => {
    const args = parseArgs(argv, ['remote', 'vmlinux', 'gdb']);
    for (const flag of args.flags) if (flag !== 'json') throw new UsageError(`unknown option --${flag}\n${usage}`);
    if (args.positional.length > 0) throw new UsageError(usage);
    const cpus = await withKernel(attachOptions(args, usage), (views) => views.cpus());
    process.stdout.write((args.flags.has('json') ? JSON.stringify(cpus, null, 2) : table(cpus)) + '\n');
    return 0;
  },
});
