/** The table of subcommands; each command file calls register() when imported. */
export interface Command {
  /** One line for `kdap --help`. */
  summary: string;
  /** The whole of `kdap <name> --help`: usage lines, what it does, every option. */
  help: string;
  run: (argv: string[]) => Promise<number>;
}

export const commands = new Map<string, Command>();

export function register(name: string, command: Command): void {
  commands.set(name, command);
}
