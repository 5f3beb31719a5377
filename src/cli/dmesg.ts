/**
 * `kdap dmesg --remote HOST:PORT --vmlinux V [--caller] [--json]`: the kernel log of a live
 * kernel, read from its memory while it is halted (so it works when the kernel's own console
 * or userspace cannot print it: a hung or crashed-but-stopped kernel).
 */
import { parseArgs, UsageError } from './args';
import { attachHelp, attachOptions, withKernel } from './attach';
import { register } from './registry';
import type { DmesgResult } from '../engine/json';

const usage = 'usage: kdap dmesg [--remote HOST:PORT] --vmlinux VMLINUX [--gdb GDB] [--caller] [--json]';

const help = `${usage}

The kernel log of a live kernel, read from the printk ring buffer in its memory, so it works when
the kernel's console or user space cannot print it.

${attachHelp}
  --caller             add each record's caller id ([T123] or [C1]), like CONFIG_PRINTK_CALLER
  --json               the records as JSON (sequence, timestamp, level, caller, text)`;

export function printDmesg(log: DmesgResult, json: boolean, who: string): void {
  if (json) {
    const { text: _text, ...rest } = log;
    process.stdout.write(JSON.stringify(rest, null, 2) + '\n');
  } else {
    process.stdout.write(log.text);
  }
  if (log.lost > 0 || log.truncated > 0) {
    process.stderr.write(`${who}: ${log.lost} record(s) without text, ${log.truncated} older record(s) left out\n`);
  }
}

register('dmesg', {
  summary: 'the kernel log (printk ring buffer) of a live kernel',
  help,
  run: async (argv) => {
    const args = parseArgs(argv, ['remote', 'vmlinux', 'gdb']);
    for (const flag of args.flags) if (flag !== 'json' && flag !== 'caller') throw new UsageError(`unknown option --${flag}\n${usage}`);
    if (args.positional.length > 0) throw new UsageError(usage);
    const log = await withKernel(attachOptions(args, usage), (views) => views.dmesg({ callerId: args.flags.has('caller') }));
    printDmesg(log, args.flags.has('json'), 'kdap dmesg');
    return 0;
  },
});
