/** Typed failures of the gdb layer. Each carries the stack of the caller that sent the command. */

export class GdbError extends Error {
  constructor(readonly command: string, message: string, readonly code?: string) {
    super(message);
    this.name = 'GdbError';
  }
}

/** gdb exited (or its pipe closed) while the command was pending. */
export class GdbExited extends Error {
  constructor(readonly command: string | undefined, readonly exitCode: number | null, readonly signal: string | null, readonly stderrTail: string) {
    super(
      `gdb exited (${signal ?? `code ${exitCode}`})` +
        (command ? ` while running '${command}'` : '') +
        (stderrTail ? `: ${stderrTail.trim().split('\n').slice(-3).join(' | ')}` : ''),
    );
    this.name = 'GdbExited';
  }
}

export class GdbTimeout extends Error {
  constructor(readonly command: string, readonly ms: number) {
    super(`gdb did not answer '${command}' within ${(ms / 1000).toFixed(1)} s`);
    this.name = 'GdbTimeout';
  }
}

/** No usable gdb binary was found; the message names what to install. */
export class GdbNotFound extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GdbNotFound';
  }
}
