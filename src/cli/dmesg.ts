/**
 * `kdap dmesg --remote HOST:PORT --vmlinux V [--caller] [--json]`: the kernel log of a live
 * kernel, read from its memory while it is halted (so it works when the kernel's own console
 * or userspace cannot print it: a hung or crashed-but-stopped kernel).
 */
import { parseArgs, UsageError } from './args';
import { attachOptions, withKernel } from './attach';
import { register } from './registry';

const usage = 'usage: kdap dmesg --remote HOST:PORT --vmlinux VMLINUX [--gdb GDB] [--caller] [--json]';

register('dmesg', {
  summary: 'the kernel log (printk ring buffer) of a live kernel: `dmesg --remote HOST:PORT --vmlinux V [--caller] [--json]`',
  run: async (argv) => {
    const args = parseArgs(argv, ['remote', 'vmlinux', 'gdb']);
    for (const flag of args.flags) if (flag !== 'json' && flag !== 'caller') throw new UsageError(`unknown option --${flag}\n${usage}`);
    if (args.positional.length > 0) throw new UsageError(usage);
    const log = await withKernel(attachOptions(args, usage), (views) => views.dmesg({ callerId: args.flags.has('caller') }));
    if (args.flags.has('json')) {
      const { text: _text, ...rest } = log;
      process.stdout.write(JSON.stringify(rest, null, 2) + '\n');
    } else {
      process.stdout.write(log.text);
    }
    if (log.lost > 0 || log.truncated > 0) {
      process.stderr.write(`kdap dmesg: ${log.lost} record(s) without text, ${log.truncated} older record(s) left out\n`);
    }
    return 0;
  },
});
