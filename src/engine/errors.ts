/** An error meant for the user: shown as-is, without a stack. Handlers throw it; one wrapper replies. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
