/** `kdap bt --remote HOST:PORT --vmlinux V [--json] (--pid N... | --all)`: tasks' stacks from a live kernel. */
import type { Attachment } from '../engine/attachment';
import { taskStacks, type PsRow, type StackFrameRow, type StacksReport, type TaskStack } from '../engine/task-report';
import { option, parseArgs, UsageError, type ParsedArgs } from './args';
import { attachHelp, attachOptions, withKernel } from './attach';
import { register } from './registry';

const usage = 'usage: kdap bt [--remote HOST:PORT] --vmlinux VMLINUX [--gdb GDB] [--source DIR] [--module-path DIR]... [--json] (--pid PID... | --all)';

const help = `${usage}

The kernel stacks of tasks of a live kernel, unwound by gdb from DWARF: a sleeping task from the
context the scheduler saved when it switched it out, a running task from its CPU's registers.
Inlined functions and the tail calls gdb infers from call-site data are marked. The kernel is
halted while kdap reads and runs again afterwards.

${attachHelp}
  --pid PID            a task (repeatable)
  --all                every task (the idle tasks, pid 0, are left out)
  --source DIR         the kernel source tree: files are given relative to it
  --module-path DIR    a folder searched (recursively) for the loaded modules' .ko files, so
                       frames in modules have names and lines; may be repeated
  --json               JSON output: {"stacks":[{"pid","frames":[{"function","file","line","pc",
                       "inlined","tailCall"?}]}]} (pc as a "0x…" string)`;

function frameLine(f: StackFrameRow, i: number): string {
  const where = f.file ? ` at ${f.file}${f.line ? `:${f.line}` : ''}` : '';
  const mark = f.inlined ? ' [inlined]' : f.tailCall ? ' [tail call]' : '';
  return ` #${String(i).padEnd(2)} ${f.inlined ? ' '.repeat(f.pc.length) : f.pc} in ${f.function ?? '??'}${where}${mark}`;
}

function stackText(stack: TaskStack, row: PsRow | undefined): string {
  const head = row ? `PID ${stack.pid} (${row.comm}) ${row.state}${row.onCpu ? ` on CPU ${row.cpu}` : ''} task ${row.task}` : `PID ${stack.pid}`;
  const lines = stack.frames.map(frameLine);
  if (stack.error) lines.push(` (${stack.error})`);
  return [head, ...lines].join('\n');
}

/** The tasks --pid and --all ask for: their pids, or 'all'. */
export function wantedTasks(args: ParsedArgs, usage: string): number[] | 'all' {
  const pids = (args.options.get('pid') ?? []).map((p) => {
    if (!/^\d+$/.test(p)) throw new UsageError(`--pid takes a number, not ${p}\n${usage}`);
    return Number(p);
  });
  const all = args.flags.has('all');
  if (all === (pids.length > 0)) throw new UsageError(`give --pid PID (one or more) or --all\n${usage}`);
  return all ? 'all' : pids;
}

/** The stacks of these tasks of the attached kernel, with the ps rows to head them. */
export async function stacksOf(kernel: Attachment, wanted: number[] | 'all', sourceRoot: string | undefined): Promise<{ report: StacksReport; rows: PsRow[] }> {
  const tasks = kernel.tasks!;
  const source = await tasks.stackSource();
  const report = await taskStacks(source, wanted === 'all' ? await source.pids() : wanted, { arch: kernel.arch, sourceRoot });
  return { report, rows: (await tasks.rows()).tasks };
}

/** Prints the stacks; the exit status (1 when a task has no stack at all). */
export function printStacks({ report, rows }: { report: StacksReport; rows: PsRow[] }, json: boolean): number {
  if (json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else process.stdout.write(report.stacks.map((s) => stackText(s, rows.find((r) => r.pid === s.pid))).join('\n\n') + '\n');
  return report.stacks.some((s) => s.error && s.frames.length === 0) ? 1 : 0;
}

register('bt', {
  summary: 'kernel stacks of tasks of a live kernel',
  help,
  run: async (argv) => {
    const args = parseArgs(argv, ['remote', 'vmlinux', 'gdb', 'pid', 'source', 'module-path']);
    for (const flag of args.flags) if (flag !== 'json' && flag !== 'all') throw new UsageError(`unknown option --${flag}\n${usage}`);
    if (args.positional.length > 0) throw new UsageError(usage);
    const wanted = wantedTasks(args, usage);
    const options = attachOptions(args, usage);
    const modulePaths = args.options.get('module-path');
    const stacks = await withKernel({ ...options, tasks: true, modulePaths }, async (_views, _engine, kernel) => {
      if (modulePaths) await kernel.modules.start(true);
      return stacksOf(kernel, wanted, option(args, 'source'));
    });
    return printStacks(stacks, args.flags.has('json'));
  },
});
