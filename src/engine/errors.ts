/** Errors of the engine: the ones meant for the user, and the ones it chooses to swallow. */
import { channel } from 'node:diagnostics_channel';

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

/** One error swallowed on purpose: where, and what it said. */
export interface Swallowed {
  where: string;
  error: string;
}

/**
 * Every error kdap swallows is published here, so nothing fails unseen: the DAP session
 * prints them with `trace: true`. A subscriber is told synchronously; without one this costs
 * a property read.
 */
export const swallowedErrors = channel('kdap.swallowed');

/** Records `err`, which the caller goes on without: best-effort work whose failure changes nothing. */
export function ignore(err: unknown, where: string): void {
  if (swallowedErrors.hasSubscribers) swallowedErrors.publish({ where, error: errorText(err) } satisfies Swallowed);
}

/** `promise`, or `fallback` (recorded with `what`) when it fails. */
export function bestEffort<T>(promise: Promise<T>, what: string): Promise<T | undefined>;
export function bestEffort<T, F>(promise: Promise<T>, what: string, fallback: F): Promise<T | F>;
export function bestEffort<T, F>(promise: Promise<T>, what: string, fallback?: F): Promise<T | F | undefined> {
  return promise.catch((err: unknown) => {
    ignore(err, what);
    return fallback;
  });
}
