/**
 * `kdap core info|ps|bt|dmesg|modules|walk --core DUMP --vmlinux V [--json]`: a crash dump read
 * with the same engine and views as a live kernel. The dump is opened as a stopped, read-only
 * kernel (DumpConnection: kdap's RSP server over the file, one gdb with the vmlinux), so every
 * answer comes from the code that answers the live `kdap ps`, `kdap bt`, `kdap dmesg`, `kdap
 * modules` and `kdap walk`.
 */
import * as fs from 'node:fs';
import { Attachment } from '../engine/attachment';
import { DumpConnection } from '../engine/dump-connection';
import { elfArch } from '../engine/elf-arch';
import { UserError } from '../engine/errors';
import type { WalkResult } from '../kernel/pagetable';
import { option, parseArgs, UsageError, type ParsedArgs } from './args';
import { printStacks, stacksOf, wantedTasks } from './bt';
import { printDmesg } from './dmesg';
import { modulesWithFiles, printModules } from './modules';
import { printPs } from './ps';
import { register } from './registry';
import { walkText } from './walk';

const usage = [
  'usage: kdap core info    --core DUMP --vmlinux VMLINUX [--gdb GDB] [--json]',
  '       kdap core ps      --core DUMP --vmlinux VMLINUX [--gdb GDB] [--json]',
  '       kdap core bt      --core DUMP --vmlinux VMLINUX [--gdb GDB] [--source DIR] [--module-path DIR]... [--json] (--pid PID... | --all)',
  '       kdap core dmesg   --core DUMP --vmlinux VMLINUX [--gdb GDB] [--caller] [--json]',
  '       kdap core modules --core DUMP --vmlinux VMLINUX [--gdb GDB] [--module-path DIR]... [--json]',
  '       kdap core walk    --core DUMP --vmlinux VMLINUX [--gdb GDB] [--cpu N] [--mm kernel|cpu|pid:N] [--json] VA...',
].join('\n');

const help = `${usage}

A kernel crash dump, read as a stopped, read-only kernel: kdump's /proc/vmcore (ELF, as copied
or written by makedumpfile -E), makedumpfile's kdump-compressed files (plain or flattened; zlib,
lzo, snappy, zstd; filtered with -d), and QEMU's dump-guest-memory in every format.

  info       kernel release, arch, why it stopped (the panic or Oops its log reports, and the
             CPU), CPUs, dump format, producer and filter level, KASLR offset
  ps         every task as ps shows it (as kdap ps: pid, thread group, parent, state, CPU, task)
  bt         the kernel stacks of tasks (as kdap bt): a sleeping task's from its saved switch
             context, a task on a CPU from that CPU's registers in the dump
  dmesg      the kernel log from the dump's printk ring buffer
  modules    the loaded modules, their sections and the symbol file kdap would load for each
  walk       how the dumped kernel maps each virtual address VA (a number or a C expression);
             exits 1 when an address is not mapped

  --core DUMP          the dump file
  --vmlinux VMLINUX    the vmlinux (with DWARF) of the dumped kernel; another build is refused
  --gdb GDB            gdb to run (default: an arch-prefixed gdb, gdb-multiarch, then gdb)
  --caller             (dmesg) add each record's caller id ([T123] or [C1])
  --module-path DIR    (modules, bt) a folder searched (recursively) for .ko files; may be repeated
  --pid PID            (bt) a task (repeatable)
  --all                (bt) every task (the idle tasks, pid 0, are left out)
  --source DIR         (bt) the kernel source tree: files are given relative to it
  --cpu N              (walk) walk for CPU N (default 0)
  --mm M               (walk) kernel (init_mm), cpu (the CPU's current task's, the default) or pid:N
  --json               JSON output (addresses are "0x…" strings); ps and bt print the shapes
                       of kdap ps --json and kdap bt --json`;

