/** The table of subcommands; each command file calls register() when imported. */
export interface Command {
  summary: string;
  run: (argv: string[]) => Promise<number>;
}

export const commands = new Map<string, Command>();

export function register(name: string, command: Command): void {
  commands.set(name, command);
}
