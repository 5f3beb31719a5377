/**
 * `kdap`: the engine without VS Code, for scripts, CI and other editors.
 * Each subcommand lives in its own file and exports `run(argv): Promise<number>`.
 */
import { UsageError } from './args';
import { commands } from './registry';
// Subcommands register themselves on import.
import './commands';

function usage(): string {
  const lines = [...commands].map(([name, c]) => `  kdap ${name.padEnd(14)} ${c.summary}`);
  return ['usage:', ...lines, '', 'Addresses in --json output are "0x…" strings.'].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  if (name === '--version') {
    process.stdout.write('kdap 0.1.0\n');
    return 0;
  }
  const command = commands.get(name);
  if (!command) {
    process.stderr.write(`kdap: unknown command '${name}'\n${usage()}\n`);
    return 2;
  }
  return command.run(rest);
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
