/** A small argv parser: `--flag`, `--key value`, `--key=value`, repeated keys collect. */
export interface ParsedArgs {
  positional: string[];
  flags: Set<string>;
  options: Map<string, string[]>;
}

export function parseArgs(argv: readonly string[], valued: readonly string[]): ParsedArgs {
  const parsed: ParsedArgs = { positional: [], flags: new Set(), options: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      parsed.positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      parsed.positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const key = arg.slice(2, eq < 0 ? undefined : eq);
    if (!valued.includes(key)) {
      if (eq >= 0) throw new UsageError(`--${key} takes no value`);
      parsed.flags.add(key);
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else value = argv[++i];
    if (value === undefined) throw new UsageError(`--${key} needs a value`);
    const list = parsed.options.get(key) ?? [];
    list.push(value);
    parsed.options.set(key, list);
  }
  return parsed;
}

export function option(args: ParsedArgs, key: string): string | undefined {
  const list = args.options.get(key);
  return list ? list[list.length - 1] : undefined;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** `--help` or `-h` among the arguments (not after `--`, where it is an operand). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}
