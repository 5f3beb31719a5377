/**
 * `kdap oops decode --vmlinux V [--module-path DIR]... [--source-root DIR] [--json] FILE`:
 * the log with every frame resolved to its source line (decode_stacktrace.sh style, plus inline
 * chains) and every `Code:` line disassembled; or, with --json, the `oops parse` reports with
 * `locations` on each frame and register.
 */
import * as fs from 'node:fs/promises';
import { option, parseArgs, UsageError } from './args';
import { commands, register } from './registry';
import { parseLog } from '../oops/parse';
import { decodedJson, decodedText, decodeLog } from '../oops/symbolize/decode';
import { KernelSymbolizer } from '../oops/symbolize/resolver';

const usage =
  'usage: kdap oops decode --vmlinux VMLINUX [--module-path DIR]... [--source-root DIR] [--toolchain-prefix PREFIX] [--llvm-path DIR] [--json] FILE\n' +
  '       (FILE "-" reads stdin)';

/** Both subcommands; `oops parse` and `oops decode` are one command with one help. */
const help = `usage: kdap oops parse [--json] FILE...
       kdap oops decode --vmlinux VMLINUX [--module-path DIR]... [--source-root DIR]
                        [--toolchain-prefix PREFIX] [--llvm-path DIR] [--json] FILE

Crash reports (Oops, BUG, WARNING, panic, KASAN, …) in kernel logs. FILE "-" reads stdin.

  parse                      each report, its registers and frames
  decode                     the log with every frame resolved to its source line (inline chains
                             included) and every Code: line disassembled
  --json                     the reports as JSON, addresses as "0x…" strings; after decode, with
                             the source locations of each frame and register
  --vmlinux VMLINUX          the vmlinux (with DWARF) of the kernel that wrote the log
  --module-path DIR          a folder searched (recursively) for module .ko files; may be repeated
  --source-root DIR          the kernel source tree that relative DWARF paths are resolved in
  --toolchain-prefix PREFIX  cross binutils prefix, e.g. aarch64-linux-gnu- (default: by the
                             log's architecture)
  --llvm-path DIR            the folder holding llvm-symbolizer and llvm-mc (default: PATH)`;

const VALUED = ['vmlinux', 'module-path', 'source-root', 'toolchain-prefix', 'llvm-path'];

async function readInput(file: string): Promise<string> {
  if (file !== '-') return fs.readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function decodeCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, VALUED);
  for (const flag of args.flags) if (flag !== 'json') throw new UsageError(`unknown option --${flag}\n${usage}`);
  if (args.positional.length !== 1) throw new UsageError(usage);
  const vmlinux = option(args, 'vmlinux');
  if (!vmlinux) throw new UsageError(`--vmlinux is required\n${usage}`);
  const file = args.positional[0];
  const text = await readInput(file);
  const tools = { toolchainPrefix: option(args, 'toolchain-prefix'), llvmPath: option(args, 'llvm-path') };
  const symbolizer = new KernelSymbolizer({
    vmlinux,
    modulePaths: args.options.get('module-path') ?? [],
    sourceRoot: option(args, 'source-root'),
    ...tools,
    // One decode, then exit: no reason to keep the helpers between lookups.
    idleMs: 0,
  });
  try {
    const decoded = await decodeLog(parseLog(text), symbolizer, tools);
    const out = args.flags.has('json') ? JSON.stringify(decodedJson(decoded, file), null, 2) + '\n' : decodedText(text, decoded);
    await new Promise<void>((resolve, reject) => process.stdout.write(out, (err) => (err ? reject(err) : resolve())));
    for (const p of [...symbolizer.problems(), ...decoded.errors]) process.stderr.write(`kdap oops decode: ${p}\n`);
  } finally {
    await symbolizer.close();
  }
  return 0;
}

// `oops` is registered by ./oops (parse); decode joins it as a second subcommand. This file is
// imported after ./oops in ./commands, so the parse command is there to wrap.
const parse = commands.get('oops');
register('oops', {
  summary: 'crash logs: `oops parse` lists reports and frames, `oops decode` gives source lines',
  help,
  run: async (argv) => {
    if (argv[0] === 'decode') return decodeCommand(argv.slice(1));
    if (parse) return parse.run(argv);
    throw new UsageError(usage);
  },
});
