/**
 * `kdap modules --remote HOST:PORT --vmlinux V [--module-path DIR]... [--json]`: the modules a
 * live kernel has loaded, their sections, and the symbol file kdap would load for each.
 * Differences between a file and the loaded module go to stderr, as do modules without one.
 */
import { moduleInfo, defaultModuleCacheDir } from '../engine/module-symbols';
import { ModuleFiles } from '../engine/module-files';
import type { ModuleInfo } from '../engine/json';
import { kernelRelease, listModules } from '../kernel/module';
import type { Target } from '../kernel/target';
import { parseArgs, UsageError } from './args';
import { attachHelp, attachOptions, withKernel } from './attach';
import { register } from './registry';
import { bestEffort } from '../engine/errors';

const usage = 'usage: kdap modules [--remote HOST:PORT] --vmlinux VMLINUX [--module-path DIR]... [--gdb GDB] [--json]';

const help = `${usage}

The modules a live kernel has loaded, their sections, and the symbol file kdap would load for
each. Differences between a file and the loaded module, and modules without one, go to stderr.

${attachHelp}
  --module-path DIR    a folder searched (recursively) for .ko files; may be repeated. Also
                       searched: /lib/modules/RELEASE, /usr/lib/debug, build ids
  --json               JSON output (addresses are "0x…" strings)`;

export function moduleTable(modules: readonly ModuleInfo[]): string {
  const rows = modules.map((m) => [m.name, m.state, m.base, String(m.size), String(Object.keys(m.sections).length), m.symbolFile ?? '(none)']);
  const head = ['NAME', 'STATE', 'BASE', 'SIZE', 'SECTIONS', 'SYMBOL FILE'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

/** The loaded modules with the symbol file kdap would load for each, and notes for stderr. */
export async function modulesWithFiles(target: Target, vmlinux: string, modulePaths: readonly string[]): Promise<{ modules: ModuleInfo[]; notes: string[] }> {
  const notes: string[] = [];
  const found = await listModules(target);
  const release = await bestEffort(kernelRelease(target), 'reading the kernel release');
  const files = new ModuleFiles({ modulePaths, release, vmlinux, cacheDir: defaultModuleCacheDir() });
  const modules: ModuleInfo[] = [];
  for (const m of found) {
    const file = await files.find({ name: m.name, buildId: m.buildId, srcversion: m.srcversion, sections: m.sections });
    if (!file) notes.push(`${m.name}: no symbol file found`);
    for (const w of file?.warnings ?? []) notes.push(`${m.name}: ${w}`);
    modules.push(moduleInfo(m, file?.path ?? null));
  }
  return { modules, notes };
}

export function printModules(modules: readonly ModuleInfo[], notes: readonly string[], json: boolean, who: string): void {
  process.stdout.write((json ? JSON.stringify(modules, null, 2) : moduleTable(modules)) + '\n');
  for (const n of notes) process.stderr.write(`${who}: ${n}\n`);
}

register('modules', {
  summary: 'loaded modules, their sections and symbol files in a live kernel',
  help,
  run: async (argv) => {
    const args = parseArgs(argv, ['remote', 'vmlinux', 'gdb', 'module-path']);
    for (const flag of args.flags) if (flag !== 'json') throw new UsageError(`unknown option --${flag}\n${usage}`);
    if (args.positional.length > 0) throw new UsageError(usage);
    const options = attachOptions(args, usage);
    const { modules, notes } = await withKernel(options, (views) => modulesWithFiles(views.target, options.vmlinux, args.options.get('module-path') ?? []));
    printModules(modules, notes, args.flags.has('json'), 'kdap modules');
    return 0;
  },
});