const SUBCOMMANDS = ['info', 'ps', 'bt', 'dmesg', 'modules', 'walk'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

/** makedumpfile's -d bits: the kinds of pages a filtered dump leaves out. */
const EXCLUDED = ['zero pages', 'cache pages', 'private cache pages', 'user pages', 'free pages'];

export interface CoreInfo {
  file: string;
  bytes: number;
  format: string;
  producer: string;
  arch: string;
  release: string | null;
  cpus: number;
  dumpLevel: number | null;
  excluded: string[];
  kernelOffset: string;
  crash: { kind: string; title: string; cause?: string; cpu: number | null; pid: number | null; comm: string | null } | null;
}

interface DumpArgs {
  core: string;
  vmlinux: string;
  gdbPath: string | undefined;
  /** Folders with the modules' .ko files, for symbols in their frames. */
  modulePaths?: readonly string[];
}

function dumpArgs(args: ParsedArgs): DumpArgs {
  const core = option(args, 'core');
  const vmlinux = option(args, 'vmlinux');
  if (!core) throw new UsageError(`--core is required\n${usage}`);
  if (!vmlinux) throw new UsageError(`--vmlinux is required\n${usage}`);
  for (const [what, file] of [['dump', core], ['vmlinux', vmlinux]]) {
    if (!fs.existsSync(file)) throw new UserError(`${what} '${file}' does not exist`);
    if (!fs.statSync(file).isFile()) throw new UserError(`${what} '${file}' is not a file`);
  }
  return { core, vmlinux, gdbPath: option(args, 'gdb') };
}

/** Runs `body` over the dump opened as a stopped kernel; always ends gdb and the dump's server. */
export async function withDump<T>(options: DumpArgs, body: (kernel: Attachment, connection: DumpConnection) => Promise<T>): Promise<T> {
  const arch = elfArch(options.vmlinux);
  const quiet = { console: () => undefined, lost: () => undefined, say: () => undefined };
  const connection = await DumpConnection.open({ core: options.core, vmlinux: options.vmlinux, arch }, quiet);
  const kernel = await Attachment.start(connection, { vmlinux: options.vmlinux, arch, gdbPath: options.gdbPath, modulePaths: options.modulePaths });
  try {
    await kernel.connect();
    return await body(kernel, connection);
  } finally {
    await kernel.close();
  }
}

export function coreInfo(connection: DumpConnection): CoreInfo {
  const { dump, kernelOffset } = connection.kernel;
  const crash = connection.crash;
  const level = dump.dumpLevel;
  return {
    file: dump.path,
    bytes: fs.statSync(dump.path).size,
    format: dump.format,
    producer: dump.producer,
    arch: dump.arch,
    release: dump.release ?? null,
    cpus: dump.cpus.length,
    dumpLevel: level ?? null,
    excluded: level === undefined ? [] : EXCLUDED.filter((_, bit) => (level >> bit) & 1),
    kernelOffset: `0x${kernelOffset.toString(16)}`,
    crash: crash ? { kind: crash.kind, title: crash.title, ...(crash.cause ? { cause: crash.cause } : {}), cpu: crash.cpu ?? null, pid: crash.pid ?? null, comm: crash.comm ?? null } : null,
  };
}

function infoText(i: CoreInfo): string {
  const crash = i.crash
    ? `${i.crash.title}${i.crash.cause ? ` (after: ${i.crash.cause})` : ''}${i.crash.cpu !== null ? ` on CPU ${i.crash.cpu}` : ''}${i.crash.pid !== null ? `, pid ${i.crash.pid}${i.crash.comm ? ` (${i.crash.comm})` : ''}` : ''}`
    : 'none reported: the log shows no panic or Oops';
  const rows: Array<[string, string]> = [
    ['dump', `${i.file} (${(i.bytes / (1 << 20)).toFixed(1)} MiB)`],
    ['format', `${i.format}, written by ${i.producer === 'kdump' ? 'kdump' : "QEMU's dump-guest-memory"}`],
    ['kernel', `${i.release ?? 'unknown release'} (${i.arch})`],
    ['crash', crash],
    ['CPUs', String(i.cpus)],
    ['filter', i.dumpLevel === null ? (i.format === 'elf' ? 'not recorded (ELF)' : 'none') : `dump level ${i.dumpLevel}${i.excluded.length ? `: without ${i.excluded.join(', ')}` : ' (every page)'}`],
    ['KASLR offset', i.kernelOffset],
  ];
  return rows.map(([k, v]) => `${k.padEnd(13)} ${v}`).join('\n');
}

async function run(sub: Subcommand, args: ParsedArgs): Promise<number> {
  const json = args.flags.has('json');
  const options = dumpArgs(args);
  switch (sub) {
    case 'info': {
      const info = await withDump(options, async (_kernel, connection) => coreInfo(connection));
      process.stdout.write((json ? JSON.stringify(info, null, 2) : infoText(info)) + '\n');
      return 0;
    }
    case 'ps':
      return printPs(await withDump(options, (kernel) => kernel.tasks!.rows()), json);
    case 'bt': {
      const wanted = wantedTasks(args, usage);
      const modulePaths = args.options.get('module-path');
      const stacks = await withDump({ ...options, modulePaths }, async (kernel) => {
        if (modulePaths) await kernel.modules.start(true);
        return stacksOf(kernel, wanted, option(args, 'source'));
      });
      return printStacks(stacks, json);
    }
    case 'dmesg': {
      const log = await withDump(options, (kernel) => kernel.views.dmesg({ callerId: args.flags.has('caller') }));
      printDmesg(log, json, 'kdap core dmesg');
      return 0;
    }
    case 'modules': {
      const { modules, notes } = await withDump(options, (kernel) => modulesWithFiles(kernel.views.target, options.vmlinux, args.options.get('module-path') ?? []));
      printModules(modules, notes, json, 'kdap core modules');
      return 0;
    }
    case 'walk': {
      const cpuText = option(args, 'cpu');
      const cpu = cpuText === undefined ? 0 : Number(cpuText);
      if (!Number.isInteger(cpu)) throw new UsageError(`--cpu takes a CPU number, not ${cpuText}\n${usage}`);
      const mm = option(args, 'mm') as 'kernel' | 'cpu' | `pid:${number}` | undefined;
      const walks = await withDump(options, async (kernel) => {
        const out: WalkResult[] = [];
        for (const va of args.positional) out.push(await kernel.views.walk({ va, cpu, mm }));
        return out;
      });
      process.stdout.write((json ? JSON.stringify(walks, null, 2) : walks.map(walkText).join('\n')) + '\n');
      return walks.every((w) => w.phys !== null) ? 0 : 1;
    }
  }
}

const FLAGS: Record<Subcommand, string[]> = { info: ['json'], ps: ['json'], bt: ['json', 'all'], dmesg: ['json', 'caller'], modules: ['json'], walk: ['json'] };
const VALUED: Record<Subcommand, string[]> = { info: [], ps: [], bt: ['pid', 'source', 'module-path'], dmesg: [], modules: ['module-path'], walk: ['cpu', 'mm'] };

register('core', {
  summary: 'a kernel crash dump: info, ps, bt, dmesg, modules, walk',
  help,
  run: async (argv) => {
    const [sub, ...rest] = argv;
    if (!SUBCOMMANDS.includes(sub as Subcommand)) throw new UsageError(sub ? `unknown core command '${sub}'\n${usage}` : usage);
    const s = sub as Subcommand;
    const args = parseArgs(rest, ['core', 'vmlinux', 'gdb', ...VALUED[s]]);
    for (const flag of args.flags) if (!FLAGS[s].includes(flag)) throw new UsageError(`unknown option --${flag} for kdap core ${s}\n${usage}`);
    if (s === 'walk' ? args.positional.length === 0 : args.positional.length > 0) throw new UsageError(usage);
    return run(s, args);
  },
});
