/**
 * `kdap walk --remote HOST:PORT --vmlinux V [--cpu N] [--mm kernel|cpu|pid:N] [--json] VA...`:
 * how a live kernel maps each virtual address (a number or a C expression such as &jiffies).
 */
import type { WalkResult } from '../kernel/pagetable';
import { option, parseArgs, UsageError } from './args';
import { attachHelp, attachOptions, withKernel } from './attach';
import { register } from './registry';

const usage = 'usage: kdap walk [--remote HOST:PORT] --vmlinux VMLINUX [--cpu N] [--mm kernel|cpu|pid:N] [--gdb GDB] [--json] VA...';

const help = `${usage}

How a live kernel maps each virtual address VA (a number, or a C expression such as &jiffies):
every page-table level with its raw entry and decoded flags, then the physical address. Exits 1
when an address is not mapped.

${attachHelp}
  --cpu N              walk with CPU N's registers (default 0)
  --mm M               the page tables to walk: kernel (init_mm), cpu (the CPU's current
                       ones, the default) or pid:N (that task's mm)
  --json               JSON output (addresses are "0x…" strings)`;

export function walkText(w: WalkResult): string {
  const lines = [`${w.va}:`];
  for (const l of w.levels) {
    const next = l.next ? ` -> ${l.next}` : '';
    lines.push(`  ${`${l.level}[${l.index}]`.padEnd(10)} @${l.entryAddress} = ${l.raw}  ${l.descriptor}${next}  ${l.flags.join(' ')}`.trimEnd());
  }
  if (w.phys !== null) lines.push(`  phys ${w.phys} (${w.pageSize} byte page)${w.summary ? `: ${w.summary}` : ''}`);
  else lines.push(`  fault: ${w.fault}`);
  return lines.join('\n');
}

register('walk', {
  summary: 'page-table walk of virtual addresses in a live kernel',
  help,
  run: async (argv) => {
    const args = parseArgs(argv, ['remote', 'vmlinux', 'gdb', 'cpu', 'mm']);
    for (const flag of args.flags) if (flag !== 'json') throw new UsageError(`unknown option --${flag}\n${usage}`);
    if (args.positional.length === 0) throw new UsageError(usage);
    const cpuText = option(args, 'cpu');
    const cpu = cpuText === undefined ? undefined : Number(cpuText);
    if (cpu !== undefined && !Number.isInteger(cpu)) throw new UsageError(`--cpu takes a CPU number, not ${cpuText}\n${usage}`);
    const mm = option(args, 'mm') as 'kernel' | 'cpu' | `pid:${number}` | undefined;
    const walks = await withKernel(attachOptions(args, usage), async (views) => {
      const out: WalkResult[] = [];
      for (const va of args.positional) out.push(await views.walk({ va, cpu: cpu ?? 0, mm }));
      return out;
    });
    process.stdout.write((args.flags.has('json') ? JSON.stringify(walks, null, 2) : walks.map(walkText).join('\n')) + '\n');
    // Like a failed lookup: the exit status says whether every address was mapped.
    return walks.every((w) => w.phys !== null) ? 0 : 1;
  },
});
