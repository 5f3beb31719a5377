/**
 * `kdap`: the engine without VS Code, for scripts, CI and other editors.
 * Each subcommand lives in its own file and exports `run(argv): Promise<number>`.
 */
import { UsageError, wantsHelp } from './args';
import { commands } from './registry';
// Subcommands register themselves on import.
import './commands';

/** package.json's version, put in by the bundler (scripts/build.mjs). */
declare const KDAP_VERSION: string;

function usage(): string {
  const lines = [...commands].map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`);
  return [
    'usage: kdap <command> [options]',
    '       kdap <command> --help',
    '       kdap --version',
    '',
    'Linux kernel debugging from the command line: the engine of the kdap VS Code extension.',
    '',
    'commands:',
    ...lines,
    '',
    'cpus, walk, modules, dmesg, ps and bt attach to a running gdbstub (--remote, default localhost:1234,',
    "QEMU's -s), halt the kernel, answer, and let it run again. Addresses in --json output are",
    '"0x…" strings.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name) {
    process.stderr.write(usage() + '\n');
    return 2;
  }
  if (name === '--help' || name === '-h') {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`kdap ${KDAP_VERSION}\n`);
    return 0;
  }
  if (name === 'help') {
    const about = rest[0] === undefined ? undefined : commands.get(rest[0]);
    if (rest[0] !== undefined && !about) throw new UsageError(`unknown command '${rest[0]}'\n${usage()}`);
    process.stdout.write((about ? about.help : usage()) + '\n');
    return 0;
  }
  const command = commands.get(name);
  if (!command) throw new UsageError(`unknown command '${name}'\n${usage()}`);
  if (wantsHelp(rest)) {
    process.stdout.write(command.help + '\n');
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${err.message}\n(kdap ${name} --help for every option)`);
    throw err;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      process.stderr.write(`kdap: ${message}\n`);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    },
  );
}
